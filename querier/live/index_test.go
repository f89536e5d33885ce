package live

import (
	"strconv"
	"sync/atomic"
	"testing"

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
