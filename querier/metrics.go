package querier

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/consumer"
)

type metrics struct {
	lag          *consumer.Lag
	pollDuration prometheus.Histogram
	pollFailures prometheus.Counter
	blocks       *prometheus.GaugeVec
	requests     *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lag: consumer.NewLag(reg, "querier_live_tail"),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_blocklist_poll_duration_seconds",
			Help:    "Time to poll object storage for the blocklist.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		pollFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_blocklist_poll_failures_total",
			Help: "Blocklist polls that failed.",
		}),
		blocks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_blocklist_blocks",
			Help: "Blocks known per tenant.",
		}, []string{"tenant"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spanlog_querier_request_duration_seconds",
			Help:    "Time to answer a query, by route and status code.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"route", "status"}),
	}
	reg.MustRegister(m.pollDuration, m.pollFailures, m.blocks, m.requests)
	return m
}
