package generator

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/spanlog/spanlog/schema"
)

// readConfig is a generator's config whose derivation reads attributes of
// every kind: dimensions found on spans, on resources, on both and on
// neither, of every value type, and peer attributes of its own besides
// the defaults.
func readConfig() Config {
	cfg := DefaultConfig()
	cfg.SpanMetrics.Dimensions = []string{"deployment.environment", "http.response.status_code", "custom.ratio", "custom.flag", "custom.bytes"}
	cfg.ServiceGraph.PeerAttributes = []string{"peer.service", "db.name", "db.system", "net.peer.name"}
	cfg.ServiceGraph.Wait = 5 * time.Second
	return cfg
}

// variedRecords returns n records' values of traces with requests between
// services (paired in one record or across two, or never), root server
// spans, messaging, database calls, spans of every kind and status, and
// attributes the deriver reads among others it does not, on spans,
// resources, scopes, events and links. Record i is meant to be read at
// second i: a client span whose server span never comes waits past the
// wait of readConfig.
func variedRecords(rng *rand.Rand, n int) [][]byte {
	services := []string{"frontend", "cart", "payment", "search"}
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	// putSome puts, each with a chance of one in two, attributes the
	// deriver reads, with a value of a type chosen at random, and some
	// it does not.
	putSome := func(m pcommon.Map, keys ...string) {
		for _, k := range keys {
			if rng.IntN(2) == 0 {
				continue
			}
			switch rng.IntN(8) {
			case 0:
				m.PutInt(k, rng.Int64N(600))
			case 1:
				m.PutDouble(k, float64(rng.IntN(100))/8)
			case 2:
				m.PutBool(k, rng.IntN(2) == 0)
			case 3:
				m.PutEmptyBytes(k).FromRaw([]byte{1, 2})
			case 4:
				m.PutStr(k, "")
			default:
				m.PutStr(k, pick("prod", "dev", "db-1", "10.0.0.1", "mysql"))
			}
		}
		m.PutStr("other.key", pick("a", "b"))
		m.PutInt("other.int", rng.Int64N(1000))
	}
	dims := []string{"deployment.environment", "http.response.status_code", "custom.ratio", "custom.flag", "custom.bytes"}
	peers := []string{"peer.service", "db.name", "db.system", "db.namespace", "net.peer.name", "server.address", "network.peer.address", "network.peer.port"}

	type pending struct {
		traceID pcommon.TraceID
		spanID  pcommon.SpanID
		callee  int
		kind    ptrace.SpanKind // of the server half to come
	}
	var later []pending // client halves whose server half comes in the next record
	var out [][]byte
	var m ptrace.ProtoMarshaler
	for range n {
		td := ptrace.NewTraces()
		bySvc := make(map[int]ptrace.SpanSlice)
		spansOf := func(svc int) ptrace.SpanSlice {
			if s, ok := bySvc[svc]; ok {
				return s
			}
			rs := td.ResourceSpans().AppendEmpty()
			ra := rs.Resource().Attributes()
			switch rng.IntN(10) {
			case 0: // no service name
			case 1:
				ra.PutInt(schema.KeyServiceName, int64(svc))
			default:
				ra.PutStr(schema.KeyServiceName, services[svc])
			}
			putSome(ra, dims...)
			putSome(ra, peers...)
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("scope")
			putSome(ss.Scope().Attributes(), dims...)
			bySvc[svc] = ss.Spans()
			return ss.Spans()
		}
		newSpan := func(svc int, kind ptrace.SpanKind, traceID pcommon.TraceID, parent pcommon.SpanID) ptrace.Span {
			s := spansOf(svc).AppendEmpty()
			s.SetTraceID(traceID)
			var id pcommon.SpanID
			binary.BigEndian.PutUint64(id[:], rng.Uint64()|1)
			s.SetSpanID(id)
			s.SetParentSpanID(parent)
			s.SetKind(kind)
			s.SetName(pick("GET /", "POST /cart", "SELECT", "publish"))
			start := 1e18 + uint64(rng.IntN(1e9))
			s.SetStartTimestamp(pcommon.Timestamp(start))
			end := start + uint64(rng.IntN(3e9))
			if rng.IntN(20) == 0 {
				end = start - 1000 // ends before it starts
			}
			s.SetEndTimestamp(pcommon.Timestamp(end))
			if c := rng.IntN(4); c > 0 {
				s.Status().SetCode(ptrace.StatusCode(c - 1))
				s.Status().SetMessage("status " + pick("x", "y"))
			}
			s.TraceState().FromRaw(pick("", "k=v"))
			putSome(s.Attributes(), dims...)
			if kind == ptrace.SpanKindClient {
				putSome(s.Attributes(), peers...)
			}
			// Events and links hold attributes the deriver reads, which
			// it must not read there.
			if rng.IntN(3) == 0 {
				e := s.Events().AppendEmpty()
				e.SetName("exception")
				putSome(e.Attributes(), dims...)
				putSome(e.Attributes(), peers...)
			}
			if rng.IntN(3) == 0 {
				l := s.Links().AppendEmpty()
				l.SetTraceID(traceID)
				putSome(l.Attributes(), dims...)
				putSome(l.Attributes(), peers...)
			}
			return s
		}
		for _, p := range later {
			newSpan(p.callee, p.kind, p.traceID, p.spanID)
		}
		later = later[:0]
		for range 2 + rng.IntN(3) {
			var tid pcommon.TraceID
			binary.BigEndian.PutUint64(tid[:8], rng.Uint64())
			binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
			caller, callee := rng.IntN(len(services)), rng.IntN(len(services))
			root := newSpan(caller, ptrace.SpanKindServer, tid, pcommon.SpanID{})
			newSpan(caller, ptrace.SpanKind(rng.IntN(6)), tid, root.SpanID())
			clientKind, serverKind := ptrace.SpanKindClient, ptrace.SpanKindServer
			if rng.IntN(4) == 0 {
				clientKind, serverKind = ptrace.SpanKindProducer, ptrace.SpanKindConsumer
			}
			client := newSpan(caller, clientKind, tid, root.SpanID())
			switch rng.IntN(4) {
			case 0: // the server half comes in the next record
				later = append(later, pending{tid, client.SpanID(), callee, serverKind})
			case 1: // never: the client half expires
			default:
				newSpan(callee, serverKind, tid, client.SpanID())
			}
		}
		if rng.IntN(10) == 0 {
			// An array: the value takes pdata's path in every decode.
			td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutEmptySlice("custom.list").AppendEmpty().SetStr("v")
		}
		v, err := m.MarshalTraces(td)
		if err != nil {
			panic(err)
		}
		out = append(out, v)
	}
	return out
}

