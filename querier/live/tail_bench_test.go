package live

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/cputime"
	"github.com/spanlog/spanlog/schema"
)

// loadRecord is a record as the distributor writes it under the load
// generator's default load.
type loadRecord struct {
	partition int32
	value     []byte
	td        ptrace.Traces
	rows      []schema.SpanRow // td as rows, as the consumer decodes it
}

// Shapes of the load generator's traces (internal/loadgen) as the issue's
// workload sends them: requests of loadTraces traces of loadSpans spans
// (see loadSpan) over loadServices services, split by the distributor into
// one record per partition.
const (
	loadTraces     = 20
	loadSpans      = 10
	loadServices   = 10
	loadPartitions = 8
)

// loadRecords returns the records of requests holding at least spans
// spans, in the order a partition's consumer reads them.
func loadRecords(tb testing.TB, spans int) []loadRecord {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var out []loadRecord
	end := time.Unix(1_800_000_000, 0)
	for n := 0; n < spans; n += loadTraces * loadSpans {
		end = end.Add(time.Millisecond)
		// The SDK's exporter groups a request's spans by resource; the
		// distributor keeps that grouping in each partition's record.
		parts := make(map[int32][]ptrace.ResourceSpans)
		records := make(map[int32]ptrace.Traces)
		for range loadTraces {
			var id pcommon.TraceID
			binary.BigEndian.PutUint64(id[:8], rng.Uint64())
			binary.BigEndian.PutUint64(id[8:], rng.Uint64())
			p := schema.Partition("single-tenant", id, loadPartitions)
			td, ok := records[p]
			if !ok {
				td = ptrace.NewTraces()
				records[p] = td
				parts[p] = make([]ptrace.ResourceSpans, loadServices)
			}
			start := end.Add(-time.Duration(5+rng.IntN(2000)) * time.Millisecond)
			var parent pcommon.SpanID
			for i := range loadSpans {
				svc := rng.IntN(loadServices)
				rs := parts[p][svc]
				if rs == (ptrace.ResourceSpans{}) {
					rs = td.ResourceSpans().AppendEmpty()
					rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.43.0")
					ra := rs.Resource().Attributes()
					name := "service-" + strconv.Itoa(svc)
					ra.PutStr("service.name", name)
					ra.PutStr("service.namespace", "loadgen")
					ra.PutStr("service.version", "1.0.0")
					ra.PutStr("service.instance.id", name+"-0")
					ra.PutStr("deployment.environment.name", "loadgen")
					rs.ScopeSpans().AppendEmpty().Scope().SetName("github.com/spanlog/spanlog/internal/loadgen")
					parts[p][svc] = rs
				}
				s := rs.ScopeSpans().At(0).Spans().AppendEmpty()
				s.SetTraceID(id)
				var sid pcommon.SpanID
				binary.BigEndian.PutUint64(sid[:], rng.Uint64())
				s.SetSpanID(sid)
				s.SetParentSpanID(parent)
				parent = sid
				begin := start.Add(time.Duration(i) * time.Millisecond)
				s.SetStartTimestamp(pcommon.NewTimestampFromTime(begin))
				s.SetEndTimestamp(pcommon.NewTimestampFromTime(begin.Add(time.Duration(rng.IntN(500_000)) * time.Microsecond)))
				loadSpan(rng, s, i, "service-"+strconv.Itoa(svc))
			}
		}
		for p := range int32(loadPartitions) {
			td, ok := records[p]
			if !ok {
				continue
			}
			value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, loadRecord{partition: p, value: value, td: td, rows: schema.AppendRows(nil, td)})
		}
	}
	return out
}

