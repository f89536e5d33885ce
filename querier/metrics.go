package querier

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/consumer"
)

type metrics struct {
	lag      *consumer.Lag
	requests *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lag: consumer.NewLag(reg, "querier_live_tail"),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spanlog_querier_request_duration_seconds",
			Help:    "Time to answer a query, by route and status code.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"route", "status"}),
	}
	reg.MustRegister(m.requests)
	return m
}
