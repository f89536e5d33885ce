package loadgen

import (
	"testing"
	"time"
)

// BenchmarkBatch shows what building spans costs the generator, so that a
// throughput figure can be told apart from the generator's own limit.
func BenchmarkBatch(b *testing.B) {
	cfg := DefaultConfig()
	tb := newTraceBuilder(cfg, newServices(cfg.Services), 1, 0)
	end := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		tb.batch(cfg.BatchTraces, end)
	}
	b.ReportMetric(float64(b.N*cfg.BatchTraces*cfg.SpansPerTrace)/b.Elapsed().Seconds(), "spans/s")
}
