package live

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/tracelog"
)

type metrics struct {
	lag *tracelog.Lag
	// skipped counts the records the live tail consumed past without
	// keeping them, as the block-builder does.
	skipped *tracelog.Skipped
	// peerRequests counts requests for other queriers' live tails, by
	// outcome.
	peerRequests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, logger *slog.Logger) *metrics {
	m := &metrics{
		lag:     tracelog.NewLag(reg, "querier_live_tail"),
		skipped: tracelog.NewSkipped(reg, "querier_live", logger),
		peerRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_querier_peer_requests_total",
			Help: "Requests for another querier's live tail, by outcome (ok, not_owner, too_large, error).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.peerRequests)
	return m
}

// register adds the gauges of the own tail, which hold nothing until Run
// started it.
func (m *metrics) register(reg prometheus.Registerer, tail func() *Tail, maxBytes int64) {
	live := func(f func(*Tail) float64) func() float64 {
		return func() float64 {
			if t := tail(); t != nil {
				return f(t)
			}
			return 0
		}
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "spanlog_querier_live_records",
		Help: "Records held by the live tail (not yet covered by known blocks).",
	}, live(func(l *Tail) float64 { n, _ := l.Size(); return float64(n) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spanlog_querier_live_partitions",
			Help: "Partitions whose live tail this querier consumes, as the querier group assigned them.",
		}, live(func(l *Tail) float64 { return float64(len(l.Owned())) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spanlog_querier_live_bytes",
			Help: "Bytes the live tail holds: its records and what holding them costs; at most spanlog_querier_live_max_bytes.",
		}, live(func(l *Tail) float64 { _, n := l.Size(); return float64(n) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spanlog_querier_live_max_bytes",
			Help: "The live tail's bound (querier.live-tail-max-bytes).",
		}, func() float64 { return float64(maxBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "spanlog_querier_live_evicted_records_total",
			Help: "Records the live tail evicted, oldest first, to stay within querier.live-tail-max-bytes.",
		}, live(func(l *Tail) float64 { n, _, _ := l.Evictions(); return float64(n) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "spanlog_querier_live_evicted_bytes_total",
			Help: "Bytes of the records the live tail evicted to stay within querier.live-tail-max-bytes.",
		}, live(func(l *Tail) float64 { _, n, _ := l.Evictions(); return float64(n) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "spanlog_querier_live_records_decoded_total",
			Help: "Live-tail records decoded to answer queries: every record for a tags request, only those holding the trace for a lookup by ID, and for a search only those whose index cannot judge its filter.",
		}, live(func(l *Tail) float64 { return float64(l.Decoded()) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spanlog_querier_live_gaps",
			Help: "Tenants' partitions whose evicted live-tail records no known block holds yet: answers reading them are PARTIAL.",
		}, live(func(l *Tail) float64 { _, _, n := l.Evictions(); return float64(n) })))
}
