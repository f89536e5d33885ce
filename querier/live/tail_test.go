package live

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/schema"
)

func addRecord(t *testing.T, live *Tail, tenant string, partition int32, offset int64, td ptrace.Traces) {
	t.Helper()
	value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	// Stamped by offset: the lowest offset of all partitions is the
	// oldest record.
	live.Add(tenant, partition, offset, time.Unix(0, offset), value, schema.AppendRows(nil, td))
}

// find returns what live holds of trace id of tenant in every partition.
func find(t *testing.T, live *Tail, tenant string, id pcommon.TraceID) []ptrace.Traces {
	t.Helper()
	s, _, err := live.Slice([]string{tenant}, slices.Sorted(maps.Keys(live.Owned())), []pcommon.TraceID{id}, func(string, int32) int64 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, s, tenant)
}

// decodeAll returns the spans of each of tenant's records in s.
func decodeAll(t *testing.T, s Slice, tenant string) []ptrace.Traces {
	t.Helper()
	var out []ptrace.Traces
	if err := s.Decode(tenant, func(td ptrace.Traces) { out = append(out, td) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// heldAs returns value as a live tail holds it.
func heldAs(value []byte) []byte { return new(Tail).compress(value) }

// indexOf returns the index a new live tail builds of td.
func indexOf(td ptrace.Traces) []byte {
	_, index, _ := newIndexBuilder(newKeyTable()).build(schema.AppendRows(nil, td))
	return index
}

func TestLiveTailFindKeepsTenantsApart(t *testing.T) {
	live := NewTail(1<<30, map[int32]int64{0: 0, 1: 0})
	addRecord(t, live, "a", 0, 0, querytest.Spans([2]byte{1, 1}, [2]byte{2, 1}))
	addRecord(t, live, "a", 1, 0, querytest.Spans([2]byte{1, 2}))
	addRecord(t, live, "b", 0, 1, querytest.Spans([2]byte{1, 3}))

	got := find(t, live, "a", querytest.TraceID(1))
	var rows []schema.SpanRow
	for _, td := range got {
		rows = schema.AppendRows(rows, td)
	}
	merged, err := schema.TracesFromRows(schema.DedupeRows(rows))
	if err != nil {
		t.Fatal(err)
	}
	if n := merged.SpanCount(); n != 2 {
		t.Fatalf("tenant a trace 1: %d spans, want 2", n)
	}
	for _, td := range got {
		for _, rs := range td.ResourceSpans().All() {
			for _, s := range rs.ScopeSpans().At(0).Spans().All() {
				if s.TraceID() != querytest.TraceID(1) {
					t.Fatalf("Find returned a span of trace %s", s.TraceID())
				}
			}
		}
	}
	if got := find(t, live, "c", querytest.TraceID(1)); len(got) != 0 {
		t.Fatalf("unknown tenant found %d records", len(got))
	}
}

// TestLiveTailLookupDecodesOnlyRecordsHoldingTheTrace checks that the
// slice of a lookup by ID decodes the records holding the trace and no
// other, and that a slice of every trace decodes every record it holds,
// each time it is read.
func TestLiveTailLookupDecodesOnlyRecordsHoldingTheTrace(t *testing.T) {
	live := NewTail(1<<30, map[int32]int64{0: 0, 1: 0})
	// Trace 1 is in two records of tenant a, one per partition, and in
	// one of tenant b; 98 more records of a hold other traces.
	addRecord(t, live, "a", 0, 0, querytest.Spans([2]byte{1, 1}, [2]byte{2, 1}))
	addRecord(t, live, "a", 1, 0, querytest.Spans([2]byte{1, 2}))
	addRecord(t, live, "b", 0, 1, querytest.Spans([2]byte{1, 3}))
	for off := range int64(98) {
		addRecord(t, live, "a", int32(off%2), 2+off, querytest.Spans([2]byte{byte(3 + off), 1}))
	}
	if n := live.Decoded(); n != 0 {
		t.Fatalf("%d records decoded before any query", n)
	}
	got := find(t, live, "a", querytest.TraceID(1))
	if len(got) != 2 {
		t.Fatalf("trace 1 of a in %d records, want 2", len(got))
	}
	if n := live.Decoded(); n != 2 {
		t.Fatalf("a lookup of a trace held in 2 records decoded %d records", n)
	}

	s, _, err := live.Slice([]string{"a", "b"}, []int32{0, 1}, nil, func(string, int32) int64 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	if n := live.Decoded(); n != 2 {
		t.Fatalf("taking a slice decoded %d records", n-2)
	}
	if tenants := s.Tenants(); !slices.Equal(tenants, []string{"a", "b"}) {
		t.Fatalf("slice of tenants %v, want [a b]", tenants)
	}
	for range 2 {
		if n := len(decodeAll(t, s, "a")) + len(decodeAll(t, s, "b")); n != 101 {
			t.Fatalf("slice of every trace read %d records, want 101", n)
		}
	}
	if n := live.Decoded(); n != 2+2*101 {
		t.Fatalf("reading a slice of 101 records twice decoded %d records", n-2)
	}
}

// TestLiveTailSummariesAreThoseOfTheDecodedSpans checks that the
// summaries a slice gives without decoding are what schema.SummarizeTrace
// says of each trace's spans decoded from the slice, for traces whose spans
// are split across records, held twice, with or without their root, and
// with a service.name of another type than string.
func TestLiveTailSummariesAreThoseOfTheDecodedSpans(t *testing.T) {
	records := loadRecords(t, 4_000)
	live := NewTail(1<<30, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0})
	next := make(map[int32]int64)
	add := func(p int32, td ptrace.Traces) {
		t.Helper()
		value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		live.Add("a", p, next[p], time.Unix(0, next[p]), value, schema.AppendRows(nil, td))
		next[p]++
	}
	for i, r := range records {
		if i%5 == 1 {
			// A service.name that is no string names no service.
			r.td.ResourceSpans().At(0).Resource().Attributes().PutInt("service.name", 7)
		}
		if i%7 == 2 {
			// Traces whose roots have not arrived.
			for _, rs := range r.td.ResourceSpans().All() {
				rs.ScopeSpans().At(0).Spans().RemoveIf(func(s ptrace.Span) bool { return s.ParentSpanID().IsEmpty() })
			}
		}
		// Every third record in two halves, the second half again.
		if i%3 != 0 {
			add(r.partition, r.td)
			continue
		}
		first, second := ptrace.NewTraces(), ptrace.NewTraces()
		r.td.CopyTo(first)
		r.td.CopyTo(second)
		n := 0
		keep := func(half int) func(ptrace.Span) bool {
			return func(ptrace.Span) bool { n++; return n%2 == half }
		}
		for _, rs := range first.ResourceSpans().All() {
			rs.ScopeSpans().At(0).Spans().RemoveIf(keep(0))
		}
		n = 0
		for _, rs := range second.ResourceSpans().All() {
			rs.ScopeSpans().At(0).Spans().RemoveIf(keep(1))
		}
		add(r.partition, first)
		add(r.partition, second)
		add(r.partition, second)
	}
	partitions := []int32{0, 1, 2, 3, 4, 5, 6, 7}
	noBlocks := func(string, int32) int64 { return 0 }
	all, _, err := live.Slice([]string{"a"}, partitions, nil, noBlocks)
	if err != nil {
		t.Fatal(err)
	}
	var ids []pcommon.TraceID
	for _, sum := range all.Summaries("a", nil) {
		ids = append(ids, sum.ID)
	}
	some, _, err := live.Slice([]string{"a"}, partitions, ids[:len(ids)/3], noBlocks)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Slice{"every trace": all, "some traces": some} {
		decoded := live.Decoded()
		got := s.Summaries("a", nil)
		if n := live.Decoded() - decoded; n != 0 {
			t.Fatalf("%s: Summaries decoded %d records", name, n)
		}
		var rows []schema.SpanRow
		for _, td := range decodeAll(t, s, "a") {
			rows = schema.AppendRows(rows, td)
		}
		var direct []schema.SpanRow
		if err := s.DecodeRows("a", func(r []schema.SpanRow) { direct = append(direct, r...) }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(direct, rows) {
			t.Fatalf("%s: DecodeRows gives %d rows unlike Decode's %d", name, len(direct), len(rows))
		}
		slices.SortStableFunc(rows, func(a, b schema.SpanRow) int { return bytes.Compare(a.TraceID[:], b.TraceID[:]) })
		var want []schema.TraceSummary
		for start := 0; start < len(rows); {
			end := start + 1
			for end < len(rows) && rows[end].TraceID == rows[start].TraceID {
				end++
			}
			want = append(want, schema.SummarizeTrace(rows[start:end]))
			start = end
		}
		if len(want) < 100 || !slices.Equal(got, want) {
			t.Fatalf("%s: %d summaries, want %d (first %+v, want %+v)", name, len(got), len(want), got[0], want[0])
		}
	}
}

func TestLiveTailTrim(t *testing.T) {
	live := NewTail(1<<30, map[int32]int64{0: 10})
	addRecord(t, live, "a", 0, 10, querytest.Spans([2]byte{1, 1}))
	addRecord(t, live, "b", 0, 11, querytest.Spans([2]byte{1, 2}))
	addRecord(t, live, "a", 0, 12, querytest.Spans([2]byte{1, 3}))

	// Blocks of tenant a cover offsets below 12, of b nothing yet.
	live.Trim(func(tenant string, _ int32) int64 {
		if tenant == "a" {
			return 12
		}
		return 0
	})
	a, b := find(t, live, "a", querytest.TraceID(1)), find(t, live, "b", querytest.TraceID(1))
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("after trim: tenant a %d records (want 1), b %d (want 1)", len(a), len(b))
	}
	if n, _ := live.Size(); n != 2 {
		t.Fatalf("size %d records, want 2", n)
	}
	live.Trim(func(string, int32) int64 { return 100 })
	if n, size := live.Size(); n != 0 || size != 0 {
		t.Fatalf("after trimming everything: %d records, %d bytes", n, size)
	}
}

func TestLiveTailWaitFor(t *testing.T) {
	live := NewTail(1<<30, map[int32]int64{0: 5})
	if err := live.WaitFor(context.Background(), 0, 5); err != nil {
		t.Fatalf("already at the end: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- live.WaitFor(context.Background(), 0, 7) }()
	addRecord(t, live, "a", 0, 5, querytest.Spans([2]byte{1, 1}))
	select {
	case err := <-done:
		t.Fatalf("returned at offset 6 of 7: %v", err)
	default:
	}
	live.Advance(0, 7)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := live.WaitFor(ctx, 0, 100); err == nil {
		t.Fatal("WaitFor past the end returned without error")
	}
}

// TestLiveTailOwnership checks that a live tail holds only the partitions
// it owns, and says from where it holds each tenant's records.
func TestLiveTailOwnership(t *testing.T) {
	live := NewTail(1<<30, map[int32]int64{0: 10})
	addRecord(t, live, "a", 1, 0, querytest.Spans([2]byte{1, 1}))
	if n, _ := live.Size(); n != 0 {
		t.Fatalf("a record of a partition not owned was kept")
	}
	if err := live.WaitFor(context.Background(), 1, 1); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("WaitFor on a partition not owned: %v, want ErrNotOwned", err)
	}
	if _, _, err := live.Slice([]string{"a"}, []int32{0, 1}, nil, func(string, int32) int64 { return 0 }); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Slice of a partition not owned: %v, want ErrNotOwned", err)
	}

	addRecord(t, live, "a", 0, 10, querytest.Spans([2]byte{1, 1}))
	addRecord(t, live, "a", 0, 9, querytest.Spans([2]byte{1, 2})) // below what was consumed
	addRecord(t, live, "b", 0, 11, querytest.Spans([2]byte{2, 1}))
	live.Trim(func(tenant string, _ int32) int64 {
		if tenant == "a" {
			return 11
		}
		return 4
	})
	// Tenant a's blocks end at 11, b's at 4 (b has no record in 4..10).
	covered := map[string]int64{"a": 11, "b": 4, "c": 0}
	s, _, err := live.Slice([]string{"a", "b", "c"}, []int32{0}, nil, func(tenant string, _ int32) int64 { return covered[tenant] })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"a": 11, "b": 4, "c": 0}
	for tenant, from := range want {
		if got := s.From[tenant][0]; got != from {
			t.Errorf("tenant %s: from %d, want %d", tenant, got, from)
		}
	}
	if len(decodeAll(t, s, "a")) != 0 || len(decodeAll(t, s, "b")) != 1 {
		t.Errorf("slice holds %d records of a (want 0, trimmed), %d of b (want 1)", len(decodeAll(t, s, "a")), len(decodeAll(t, s, "b")))
	}

	live.Disown([]int32{0})
	if n, size := live.Size(); n != 0 || size != 0 || len(live.Owned()) != 0 {
		t.Fatalf("after Disown: %d records, %d bytes, owns %v", n, size, live.Owned())
	}
	live.Own(0, 20)
	addRecord(t, live, "a", 0, 12, querytest.Spans([2]byte{1, 3}))
	if n, _ := live.Size(); n != 0 {
		t.Fatalf("a record below where the tail starts was kept")
	}
}

// TestLiveTailEvictsTheOldestPastItsBound fills a live tail of two
// partitions past its bound, as it fills when no block-builder writes
// blocks: it keeps the most recent records within the bound, says which
// answers miss evicted records, and stops saying so once blocks cover them.
func TestLiveTailEvictsTheOldestPastItsBound(t *testing.T) {
	td := querytest.Spans([2]byte{1, 1})
	value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	cost := recordCost(heldAs(value), indexOf(td), 1)
	live := NewTail(4*cost, map[int32]int64{0: 0, 1: 0})
	// Partition 0 gets offsets 0..5 of tenant a, partition 1 offsets
	// 0..1 of tenant b; stamped so that partition 1's come last.
	for off := range int64(6) {
		live.Add("a", 0, off, time.Unix(0, off), value, schema.AppendRows(nil, td))
		if n, size := live.Size(); size > 4*cost || n > 4 {
			t.Fatalf("after offset %d: %d records, %d bytes, over the bound of %d", off, n, size, 4*cost)
		}
	}
	for off := range int64(2) {
		live.Add("b", 1, off, time.Unix(0, 10+off), value, schema.AppendRows(nil, td))
	}
	// The oldest went: offsets 0..3 of partition 0. Tenant a's records
	// of partition 0 are missing below 4; b's of partition 1, none.
	if n, size := live.Size(); n != 4 || size != 4*cost {
		t.Fatalf("%d records, %d bytes; want the 4 most recent, %d bytes", n, size, 4*cost)
	}
	if n, size, gaps := live.Evictions(); n != 4 || size != 4*cost || gaps != 1 {
		t.Fatalf("evictions: %d records, %d bytes, %d gaps; want 4, %d, 1", n, size, gaps, 4*cost)
	}
	noBlocks := func(string, int32) int64 { return 0 }
	s, partial, err := live.Slice([]string{"a", "b"}, []int32{0, 1}, nil, noBlocks)
	if err != nil {
		t.Fatal(err)
	}
	if !partial.Evicted || len(decodeAll(t, s, "a")) != 2 || len(decodeAll(t, s, "b")) != 2 {
		t.Fatalf("partial %+v, %d records of a (want 2), %d of b (want 2)", partial, len(decodeAll(t, s, "a")), len(decodeAll(t, s, "b")))
	}
	// Below where evictions ended, the tail holds nothing of a; with no
	// block of a, the tail holds it from 0 only, with a hole.
	if from := s.From["a"][0]; from != 0 {
		t.Fatalf("from %d, want 0: no block of a reaches the evicted records", from)
	}
	if _, partial, _ := live.Slice([]string{"b"}, []int32{0, 1}, nil, noBlocks); partial.Evicted {
		t.Fatal("tenant b lost nothing, yet its answer is partial")
	}

	// Blocks of a up to offset 3 do not cover the evictions; up to 4 do.
	for _, c := range []struct {
		end         int64
		wantPartial bool
	}{{3, true}, {4, false}} {
		end, wantPartial := c.end, c.wantPartial
		covered := func(tenant string, p int32) int64 {
			if tenant == "a" && p == 0 {
				return end
			}
			return 0
		}
		live.Trim(covered)
		s, partial, err := live.Slice([]string{"a"}, []int32{0}, nil, covered)
		if err != nil {
			t.Fatal(err)
		}
		if partial.Evicted != wantPartial || len(decodeAll(t, s, "a")) != 2 {
			t.Errorf("blocks up to %d: partial %v (want %v), %d records (want 2)", end, partial.Evicted, wantPartial, len(decodeAll(t, s, "a")))
		}
		if !wantPartial && s.From["a"][0] != 4 {
			t.Errorf("blocks up to %d: from %d, want 4", end, s.From["a"][0])
		}
	}
	if _, _, gaps := live.Evictions(); gaps != 0 {
		t.Fatalf("%d gaps once blocks cover every eviction", gaps)
	}

	// A record larger than the whole bound is not kept, and the others
	// stay.
	big := make([]byte, 5*cost)
	_, _ = rand.NewChaCha8([32]byte{}).Read(big) // so that it does not compress
	live.Add("b", 1, 2, time.Unix(0, 20), big, schema.AppendRows(nil, td))
	if n, _ := live.Size(); n != 4 {
		t.Fatalf("%d records after one over the bound, want 4", n)
	}
	if _, partial, _ := live.Slice([]string{"b"}, []int32{1}, nil, noBlocks); !partial.Evicted {
		t.Fatal("a record too large to keep is missing from b's answer, which is not partial")
	}
	if err := live.WaitFor(context.Background(), 1, 3); err != nil {
		t.Fatalf("the partition did not advance past the record it could not keep: %v", err)
	}
}

// TestLiveTailEvictsAcrossTrims checks that records trimmed into blocks
// and records evicted interleave without losing count.
func TestLiveTailEvictsAcrossTrims(t *testing.T) {
	td := querytest.Spans([2]byte{1, 1})
	value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	cost := recordCost(heldAs(value), indexOf(td), 1)
	live := NewTail(3*cost, map[int32]int64{0: 0})
	tenants := []string{"a", "b"}
	var covered int64
	for off := range int64(200) {
		live.Add(tenants[off%2], 0, off, time.Unix(0, off), value, schema.AppendRows(nil, td))
		if off%7 == 0 {
			covered = off - 1 // blocks of both tenants end one behind
			live.Trim(func(string, int32) int64 { return covered })
		}
		if n, size := live.Size(); size > 3*cost || int64(n)*cost != size {
			t.Fatalf("offset %d: %d records, %d bytes, bound %d", off, n, size, 3*cost)
		}
	}
	live.mu.Lock()
	order := len(live.parts[0].order)
	live.mu.Unlock()
	if order > 2*3 {
		t.Fatalf("eviction order holds %d entries for at most 3 records", order)
	}
}

// TestLiveTailDecoderKeepsWhatTheTailReads adds records to one tail as
// the consumer decodes them (without events or links, each record's rows
// in the memory of the last's, their strings in the record's) and to
// another from their full rows: the two hold the same summaries, indexes
// and values, even once the consumed records' memory is overwritten, as
// a fetch buffer let go may be.
func TestLiveTailDecoderKeepsWhatTheTailReads(t *testing.T) {
	records := loadRecords(t, 4_000)
	owned := map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0}
	consumed, full := NewTail(1<<30, owned), NewTail(1<<30, owned)
	dec := newRecordDecoder()
	events, links := 0, 0
	for i, r := range records {
		if i%3 == 0 {
			span := r.td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			l := span.Links().AppendEmpty()
			l.SetTraceID(pcommon.TraceID{1})
			l.SetSpanID(pcommon.SpanID{2})
			l.Attributes().PutStr("link.reason", "retry")
			value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(r.td)
			if err != nil {
				t.Fatal(err)
			}
			r.value, r.rows = value, schema.AppendRows(nil, r.td)
		}
		for _, row := range r.rows {
			events += len(row.Events)
			links += len(row.Links)
		}
		kr := &kgo.Record{Partition: r.partition, Offset: int64(i), Timestamp: time.Unix(0, int64(i)), Value: bytes.Clone(r.value)}
		tenant, rows, err := dec.decode(kr, schema.RecordTenancy{Default: "a"})
		if err != nil {
			t.Fatal(err)
		}
		consumed.Add(tenant, kr.Partition, kr.Offset, kr.Timestamp, kr.Value, rows)
		for j := range kr.Value {
			kr.Value[j] = 'x'
		}
		full.Add("a", r.partition, int64(i), time.Unix(0, int64(i)), r.value, r.rows)
	}
	if events == 0 || links == 0 {
		t.Fatalf("the records hold %d events and %d links: nothing left out", events, links)
	}
	held := 0
	for p := range owned {
		got, want := consumed.parts[p].tenants["a"].records, full.parts[p].tenants["a"].records
		if len(got) != len(want) {
			t.Fatalf("partition %d: %d records, %d from full rows", p, len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i].traces, want[i].traces) || !bytes.Equal(got[i].index, want[i].index) || !bytes.Equal(got[i].held, want[i].held) {
				t.Fatalf("partition %d offset %d: the tail holds other summaries, index or value than from the full rows", p, got[i].offset)
			}
		}
		held += len(got)
	}
	if held != len(records) {
		t.Fatalf("the tails hold %d records of %d", held, len(records))
	}
}
