package querier

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/tracelog"
)

type metrics struct {
	lag *tracelog.Lag
	// skipped counts the records the live tail consumed past without
	// keeping them, as the block-builder does.
	skipped  *tracelog.Skipped
	requests *prometheus.HistogramVec
	// batchTraces counts the IDs batch requests asked for, by whether a
	// trace was found.
	batchTraces *prometheus.CounterVec
	// peerRequests counts requests for other queriers' live tails, by
	// outcome.
	peerRequests *prometheus.CounterVec
	// storagePartial counts the waits on object storage and the block
	// reads that a query gave up on, answering PARTIAL instead.
	storagePartial prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, logger *slog.Logger) *metrics {
	m := &metrics{
		lag:     tracelog.NewLag(reg, "querier_live_tail"),
		skipped: tracelog.NewSkipped(reg, "querier_live", logger),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spanlog_querier_request_duration_seconds",
			Help:    "Time to answer a query, by route and status code.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"route", "status"}),
		batchTraces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_querier_batch_traces_total",
			Help: "Trace IDs looked up by batch requests that ran to the end, by result (found, not_found).",
		}, []string{"result"}),
		peerRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_querier_peer_requests_total",
			Help: "Requests for another querier's live tail, by outcome (ok, not_owner, too_large, error).",
		}, []string{"outcome"}),
		storagePartial: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_querier_storage_partial_total",
			Help: "Waits on object storage (querier.storage-timeout) and block reads that queries gave up on, answering PARTIAL.",
		}),
	}
	reg.MustRegister(m.requests, m.batchTraces, m.peerRequests, m.storagePartial)
	return m
}
