package live

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
)

// TestIndexKeysPastItsBounds indexes records of more distinct attribute
// keys than a tail's key table numbers and than an index builder keeps
// columns of: the table stops at its bound, and every key, numbered or
// written in full, is found by a search, which decodes no record.
func TestIndexKeysPastItsBounds(t *testing.T) {
	const (
		records       = 60
		keysPerRecord = 300 // 18,000 keys: past maxBuilderColumns
	)
	keys := newKeyTable()
	// One builder for every record, as a tail has.
	b := newIndexBuilder(keys)
	var decoded atomic.Int64
	s := newSlice(nil, &decoded, keys)
	key := func(i int) string { return "key." + strconv.Itoa(i) }
	for r := range records {
		td := ptrace.NewTraces()
		span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.SetTraceID(pcommon.TraceID{15: byte(r + 1)})
		span.SetSpanID(pcommon.SpanID{7: 1})
		for i := r * keysPerRecord; i < (r+1)*keysPerRecord; i++ {
			span.Attributes().PutInt(key(i), int64(i))
		}
		span.Attributes().PutInt("record", int64(r))
		value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		rows := schema.AppendRows(nil, td)
		traces, index, _ := b.build(rows)
		s.add("a", &liveRecord{held: heldAs(value), traces: traces, index: index})
	}
	if b.generation == 0 {
		t.Fatal("the builder never forgot its columns")
	}
	if n := len(keys.keys); n != maxIndexedKeys {
		t.Fatalf("the key table numbers %d keys, want its bound of %d", n, maxIndexedKeys)
	}
	for _, i := range []int{0, maxIndexedKeys - 1, maxIndexedKeys, maxBuilderColumns + 1, records*keysPerRecord - 1} {
		want := int64(i)
		tests := []SpanTest{
			{Scope: ScopeSpan, Key: key(i), Match: func(v Value) bool { return v.Type == ValueInt && v.Int == want }},
			{Scope: ScopeSpanOrResource, Key: "record", Match: func(v Value) bool { return v.Int == want/keysPerRecord }},
		}
		var got []pcommon.TraceID
		err := s.Match("a", tests, func(id pcommon.TraceID) { got = append(got, id) }, func(ptrace.Traces) {
			t.Fatalf("key %d: a record was decoded", i)
		})
		if err != nil {
			t.Fatal(err)
		}
		if wantID := (pcommon.TraceID{15: byte(i/keysPerRecord + 1)}); len(got) != 1 || got[0] != wantID {
			t.Errorf("key %d: matched %v, want only %v", i, got, wantID)
		}
	}
	if n := decoded.Load(); n != 0 {
		t.Fatalf("%d records decoded", n)
	}
}

