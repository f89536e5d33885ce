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

	"github.com/spanlog/spanlog/internal/cputime"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// benchSpans is the spans of the tenant block the benchmarks build: a
// partition's 15s cycle at 53,000 spans/s, 44 MB of the load generator's
// records.
const benchSpans = 100_000

// recordShapes are the records of a tenant block the benchmarks build.
// The load generator's records hold 2 or 3 traces each; "of-100-traces"
// holds the same spans in records of about 100 traces, as a collector's
// batches make them, each of which holds spans of every part.
var recordShapes = []struct {
	name  string
	merge int // records of the load generator per record
}{{"", 1}, {"of-100-traces/", 40}}

// heldRecords returns the load generator's records of benchSpans spans,
// merge of them per record, held as the builder holds them, and their
// bytes in the log.
func heldRecords(b *testing.B, merge int) ([]*record, int64) {
	generated := loadgenRecords(b, benchSpans)
	var scratch []byte
	var records []*record
	var logBytes int64
	for i := 0; i < len(generated); i += merge {
		r := *generated[i]
		for _, next := range generated[i+1 : min(i+merge, len(generated))] {
			// Protobuf messages concatenated are one message holding
			// the resource spans of both.
			r.Value = append(r.Value[:len(r.Value):len(r.Value)], next.Value...)
		}
		var h *record
		h, scratch = hold(&r, schema.RecordTenancy{Default: "default"}, nil, scratch)
		records = append(records, h)
		logBytes += h.size
	}
	return records, logBytes
}

// BenchmarkWriteBlock writes one tenant block of the load generator's
// records decoded whole and in parts of several sizes. It reports the
// spans written per second (decode, sort, encode, write to a local
// directory) and the peak of the live heap above what was live before, in
// all and per byte of the block's records.
func BenchmarkWriteBlock(b *testing.B) {
	for _, shape := range recordShapes {
		records, logBytes := heldRecords(b, shape.merge)
		for _, partBytes := range []int64{1 << 40, 16 << 20, 8 << 20, 4 << 20, 2 << 20} {
			name := fmt.Sprintf("%sparts-of-%dMiB", shape.name, partBytes>>20)
			if partBytes == 1<<40 {
				name = shape.name + "whole"
			}
			b.Run(name, func(b *testing.B) { benchmarkWriteBlock(b, records, logBytes, partBytes) })
		}
	}
}

func benchmarkWriteBlock(b *testing.B, records []*record, logBytes int64, partBytes int64) {
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
	b.ReportMetric(float64(benchSpans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
	b.ReportMetric(float64(peak)/float64(logBytes), "peak-B/log-B")
}

// BenchmarkBuildBlock builds one tenant block of the load generator's
// records, 100,000 spans, decoded whole and in parts of 4 MiB, as a flush
// slot does before the upload: for parts, the plan (a scan of every
// record), then each part's spans decoded, sorted and encoded into the
// block's file. It reports the CPU time per span of the process, the
// collector's included, which other work on a shared machine disturbs
// less than the time per operation.
func BenchmarkBuildBlock(b *testing.B) {
	for _, shape := range recordShapes {
		records, _ := heldRecords(b, shape.merge)
		for _, partBytes := range []int64{1 << 40, 4 << 20} {
			name := fmt.Sprintf("%sparts-of-%dMiB", shape.name, partBytes>>20)
			if partBytes == 1<<40 {
				name = shape.name + "whole"
			}
			b.Run(name, func(b *testing.B) { benchmarkBuildBlock(b, records, partBytes) })
		}
	}
}

// benchBuilder returns a builder that decodes in parts of partBytes.
func benchBuilder(b *testing.B, partBytes int64) *Builder {
	cfg := DefaultConfig()
	cfg.MaxPartBytes = partBytes
	bl, err := New(cfg, tracelog.DefaultConfig(), "default", nil, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	return bl
}

func benchmarkBuildBlock(b *testing.B, records []*record, partBytes int64) {
	bl := benchBuilder(b, partBytes)
	d := &decoder{}
	cpu := cputime.Of(b)
	for b.Loop() {
		tb := &tenantBlock{tenant: "t1", records: append([]*record(nil), records...)}
		bb, ok := bl.build(context.Background(), nil, d, tb)
		if !ok || len(tb.records) != len(records) {
			b.Fatalf("built: %v, with %d records of %d", ok, len(tb.records), len(records))
		}
		if err := bb.EndPart(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cputime.Of(b)-cpu).Microseconds())/float64(b.N)/benchSpans, "cpu-µs/span")
}

// BenchmarkPlanParts plans one tenant block of the load generator's
// records in parts of 4 MiB, as BenchmarkBuildBlock does before decoding
// them: every record decompressed and scanned, the spans' trace IDs
// sorted and cut into ranges. It reports the CPU time per span of the
// process.
func BenchmarkPlanParts(b *testing.B) {
	for _, shape := range recordShapes {
		records, _ := heldRecords(b, shape.merge)
		b.Run(shape.name+"parts-of-4MiB", func(b *testing.B) {
			bl := benchBuilder(b, 4<<20)
			d := &decoder{}
			cpu := cputime.Of(b)
			for b.Loop() {
				tb := &tenantBlock{tenant: "t1", records: append([]*record(nil), records...)}
				if parts := bl.planParts(d, tb, map[*record]bool{}); len(parts) < 2 || len(tb.records) != len(records) {
					b.Fatalf("%d parts of %d records of %d", len(parts), len(tb.records), len(records))
				}
			}
			b.ReportMetric(float64((cputime.Of(b)-cpu).Microseconds())/float64(b.N)/benchSpans, "cpu-µs/span")
		})
	}
}
