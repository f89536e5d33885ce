package objstore

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the operation label: one per Bucket method, read_at for each
// ranged read of an opened object, and the listing and each abort of
// RemoveAbandonedUploads.
const (
	opUpload      = "upload"
	opGet         = "get"
	opOpen        = "open"
	opReadAt      = "read_at"
	opList        = "list"
	opDelete      = "delete"
	opAttributes  = "attributes"
	opListUploads = "list_uploads"
	opAbortUpload = "abort_upload"
)

// Values of the status label of a call's duration.
const (
	statusOK       = "ok"
	statusNotFound = "not_found"
	statusError    = "error"
)

type metrics struct {
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spanlog_objstore_request_duration_seconds",
			Help:    "Duration of object store calls, retries and waits between them included; for get, until the body starts.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"operation", "status"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_objstore_request_failures_total",
			Help: "Failed attempts of object store calls, whether retried or not; a missing object is not a failure.",
		}, []string{"operation"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_objstore_retries_total",
			Help: "Attempts of object store calls that repeat a failed one.",
		}, []string{"operation"}),
	}
	// Zero series from the start make a rate() of the first failure work.
	for _, op := range []string{opUpload, opGet, opOpen, opReadAt, opList, opDelete, opAttributes, opListUploads, opAbortUpload} {
		m.failures.WithLabelValues(op)
		m.retries.WithLabelValues(op)
	}
	for _, c := range []prometheus.Collector{m.duration, m.failures, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register object store metrics: %w", err)
		}
	}
	return m, nil
}
