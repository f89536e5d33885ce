package blockbuilder

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/tracelog"
)

// BenchmarkWriteBlock writes one tenant block of the load generator's
// records, 100,000 spans (44 MB of records, a partition's 15s cycle at
// 53,000 spans/s), decoded whole and in parts of several sizes. It
// reports the spans written per second (decode, sort, encode, write to a
// local directory) and the peak of the live heap above what was live
// before, in all and per byte of the block's records.
func BenchmarkWriteBlock(b *testing.B) {
	const spans = 100_000
	var scratch []byte
	var records []*record
	var logBytes int64
	for _, r := range loadgenRecords(b, spans) {
		var h *record
		h, scratch = hold(r, "default", scratch)
		records = append(records, h)
		logBytes += h.size
	}
	for _, partBytes := range []int64{1 << 40, 16 << 20, 8 << 20, 4 << 20, 2 << 20} {
		name := fmt.Sprintf("parts-of-%dMiB", partBytes>>20)
		if partBytes == 1<<40 {
			name = "whole"
		}
		b.Run(name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.MaxPartBytes = partBytes
			dir, err := objstore.NewDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			bl, err := New(cfg, tracelog.DefaultConfig(), "default", dir, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			// A tighter GC makes the live heap it reports follow the
			// peak closely.
			defer debug.SetGCPercent(debug.SetGCPercent(25))
			var peak uint64
			for b.Loop() {
				runtime.GC()
				before := liveHeap()
				stop := sampleLiveHeap()
				tb := &tenantBlock{
					cut:     &cutBlock{pending: &pending{start: 0, next: int64(len(records))}},
					tenant:  "t1",
					records: append([]*record(nil), records...),
				}
				if !bl.write(context.Background(), nil, &decoder{}, tb) {
					b.Fatal("the block was not written")
				}
				peak = max(peak, stop()-before)
			}
			b.ReportMetric(float64(spans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
			b.ReportMetric(float64(peak)/float64(logBytes), "peak-B/log-B")
		})
	}
}
