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
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// BenchmarkWriteBlock writes one tenant block of the load generator's
// records, 100,000 spans (44 MB of records, a partition's 15s cycle at
// 53,000 spans/s), decoded whole and in parts of several sizes. It
// reports the spans written per second (decode, sort, encode, write to a
// local directory) and the peak of the live heap above what was live
// before, in all and per byte of the block's records. The load
// generator's records hold 2 or 3 traces each; "of-100-traces" writes the
// same spans in records of about 100 traces, as a collector's batches
// make them, each of which holds spans of every part.
func BenchmarkWriteBlock(b *testing.B) {
	const spans = 100_000
	generated := loadgenRecords(b, spans)
	for _, shape := range []struct {
		name  string
		merge int // records of the load generator per record
	}{{"", 1}, {"of-100-traces/", 40}} {
		var scratch []byte
		var records []*record
		var logBytes int64
		for i := 0; i < len(generated); i += shape.merge {
			r := *generated[i]
			for _, next := range generated[i+1 : min(i+shape.merge, len(generated))] {
				// Protobuf messages concatenated are one message
				// holding the resource spans of both.
				r.Value = append(r.Value[:len(r.Value):len(r.Value)], next.Value...)
			}
			var h *record
			h, scratch = hold(&r, schema.RecordTenancy{Default: "default"}, scratch)
			records = append(records, h)
			logBytes += h.size
		}
		for _, partBytes := range []int64{1 << 40, 16 << 20, 8 << 20, 4 << 20, 2 << 20} {
			name := fmt.Sprintf("%sparts-of-%dMiB", shape.name, partBytes>>20)
			if partBytes == 1<<40 {
				name = shape.name + "whole"
			}
			b.Run(name, func(b *testing.B) { benchmarkWriteBlock(b, records, logBytes, spans, partBytes) })
		}
	}
}

func benchmarkWriteBlock(b *testing.B, records []*record, logBytes int64, spans int, partBytes int64) {
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
	// A tighter GC makes the live heap it reports follow the peak
	// closely.
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
}
