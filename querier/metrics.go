package querier

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.HistogramVec
	// batchTraces counts the IDs batch requests asked for, by whether a
	// trace was found.
	batchTraces *prometheus.CounterVec
	// storagePartial counts the waits on object storage and the block
	// reads that a query gave up on, answering PARTIAL instead.
	storagePartial prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spanlog_querier_request_duration_seconds",
			Help:    "Time to answer a query, by route and status code.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"route", "status"}),
		batchTraces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_querier_batch_traces_total",
			Help: "Trace IDs looked up by batch requests that ran to the end, by result (found, not_found).",
		}, []string{"result"}),
		storagePartial: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_querier_storage_partial_total",
			Help: "Waits on object storage (querier.storage-timeout) and block reads that queries gave up on, answering PARTIAL.",
		}),
	}
	reg.MustRegister(m.requests, m.batchTraces, m.storagePartial)
	return m
}