// TestIndexHoldsEveryValue builds, with one builder, the indexes of
// records whose columns hold many values, repeated and not, of every type
// (an int and a double of the same bits in one column, 0 and -0, NaN,
// empty and over-long strings), and searches each value of each field:
// a search must pass exactly the spans that hold the value, whatever
// value the record before held.
func TestIndexHoldsEveryValue(t *testing.T) {
	const records, spans = 12, 40
	rng := rand.New(rand.NewPCG(3, 4))
	strs := []string{"", "a", "b", "ab", "ba", "GET", "GET /", "service-1", "service-10", strings.Repeat("x", maxIndexedString), strings.Repeat("y", maxIndexedString+1)}
	for i := range 30 {
		strs = append(strs, "value-"+strconv.Itoa(i))
	}
	keys := newKeyTable()
	b := newIndexBuilder(keys)
	var decoded atomic.Int64
	s := newSlice(nil, &decoded, keys)
	// want holds each span's value of each field it has.
	want := make(map[pcommon.TraceID]map[string]Value)
	for r := range records {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		service := strs[rng.IntN(len(strs))]
		rs.Resource().Attributes().PutStr("service.name", service)
		rs.Resource().Attributes().PutInt("res.num", int64(r%3))
		for i := range spans {
			span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			id := pcommon.TraceID{0: byte(r), 1: byte(i), 15: 1}
			span.SetTraceID(id)
			span.SetSpanID(pcommon.SpanID{7: 1})
			vals := map[string]Value{}
			set := func(key string, v Value) {
				vals[key] = v
				a := span.Attributes()
				switch v.Type {
				case ValueString:
					a.PutStr(key, v.Str)
				case ValueInt:
					a.PutInt(key, v.Int)
				case ValueDouble:
					a.PutDouble(key, v.Double)
				case ValueBool:
					a.PutBool(key, v.Bool)
				default:
					a.PutEmptyBytes(key).FromRaw([]byte{1})
				}
			}
			name := strs[rng.IntN(len(strs))]
			span.SetName(name)
			vals["name"] = Value{Type: ValueString, Str: name}
			if rng.IntN(4) > 0 {
				set("s", Value{Type: ValueString, Str: strs[rng.IntN(len(strs))]})
			}
			switch k := rng.IntN(8); k {
			case 0, 1, 2, 3:
				set("n", Value{Type: ValueInt, Int: []int64{0, 1, -1, int64(math.Float64bits(1))}[k]})
			default:
				set("n", Value{Type: ValueDouble, Double: []float64{0, math.Copysign(0, -1), 1, math.NaN()}[k-4]})
			}
			switch rng.IntN(3) {
			case 0:
				set("b", Value{Type: ValueBool, Bool: true})
			case 1:
				set("b", Value{Type: ValueBool})
			default:
				set("b", Value{})
			}
			vals["service"] = Value{Type: ValueString, Str: service}
			want[id] = vals
		}
		value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		_, rows, err := newRecordDecoder().decode(&kgo.Record{Value: value}, schema.RecordTenancy{Default: "a"})
		if err != nil {
			t.Fatal(err)
		}
		traces, index, _ := b.build(rows)
		s.add("a", &liveRecord{held: heldAs(value), traces: traces, index: index})
	}
	same := func(a, b Value) bool {
		if a.Type == ValueDouble && b.Type == ValueDouble {
			return math.Float64bits(a.Double) == math.Float64bits(b.Double)
		}
		return a == b
	}
	fields := []struct {
		field string
		test  SpanTest
	}{
		{"name", SpanTest{Intrinsic: IntrinsicName}},
		{"s", SpanTest{Scope: ScopeSpan, Key: "s"}},
		{"n", SpanTest{Scope: ScopeSpan, Key: "n"}},
		{"b", SpanTest{Scope: ScopeSpan, Key: "b"}},
		{"service", SpanTest{Scope: ScopeResource, Key: "service.name"}},
	}
	for _, f := range fields {
		var values []Value
		for _, vals := range want {
			if v, ok := vals[f.field]; ok && !slices.ContainsFunc(values, func(w Value) bool { return same(v, w) }) {
				values = append(values, v)
			}
		}
		for _, v := range values {
			test := f.test
			test.Match = func(got Value) bool { return same(got, v) }
			matched := make(map[pcommon.TraceID]bool)
			err := s.Match("a", []SpanTest{test}, func(id pcommon.TraceID) { matched[id] = true }, func(td ptrace.Traces) {
				// A record holding a value too long for its index: judge
				// its spans from what they were given.
				rss := td.ResourceSpans()
				for i := range rss.Len() {
					sss := rss.At(i).ScopeSpans()
					for j := range sss.Len() {
						ss := sss.At(j).Spans()
						for k := range ss.Len() {
							id := ss.At(k).TraceID()
							if w, ok := want[id][f.field]; ok && same(w, v) {
								matched[id] = true
							}
						}
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			for id, vals := range want {
				w, ok := vals[f.field]
				if has := ok && same(w, v); has != matched[id] {
					t.Fatalf("%s = %+v: span of trace %x matched %v, want %v", f.field, v, id[:2], matched[id], has)
				}
			}
		}
	}
}
