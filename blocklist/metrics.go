package blocklist

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	pollDuration  prometheus.Histogram
	pollFailures  prometheus.Counter
	tenantsPolled *prometheus.CounterVec
	blocks        *prometheus.GaugeVec
	indexAge      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_blocklist_poll_duration_seconds",
			Help:    "Time to poll object storage for the blocks of every tenant.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		pollFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_blocklist_poll_failures_total",
			Help: "Polls that failed; the previous blocklist stays in use.",
		}),
		tenantsPolled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_blocklist_tenants_polled_total",
			Help: "Tenants polled, by source: their index (one read) or a listing.",
		}, []string{"source"}),
		blocks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_blocklist_blocks",
			Help: "Blocks known per tenant.",
		}, []string{"tenant"}),
		indexAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_blocklist_index_age_seconds",
			Help: "Age of the tenant index at the last poll that read it.",
		}, []string{"tenant"}),
	}
	reg.MustRegister(m.pollDuration, m.pollFailures, m.tenantsPolled, m.blocks, m.indexAge)
	return m
}
