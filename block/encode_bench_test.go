package block_test

import (
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/cputime"
	"github.com/spanlog/spanlog/internal/loadgen/workload"
	"github.com/spanlog/spanlog/schema"
)

// BenchmarkEncodeRows measures the Parquet encoding of a block alone: rows
// decoded, deduplicated and sorted beforehand are written as one block's
// file, as the builder and Compact write them. It reports the time and
// the CPU time (all threads, the garbage collector's included) per span,
// and the file's bytes per span. The rows are of two shapes: the load
// generator's (10 spans per trace, 10 attributes per span, 5 resource
// attributes) and genTraces' (5 to 20 spans per trace, 11 span and 8
// resource attributes); each at every compression level.
func BenchmarkEncodeRows(b *testing.B) {
	for _, shape := range []struct {
		name string
		rows func(testing.TB) []schema.SpanRow
	}{
		{"loadgen", func(tb testing.TB) []schema.SpanRow { return loadgenRows(tb, 100_000) }},
		{"genTraces", func(tb testing.TB) []schema.SpanRow {
			var tds []ptrace.Traces
			rng := rand.New(rand.NewPCG(4, 4))
			for range 2000 {
				tds = append(tds, genTraces(rng, 2))
			}
			return decodeRows(tb, tds)
		}},
	} {
		b.Run(shape.name, func(b *testing.B) {
			rows := schema.DedupeRows(shape.rows(b))
			slices.SortFunc(rows, func(x, y schema.SpanRow) int { return schema.CompareRows(&x, &y) })
			for _, level := range []string{block.CompressionDefault, block.CompressionFastest, block.CompressionFastestRawLiterals, block.CompressionBetter} {
				b.Run("level="+level, func(b *testing.B) {
					opts := block.DefaultOptions()
					opts.CompressionLevel = level
					benchmarkEncodeRows(b, rows, opts)
				})
			}
		})
	}
}

func benchmarkEncodeRows(b *testing.B, rows []schema.SpanRow, opts block.Options) {
	var size int64
	var cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		cpu0 := cputime.Of(b)
		n, err := block.EncodeRows(io.Discard, opts, rows)
		cpu += cputime.Of(b) - cpu0
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/span")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(rows)), "cpu-ns/span")
	b.ReportMetric(float64(size)/float64(len(rows)), "B/span")
}

// loadgenRows returns the rows of about spans spans of the load
// generator's default shape, as a block-builder decodes them.
func loadgenRows(tb testing.TB, spans int) []schema.SpanRow {
	tb.Helper()
	return decodeRows(tb, workload.Requests(tb, spans))
}

// decodeRows returns the rows of tds as a block-builder decodes them from
// the records of tds, one record each.
func decodeRows(tb testing.TB, tds []ptrace.Traces) []schema.SpanRow {
	tb.Helper()
	var dec schema.RowDecoder
	var rows []schema.SpanRow
	for _, td := range tds {
		v, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			tb.Fatal(err)
		}
		if rows, err = dec.Append(rows, v); err != nil {
			tb.Fatal(err)
		}
	}
	return rows
}
