package generator

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/cputime"
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
// distributor writes them, read as Run reads them (recordReader).
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
	decodeAndApply(b, values, 1)
}

// decodeAndApply reads values round and round as Run reads records
// (recordReader), and derives from each record's rows, the records going
// round partitions partitions; it reports spans/s.
func decodeAndApply(b *testing.B, values [][]byte, partitions int) {
	d, _ := testDeriver(&testing.T{}, DefaultConfig(), 0)
	parts := make([]*partitionState, partitions)
	for i := range parts {
		parts[i] = newPartitionState(int32(i), 0)
	}
	records := make([]kgo.Record, len(values))
	for i, v := range values {
		records[i].Value = v
	}
	rr := newRecordReader(d)
	spans := 0
	cpu := cputime.Of(b)
	for i := 0; b.Loop(); i++ {
		tn, rows, err := rr.read(&records[i%len(records)], schema.RecordTenancy{Default: "t1"})
		if err != nil {
			b.Fatal(err)
		}
		d.apply(parts[i%len(parts)], tn, rows, 1e18+int64(i)*int64(time.Millisecond), int64(i/len(parts)))
		spans += len(rows)
	}
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(spans), "ns/span")
	// What the process spent, the garbage collector's work included, and
	// less inflated than the time taken by a busy machine's other work.
	b.ReportMetric(float64((cputime.Of(b)-cpu).Nanoseconds())/float64(spans), "cpu-ns/span")
}

// BenchmarkLoadgenRecords: spans/s of what a generator does per record,
// decoding included (recordReader, as Run reads), over
// records shaped like spanlog-loadgen's default traffic as the distributor
// writes them: 2 or 3 traces of 10 spans a record, a ResourceSpans per
// service (5 resource attributes and a schema URL), 10 attributes a span,
// errors with a status message and an exception event, a cache-miss event
// on one span in ten. The records go round the 8 partitions of the
// default topic, each with series of its own, as when one generator owns
// them all.
func BenchmarkLoadgenRecords(b *testing.B) {
	decodeAndApply(b, loadgenValues(rand.New(rand.NewPCG(3, 4)), 1000), 8)
}