// loadSpan describes span i of a trace as the load generator does: a
// server span, a client's HTTP call or a database query, with 10
// attributes each, the semantic ones first and generic ones of every
// value type to fill up, and an event on one span in ten.
func loadSpan(rng *rand.Rand, s ptrace.Span, i int, service string) {
	routes := [...]string{"/", "/api/orders", "/api/orders/{id}", "/api/cart",
		"/api/products/{id}", "/api/search", "/api/users/{id}/profile", "/health"}
	route := routes[rng.IntN(len(routes))]
	path := strings.Replace(route, "{id}", strconv.Itoa(rng.IntN(10_000)), 1)
	status := [...]int64{200, 200, 200, 200, 200, 200, 200, 200, 404, 500}[rng.IntN(10)]
	a := s.Attributes()
	switch k := rng.IntN(10); {
	case i == 0 || k < 3:
		s.SetKind(ptrace.SpanKindServer)
		s.SetName("GET " + route)
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", route)
		a.PutInt("http.response.status_code", status)
		a.PutStr("url.path", path)
		a.PutStr("url.scheme", "http")
		a.PutStr("server.address", service)
		a.PutInt("server.port", 8080)
		a.PutStr("user_agent.original", "spanlog-loadgen")
	case k < 8:
		s.SetKind(ptrace.SpanKindClient)
		s.SetName("GET")
		callee := "service-" + strconv.Itoa(rng.IntN(loadServices))
		a.PutStr("http.request.method", "GET")
		a.PutInt("http.response.status_code", status)
		a.PutStr("url.full", "http://"+callee+":8080"+path)
		a.PutStr("server.address", callee)
		a.PutInt("server.port", 8080)
		a.PutStr("network.protocol.version", "1.1")
	default:
		s.SetKind(ptrace.SpanKindInternal)
		s.SetName("SELECT orders")
		a.PutStr("db.system.name", "postgresql")
		a.PutStr("db.operation.name", "SELECT")
		a.PutStr("db.collection.name", "orders")
		a.PutStr("db.query.text", "SELECT orders WHERE id = $1")
	}
	for n := a.Len(); n < 10; n++ {
		k := "loadgen.attr." + strconv.Itoa(n)
		switch n % 4 {
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
	if status >= 500 {
		s.Status().SetCode(ptrace.StatusCodeError)
		s.Status().SetMessage(strconv.Itoa(int(status)) + " from " + service)
	}
	if rng.IntN(10) == 0 {
		e := s.Events().AppendEmpty()
		e.SetName("cache.miss")
		e.SetTimestamp(s.StartTimestamp())
		e.Attributes().PutStr("cache.key", "key-"+strconv.Itoa(rng.IntN(1000)))
	}
}

// BenchmarkTailMemory fills a live tail with 200,000 spans of the load
// generator's shapes, as consumed from Kafka (each value a slice of a
// larger fetch buffer), and reports the heap the tail holds per span after
// a collection, and what it counts against its bound per span.
func BenchmarkTailMemory(b *testing.B) {
	const spans = 200_000
	for b.Loop() {
		b.StopTimer()
		before := heapInUse()
		records := loadRecords(b, spans)
		var encoded int64
		for _, r := range records {
			encoded += int64(len(r.value))
		}
		fetches := make([][]byte, 0, len(records))
		for _, r := range records {
			// franz-go's records point into the fetch they came in.
			fetch := make([]byte, 0, len(r.value)+1<<10)
			fetches = append(fetches, append(fetch, r.value...))
		}
		b.StartTimer()
		live := NewTail(1<<40, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0})
		for i, r := range records {
			live.Add("single-tenant", r.partition, int64(i), time.Unix(0, int64(i)), fetches[i][:len(r.value)], r.rows)
		}
		b.StopTimer()
		records, fetches = nil, nil
		held := heapInUse() - before
		_, size := live.Size()
		b.ReportMetric(float64(held)/spans, "heap-B/span")
		b.ReportMetric(float64(size)/spans, "counted-B/span")
		b.ReportMetric(float64(encoded)/spans, "encoded-B/span")
		runtime.KeepAlive(live)
		b.StartTimer()
	}
}

// fullTail returns a live tail holding spans spans of the load
// generator's shapes, and the trace IDs of its records.
func fullTail(b *testing.B, spans int) (*Tail, []pcommon.TraceID) {
	records := loadRecords(b, spans)
	live := NewTail(1<<40, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0})
	var ids []pcommon.TraceID
	for i, r := range records {
		live.Add("single-tenant", r.partition, int64(i), time.Unix(0, int64(i)), r.value, r.rows)
		seen := make(map[pcommon.TraceID]bool)
		for _, row := range r.rows {
			if id := pcommon.TraceID(row.TraceID); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return live, ids
}

// BenchmarkTailSlice reads a live tail of 200,000 spans: the spans of one
// trace, as a lookup by ID does, and every span, as search and tags
// digest them.
func BenchmarkTailSlice(b *testing.B) {
	live, ids := fullTail(b, 200_000)
	partitions := []int32{0, 1, 2, 3, 4, 5, 6, 7}
	covered := func(string, int32) int64 { return 0 }
	b.Run("lookup", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			s, _, err := live.Slice([]string{"single-tenant"}, partitions, ids[i%len(ids):][:1], covered)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			if err := s.Decode("single-tenant", func(td ptrace.Traces) { n += td.SpanCount() }); err != nil {
				b.Fatal(err)
			}
			if n != loadSpans {
				b.Fatalf("%d spans", n)
			}
			i++
		}
	})
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, _, err := live.Slice([]string{"single-tenant"}, partitions, nil, covered)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			if err := s.Decode("single-tenant", func(td ptrace.Traces) { n += td.SpanCount() }); err != nil {
				b.Fatal(err)
			}
			if n < 200_000 {
				b.Fatalf("%d spans", n)
			}
		}
	})
}

