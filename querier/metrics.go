package querier

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	// requests observes the requests of the query API (ObserveRequest)
	// and of the peer routes, by route and status.
	requests *prometheus.HistogramVec
	// storagePartial counts the waits on object storage and the block
	// reads that a query gave up on, answering PARTIAL instead.
	storagePartial prometheus.Counter
	// filterScans counts the blocks searches scanned for the spans that
	// pass a query's span filter (see partsPlan).
	filterScans prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spanlog_querier_request_duration_seconds",
			Help:    "Time to answer a query, by route and status code.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"route", "status"}),
		storagePartial: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_querier_storage_partial_total",
			Help: "Waits on object storage (querier.storage-timeout) and block reads that queries gave up on, answering PARTIAL.",
		}),
		filterScans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_querier_search_filter_scans_total",
			Help: "Blocks that searches scanned for the spans passing a query's span filter; a search with a limit scans none while the traces it reads whole match often enough.",
		}),
	}
	reg.MustRegister(m.requests, m.storagePartial, m.filterScans)
	return m
}