// deriveAll reads values, record i at second i of tenant t1 or t2 in
// turn, and derives from them with d; then it reads a record past the
// wait, so that what still waits expires. It returns the partition's
// state as lines, sorted. Each value is read from a copy overwritten
// once derived from, as Kafka's client may reuse the memory of a record
// let go: what d keeps of one must be its own.
func deriveAll(t *testing.T, d *deriver, rr *recordReader, values [][]byte) []string {
	t.Helper()
	p := newPartitionState(0, 0)
	t0 := time.Unix(1_800_000_000, 0).UnixNano()
	for i, v := range values {
		rec := &kgo.Record{Value: slices.Clone(v), Headers: []kgo.RecordHeader{{Key: schema.HeaderTenant, Value: []byte([]string{"t1", "t2"}[i%2])}}}
		tn, rows, err := rr.read(rec, schema.RecordTenancy{Default: "default"})
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		d.apply(p, tn, rows, t0+int64(i)*int64(time.Second), int64(i))
		for j := range rec.Value {
			rec.Value[j] = 'x'
		}
	}
	d.apply(p, "t1", nil, t0+int64(len(values)+60)*int64(time.Second), int64(len(values)))
	return stateLines(p)
}

// stateLines returns what p counts and what waits in it, a line each.
func stateLines(p *partitionState) []string {
	var out []string
	for id, t := range p.tenants {
		for _, e := range t.entries {
			line := fmt.Sprintf("%s kind %d %q count %d failed %d seen %d", id, e.kind, e.labels, e.count, e.failed, e.lastSeen)
			for _, h := range e.hists {
				line += fmt.Sprintf(" hist %v sum %v exemplar %+v", h.counts, h.sum, h.exemplar)
			}
			out = append(out, line)
		}
		for _, h := range t.edges.pending() {
			out = append(out, fmt.Sprintf("%s waits %+v", id, *h))
		}
	}
	slices.Sort(out)
	return out
}

// TestLeanReadDerivesAsFullDecode derives from varied records read as Run
// reads them (lean, borrowed, recycled) and decoded whole, and wants the
// same series, values and waiting halves, with the records encoded by
// pdata (as the Collector sends them) and by Google's protobuf (as the
// OpenTelemetry SDKs do), which write fields in opposite orders. Then, for
// each attribute the deriver reads, it leaves that one out of the lean
// read and wants the series to differ: the records exercise every
// attribute, and the comparison notices one missing.
func TestLeanReadDerivesAsFullDecode(t *testing.T) {
	cfg := readConfig()
	values := variedRecords(rand.New(rand.NewPCG(5, 6)), 300)

	full, _ := testDeriver(t, cfg, 0)
	want := deriveAll(t, full, &recordReader{}, values)
	for _, enc := range []struct {
		name   string
		values [][]byte
	}{{"pdata", values}, {"protobuf", protobufEncoded(t, values)}} {
		lean, _ := testDeriver(t, cfg, 0)
		got := deriveAll(t, lean, newRecordReader(lean), enc.values)
		if diff := firstDiff(got, want); diff != "" {
			t.Fatalf("%s encoding: lean read derives otherwise than the full decode: %s", enc.name, diff)
		}
	}
	for _, kind := range []kind{kindSpan, kindEdge, kindUnpaired} {
		if !slices.ContainsFunc(want, func(l string) bool { return strings.Contains(l, fmt.Sprintf(" kind %d ", kind)) }) {
			t.Errorf("the records make no entry of kind %d", kind)
		}
	}

	var keys []string
	for _, k := range full.attrKeys.byLen {
		keys = append(keys, k...)
	}
	for _, left := range keys {
		d, _ := testDeriver(t, cfg, 0)
		rr := newRecordReader(d)
		rr.dec.Lean = func(key []byte) bool { return string(key) != left && d.keeps(key) }
		if firstDiff(deriveAll(t, d, rr, values), want) == "" {
			t.Errorf("a lean read without %s derives the same: the records do not show what it is read for", left)
		}
	}
}

// protobufEncoded returns values encoded again by Google's protobuf.
func protobufEncoded(t *testing.T, values [][]byte) [][]byte {
	t.Helper()
	out := make([][]byte, len(values))
	for i, v := range values {
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(v, &req); err != nil {
			t.Fatal(err)
		}
		b, err := proto.Marshal(&req)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// firstDiff returns the first line in which got and want differ, "" if
// none.
func firstDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			return "missing " + want[i]
		case i >= len(want):
			return "extra " + got[i]
		case got[i] != want[i]:
			return fmt.Sprintf("\n got %s\nwant %s", got[i], want[i])
		}
	}
	return ""
}
