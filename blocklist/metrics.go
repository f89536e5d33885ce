package blocklist

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	pollDuration   prometheus.Histogram
	pollFailures   prometheus.Counter
	tenantsPolled  *prometheus.CounterVec
	tenantFailures *prometheus.CounterVec
	blocks         *prometheus.GaugeVec
	unreadable     *prometheus.GaugeVec
	indexAge       *prometheus.GaugeVec
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
			Help: "Polls that could not list the tenants; the previous blocklist stays in use.",
		}),
		tenantsPolled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_blocklist_tenants_polled_total",
			Help: "Tenants polled, by source: their index (one read) or a listing.",
		}, []string{"source"}),
		tenantFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_blocklist_tenant_poll_failures_total",
			Help: "Polls of a tenant that failed; the tenant keeps the blocks of its poll before, and the next poll tries again.",
		}, []string{"tenant"}),
		blocks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_blocklist_blocks",
			Help: "Blocks known per tenant.",
		}, []string{"tenant"}),
		unreadable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_blocklist_unreadable_blocks",
			Help: "Blocks the last listing of a tenant skipped because their meta.json cannot be used (garbage, cut short, a newer format); their spans are not served.",
		}, []string{"tenant"}),
		indexAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_blocklist_index_age_seconds",
			Help: "Age of the tenant index at the last poll that read it.",
		}, []string{"tenant"}),
	}
	reg.MustRegister(m.pollDuration, m.pollFailures, m.tenantsPolled, m.tenantFailures, m.blocks, m.unreadable, m.indexAge)
	return m
}

// forget drops the series of a tenant no longer in the bucket.
func (m *metrics) forget(tenant string) {
	m.tenantFailures.DeleteLabelValues(tenant)
	m.blocks.DeleteLabelValues(tenant)
	m.unreadable.DeleteLabelValues(tenant)
	m.indexAge.DeleteLabelValues(tenant)
}