// BenchmarkTailAdd measures what the consumer spends per span on each
// record of the load generator's shapes: decoding it into rows as
// Tails.consume does (decode), adding the rows to a tail (add), building
// their summaries and index alone (index), and both (consume). It reports
// the CPU per span, the process's, so that it counts the collector's work
// the allocations cause, and what the tail counts against its bound per
// span. The index part reads rows decoded beforehand, cold in the caches
// as they are not when consume builds them: it overstates the index's
// share.
func BenchmarkTailAdd(b *testing.B) {
	const spans = 20_000
	records := loadRecords(b, spans)
	// The decoding parts keep only the records as consumed, so that the
	// collector scans what a querier holds, not the records' pdata.
	consumed := make([]*kgo.Record, len(records))
	for i, r := range records {
		consumed[i] = &kgo.Record{Partition: r.partition, Offset: int64(i), Timestamp: time.Unix(0, int64(i)), Value: r.value}
	}
	records = nil
	tenancy := schema.RecordTenancy{Default: "single-tenant"}
	newTail := func() *Tail {
		return NewTail(1<<40, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0})
	}
	var cpu time.Duration
	start := func() {
		runtime.GC()
		cpu = cputime.Of(b)
	}
	report := func(b *testing.B, live *Tail) {
		cpu = cputime.Of(b) - cpu
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N*spans), "µs/span")
		b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N*spans), "cpu-µs/span")
		if live != nil {
			_, size := live.Size()
			b.ReportMetric(float64(size)/spans, "counted-B/span")
		}
	}
	decode := func(dec *recordDecoder, r *kgo.Record) (string, []schema.SpanRow) {
		tenant, rows, err := dec.decode(r, tenancy)
		if err != nil {
			b.Fatal(err)
		}
		return tenant, rows
	}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		dec := newRecordDecoder()
		n := 0
		start()
		for b.Loop() {
			for _, r := range consumed {
				_, rows := decode(dec, r)
				n += len(rows)
			}
		}
		report(b, nil)
		if n != b.N*spans {
			b.Fatalf("%d spans decoded, want %d", n, b.N*spans)
		}
	})
	b.Run("add", func(b *testing.B) {
		b.ReportAllocs()
		records := loadRecords(b, spans)
		var live *Tail
		start()
		for b.Loop() {
			live = newTail()
			for i, r := range records {
				live.Add("single-tenant", r.partition, int64(i), time.Unix(0, int64(i)), r.value, r.rows)
			}
		}
		report(b, live)
	})
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		// Each record's rows borrow its value, as the consumer's do.
		rows := make([][]schema.SpanRow, len(consumed))
		for i, r := range consumed {
			_, rows[i] = decode(newRecordDecoder(), r)
		}
		live := newTail()
		start()
		for b.Loop() {
			for _, r := range rows {
				live.describe(r)
			}
		}
		report(b, nil)
	})
	b.Run("consume", func(b *testing.B) {
		b.ReportAllocs()
		dec := newRecordDecoder()
		var live *Tail
		start()
		for b.Loop() {
			live = newTail()
			for _, r := range consumed {
				tenant, rows := decode(dec, r)
				live.Add(tenant, r.Partition, r.Offset, r.Timestamp, r.Value, rows)
			}
		}
		report(b, live)
	})
}

// BenchmarkTailCompress compresses records of the load generator's shapes
// as the tail holds them (s2), and as zstd's fastest level would, and
// reports the CPU and the compressed bytes per span: what the choice of s2 in
// Tail.compress weighs.
func BenchmarkTailCompress(b *testing.B) {
	const spans = 20_000
	records := loadRecords(b, spans)
	zstdEnc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	live := NewTail(1<<40, nil)
	for _, c := range []struct {
		name     string
		compress func(value []byte) []byte
	}{
		{"s2", live.compress},
		{"zstd-fastest", func(value []byte) []byte { return zstdEnc.EncodeAll(value, nil) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var size int
			for b.Loop() {
				size = 0
				for _, r := range records {
					size += len(c.compress(r.value))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N*spans), "µs/span")
			b.ReportMetric(float64(size)/spans, "compressed-B/span")
		})
	}
}
