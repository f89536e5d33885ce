package generator

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
)

// benchApply applies records of 100 of rows to a partition b.N times over
// and reports spans a second.
func benchApply(b *testing.B, cfg Config, rows []schema.SpanRow) {
	d, _ := testDeriver(&testing.T{}, cfg, 0)
	p := newPartitionState(0, 0)
	t0 := time.Unix(1_800_000_000, 0).UnixNano()
	b.ResetTimer()
	spans := 0
	for i := 0; b.Loop(); i++ {
		lo := i * 100 % len(rows)
		rec := rows[lo:min(lo+100, len(rows))]
		d.apply(p, "t1", rec, t0+int64(i)*int64(time.Millisecond), int64(i))
		spans += len(rec)
	}
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkSpanMetrics: spans/s of the span metrics alone, over spans of
// 3 services, 3 names, 6 kinds, 3 statuses and one dimension.
func BenchmarkSpanMetrics(b *testing.B) {
	cfg := DefaultConfig()
	cfg.ServiceGraph.Enabled = false
	cfg.SpanMetrics.Dimensions = []string{"deployment.environment"}
	benchApply(b, cfg, randomSpans(rand.New(rand.NewPCG(1, 2)), 10_000))
}

// BenchmarkServiceGraph: spans/s of the service graph alone, over the
// shop's traces (8 spans each: pairs, a database, a queue, virtual nodes).
func BenchmarkServiceGraph(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SpanMetrics.Enabled = false
	f := buildGraph(rand.New(rand.NewPCG(7, 8)), 2000, cfg.ServiceGraph.HistogramBuckets)
	var rows []schema.SpanRow
	for _, r := range f.records {
		rows = append(rows, r...)
	}
	benchApply(b, cfg, rows)
}

// BenchmarkBoth: spans/s of both, as a generator runs by default.
func BenchmarkBoth(b *testing.B) {
	f := buildGraph(rand.New(rand.NewPCG(7, 8)), 2000, DefaultConfig().ServiceGraph.HistogramBuckets)
	var rows []schema.SpanRow
	for _, r := range f.records {
		rows = append(rows, r...)
	}
	benchApply(b, DefaultConfig(), rows)
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerEdge reports the heap an edge takes in a partition's
// state (its entry, four series of which two histograms of 8 buckets),
// and a span waiting for its other half.
func BenchmarkMemoryPerEdge(b *testing.B) {
	const n = 20_000
	cfg := DefaultConfig()
	cfg.SpanMetrics.Enabled = false
	cfg.ServiceGraph.MaxItems = n
	for b.Loop() {
		d, _ := testDeriver(&testing.T{}, cfg, 0)
		p := newPartitionState(0, 0)
		before := heapAfterGC()
		for i := range n {
			r := schema.SpanRow{ServiceName: fmt.Sprintf("client-%d", i), Kind: 2}
			r.TraceID[0], r.TraceID[1] = byte(i), byte(i>>8)
			d.apply(p, "t1", []schema.SpanRow{r}, 1, int64(i)) // a root server span: an edge from user at once
		}
		edges := heapAfterGC() - before
		before = heapAfterGC()
		for i := range n {
			r := schema.SpanRow{ServiceName: "frontend", Kind: 3}
			r.TraceID[0], r.TraceID[1], r.SpanID[0] = byte(i), byte(i>>8), 1
			r.TraceID[2] = 0xaa
			d.apply(p, "t1", []schema.SpanRow{r}, 1, int64(n+i))
		}
		halves := heapAfterGC() - before
		if got := p.tenants["t1"].edges.len(); got != n {
			b.Fatalf("%d halves wait, want %d", got, n)
		}
		b.ReportMetric(float64(edges)/n, "B/edge")
		b.ReportMetric(float64(halves)/n, "B/waiting-span")
	}
}

// BenchmarkRecords: spans/s of what a generator does per record, both
// processors with decoding: records of 50 traces of the shop, as the
// distributor writes them, decoded with schema.RowDecoder.
func BenchmarkRecords(b *testing.B) {
	f := buildGraph(rand.New(rand.NewPCG(7, 8)), 2000, DefaultConfig().ServiceGraph.HistogramBuckets)
	var values [][]byte
	for lo := 0; lo < len(f.records); lo += 400 {
		td := ptrace.NewTraces()
		byService := make(map[string]ptrace.SpanSlice)
		for _, rec := range f.records[lo:min(lo+400, len(f.records))] {
			r := rec[0]
			spans, ok := byService[r.ServiceName]
			if !ok {
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr(schema.KeyServiceName, r.ServiceName)
				spans = rs.ScopeSpans().AppendEmpty().Spans()
				byService[r.ServiceName] = spans
			}
			s := spans.AppendEmpty()
			s.SetTraceID(r.TraceID)
			s.SetSpanID(r.SpanID)
			s.SetParentSpanID(r.ParentSpanID)
			s.SetName(r.Name)
			s.SetKind(ptrace.SpanKind(r.Kind))
			s.Status().SetCode(ptrace.StatusCode(r.StatusCode))
			s.SetStartTimestamp(pcommon.Timestamp(1e18))
			s.SetEndTimestamp(pcommon.Timestamp(1e18 + r.DurationNano))
			for _, a := range r.Attrs {
				s.Attributes().PutStr(a.Key, *a.Str)
			}
		}
		var m ptrace.ProtoMarshaler
		v, err := m.MarshalTraces(td)
		if err != nil {
			b.Fatal(err)
		}
		values = append(values, v)
	}
	d, _ := testDeriver(&testing.T{}, DefaultConfig(), 0)
	p := newPartitionState(0, 0)
	var (
		dec  schema.RowDecoder
		rows []schema.SpanRow
	)
	spans := 0
	for i := 0; b.Loop(); i++ {
		var err error
		rows, err = dec.Append(rows[:0], values[i%len(values)])
		if err != nil {
			b.Fatal(err)
		}
		d.apply(p, "t1", rows, 1e18+int64(i)*int64(time.Millisecond), int64(i))
		spans += len(rows)
	}
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
}
