package generator

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/tracelog"
)

// reasonMaxActiveSeries is why spans were kept out of the series when a
// tenant's max-active-series bit.
const reasonMaxActiveSeries = "max_active_series"

// metrics are the generator's own, on spanlog's /metrics; the series it
// derives are on ScrapePath.
type metrics struct {
	lag            *tracelog.Lag
	skipped        *tracelog.Skipped
	records        prometheus.Counter
	spans          prometheus.Counter
	spansDiscarded *prometheus.CounterVec
	activeSeries   *prometheus.GaugeVec
	partitions     prometheus.Gauge
	saves          *prometheus.CounterVec
	saveDuration   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, logger *slog.Logger) *metrics {
	m := &metrics{
		lag:     tracelog.NewLag(reg, "metrics_generator"),
		skipped: tracelog.NewSkipped(reg, "metrics_generator", logger),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_metrics_generator_records_consumed_total",
			Help: "Records read from the log.",
		}),
		spans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_metrics_generator_spans_total",
			Help: "Spans read from the log, counted again when read again after a crash or rebalance.",
		}),
		spansDiscarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_metrics_generator_spans_discarded_total",
			Help: "Spans left out of the series, by tenant and reason (max_active_series: the tenant's series reached its limit in the partition).",
		}, []string{"tenant", "reason"}),
		activeSeries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_metrics_generator_active_series",
			Help: "Series the generator holds, by tenant, over the partitions it owns.",
		}, []string{"tenant"}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spanlog_metrics_generator_partitions_owned",
			Help: "Partitions the group assigned this generator and whose state it loaded.",
		}),
		saves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_metrics_generator_state_saves_total",
			Help: "Saves of a partition's series to object storage, by result.",
		}, []string{"result"}),
		saveDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_metrics_generator_state_save_duration_seconds",
			Help:    "Time to save the changed partitions' series.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
	}
	reg.MustRegister(m.records, m.spans, m.spansDiscarded, m.activeSeries, m.partitions, m.saves, m.saveDuration)
	return m
}

// setActive sets the active series of each tenant, and forgets those of
// tenants that have none left.
func (m *metrics) setActive(byTenant map[string]int) {
	m.activeSeries.Reset()
	for t, n := range byTenant {
		m.activeSeries.WithLabelValues(t).Set(float64(n))
	}
}