// loadgenValues returns n records' values of 2 or 3 traces each, shaped as
// internal/loadgen lays traces out.
func loadgenValues(rng *rand.Rand, n int) [][]byte {
	services := []string{"frontend", "checkout", "cart", "payment", "inventory", "shipping", "auth", "search", "recommendation", "email"}
	methods := []string{"GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "POST", "POST", "POST", "POST", "PUT", "DELETE"}
	routes := []string{"/", "/api/orders", "/api/orders/{id}", "/api/cart", "/api/products/{id}", "/api/search", "/api/users/{id}/profile", "/health"}
	operations := []string{"SELECT orders", "SELECT products", "UPDATE cart", "render page", "validate request", "serialize response"}
	type node struct {
		service, callee int
		kind            ptrace.SpanKind
		answeredBy      int // the server span answering a client span, 0 while none
		id              pcommon.SpanID
	}
	var out [][]byte
	var m ptrace.ProtoMarshaler
	for range n {
		td := ptrace.NewTraces()
		byService := make(map[int]ptrace.SpanSlice)
		for range 2 + rng.IntN(2) {
			var tid pcommon.TraceID
			binary.BigEndian.PutUint64(tid[:8], rng.Uint64())
			binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
			nodes := make([]node, 0, 10)
			for i := range 10 {
				nd := node{kind: ptrace.SpanKindServer, service: rng.IntN(len(services))}
				binary.BigEndian.PutUint64(nd.id[:], rng.Uint64()|1)
				parent := -1
				if i > 0 {
					parent = rng.IntN(i)
					for nodes[parent].answeredBy != 0 {
						parent = nodes[parent].answeredBy
					}
					pn := &nodes[parent]
					switch {
					case pn.kind == ptrace.SpanKindClient:
						pn.answeredBy = i
						nd.service = pn.callee
					case rng.IntN(10) < 6:
						nd.kind, nd.service = ptrace.SpanKindClient, pn.service
						nd.callee = (pn.service + 1 + rng.IntN(len(services)-1)) % len(services)
					default:
						nd.kind, nd.service = ptrace.SpanKindInternal, pn.service
					}
				}
				nodes = append(nodes, nd)
				spans, ok := byService[nd.service]
				if !ok {
					rs := td.ResourceSpans().AppendEmpty()
					rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.43.0")
					ra := rs.Resource().Attributes()
					ra.PutStr(schema.KeyServiceName, services[nd.service])
					ra.PutStr("service.namespace", "loadgen")
					ra.PutStr("service.version", "1.0.0")
					ra.PutStr("service.instance.id", services[nd.service]+"-0")
					ra.PutStr("deployment.environment.name", "loadgen")
					ss := rs.ScopeSpans().AppendEmpty()
					ss.Scope().SetName("github.com/spanlog/spanlog/internal/loadgen")
					spans = ss.Spans()
					byService[nd.service] = spans
				}
				s := spans.AppendEmpty()
				s.SetTraceID(tid)
				s.SetSpanID(nd.id)
				if parent >= 0 {
					s.SetParentSpanID(nodes[parent].id)
				}
				s.SetKind(nd.kind)
				s.SetFlags(1)
				start := 1e18 + uint64(rng.IntN(1e9))
				s.SetStartTimestamp(pcommon.Timestamp(start))
				s.SetEndTimestamp(pcommon.Timestamp(start + uint64(rng.IntN(2e9))))
				a := s.Attributes()
				method, route, status := methods[rng.IntN(len(methods))], routes[rng.IntN(len(routes))], 200
				switch r := rng.IntN(100); {
				case r < 7:
					status = 500
				case r < 10:
					status = 404
				}
				failed := false
				switch nd.kind {
				case ptrace.SpanKindServer:
					s.SetName(method + " " + route)
					a.PutStr("http.request.method", method)
					a.PutStr("http.route", route)
					a.PutInt("http.response.status_code", int64(status))
					a.PutStr("url.path", route)
					a.PutStr("url.scheme", "http")
					a.PutStr("server.address", services[nd.service])
					a.PutInt("server.port", 8080)
					a.PutStr("user_agent.original", "spanlog-loadgen")
					failed = status >= 500
				case ptrace.SpanKindClient:
					s.SetName(method)
					a.PutStr("http.request.method", method)
					a.PutInt("http.response.status_code", int64(status))
					a.PutStr("url.full", "http://"+services[nd.callee]+":8080"+route)
					a.PutStr("server.address", services[nd.callee])
					a.PutInt("server.port", 8080)
					a.PutStr("network.protocol.version", "1.1")
					failed = status >= 400
				default:
					op := rng.IntN(len(operations))
					s.SetName(operations[op])
					if op < 3 {
						a.PutStr("db.system.name", "postgresql")
						a.PutStr("db.operation.name", "SELECT")
						a.PutStr("db.collection.name", "orders")
						a.PutStr("db.query.text", operations[op]+" WHERE id = $1")
					} else {
						a.PutStr("code.function.name", operations[op])
					}
					failed = rng.IntN(100) < 2
				}
				for j := a.Len(); j < 10; j++ {
					switch k := "loadgen.attr." + strconv.Itoa(j); j % 4 {
					case 0:
						a.PutStr(k, "value-"+strconv.Itoa(rng.IntN(100)))
					case 1:
						a.PutInt(k, rng.Int64N(1_000_000))
					case 2:
						a.PutDouble(k, rng.Float64()*1000)
					default:
						a.PutBool(k, rng.IntN(2) == 0)
					}
				}
				if failed {
					s.Status().SetCode(ptrace.StatusCodeError)
					s.Status().SetMessage(strconv.Itoa(status) + " from " + services[nd.service])
					ev := s.Events().AppendEmpty()
					ev.SetName("exception")
					ev.Attributes().PutStr("exception.type", "loadgen.Error")
					ev.Attributes().PutStr("exception.message", s.Status().Message())
				} else if rng.IntN(10) == 0 {
					ev := s.Events().AppendEmpty()
					ev.SetName("cache.miss")
					ev.Attributes().PutStr("cache.key", "key-"+strconv.Itoa(rng.IntN(1000)))
				}
			}
		}
		v, err := m.MarshalTraces(td)
		if err != nil {
			panic(err)
		}
		out = append(out, v)
	}
	return out
}
