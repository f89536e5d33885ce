package block_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/loadgen"
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
			for _, level := range []string{block.CompressionDefault, block.CompressionFastest, block.CompressionBetter} {
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
		cpu0 := cpuTime()
		n, err := block.EncodeRows(io.Discard, opts, rows)
		cpu += cpuTime() - cpu0
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
// generator's default shape (seed 1, requests of 20 traces of 10 spans
// over 10 services), as a block-builder decodes them.
func loadgenRows(tb testing.TB, spans int) []schema.SpanRow {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	recv := &captureTraces{}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, recv)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	cfg := loadgen.DefaultConfig()
	cfg.Endpoint, cfg.Rate, cfg.Seed = lis.Addr().String(), 0, 1
	cfg.BatchTraces, cfg.SpansPerTrace, cfg.Services = 20, 10, 10
	cfg.Traces = int64(spans / cfg.SpansPerTrace)
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if res.FailedSpans > 0 {
		tb.Fatalf("%d spans not received", res.FailedSpans)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	return decodeRows(tb, recv.requests)
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

// captureTraces is an OTLP receiver that keeps every request.
type captureTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	mu       sync.Mutex
	requests []ptrace.Traces
}

func (c *captureTraces) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	c.mu.Lock()
	c.requests = append(c.requests, td)
	c.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}
