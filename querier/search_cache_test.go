package querier

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/schema"
)

// partsOf returns n parts with IDs i<<8 for i in 0..n-1 and starts that
// fall and rise again.
func partsOf(n int) []part {
	out := make([]part, n)
	for i := range out {
		out[i] = part{TraceSummary: schema.TraceSummary{ID: [16]byte{byte(i >> 8), byte(i)}, Start: uint64((i * 7) % 5)}, matched: true}
	}
	return out
}

func TestSearchCacheStaysWithinItsBytes(t *testing.T) {
	one := newPartList(partsOf(100)).bytes() + int64(len("q"))
	reg := prometheus.NewRegistry()
	c := newSearchCache(4*one+one/2, reg) // four entries fit
	blocks := make([]uuid.UUID, 6)
	for i := range blocks {
		blocks[i] = uuid.New()
	}
	reads := 0
	get := func(b uuid.UUID) *partList {
		t.Helper()
		l, err := c.get(cacheKey{b, "q"}, func() ([]part, error) { reads++; return partsOf(100), nil })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, b := range blocks[:4] {
		get(b)
	}
	get(blocks[0]) // now the most recently used
	if reads != 4 {
		t.Fatalf("read %d lists for 4 blocks and a repeat", reads)
	}
	get(blocks[4]) // pushes out blocks[1], the least recently used
	if c.used > c.max {
		t.Errorf("holds %d bytes, over its %d", c.used, c.max)
	}
	if _, ok := c.peek(cacheKey{blocks[1], "q"}); ok {
		t.Error("kept the least recently used entry past the bound")
	}
	for _, b := range []uuid.UUID{blocks[0], blocks[2], blocks[3], blocks[4]} {
		if _, ok := c.peek(cacheKey{b, "q"}); !ok {
			t.Errorf("dropped block %s, recently used", b)
		}
	}
	if got := promtest.Value(t, reg, "spanlog_querier_search_cache_evictions_total"); got != 1 {
		t.Errorf("evictions = %v, want 1", got)
	}

	// A list over a quarter of the bound is handed out, not kept.
	big, err := c.get(cacheKey{blocks[5], "q"}, func() ([]part, error) { return partsOf(200), nil })
	if err != nil || big.len() != 200 {
		t.Fatalf("large list: %d parts, %v", big.len(), err)
	}
	if _, ok := c.peek(cacheKey{blocks[5], "q"}); ok {
		t.Error("kept a list over a quarter of the bound")
	}

	// An error is returned and not kept.
	boom := errors.New("boom")
	if _, err := c.get(cacheKey{blocks[5], "other"}, func() ([]part, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("error = %v, want %v", err, boom)
	}
	if _, ok := c.peek(cacheKey{blocks[5], "other"}); ok {
		t.Error("kept a failed read")
	}

	// Blocks gone from the blocklist are dropped.
	c.retain(func(id uuid.UUID) bool { return id == blocks[4] })
	if len(c.entries) != 1 || c.lru.Len() != 1 || c.used != one {
		t.Errorf("after retain: %d entries, %d in order, %d bytes; want 1, 1, %d", len(c.entries), c.lru.Len(), c.used, one)
	}
	if got := promtest.Value(t, reg, "spanlog_querier_search_cache_bytes"); got != float64(one) {
		t.Errorf("bytes gauge = %v, want %d", got, one)
	}
}

func TestSearchCacheOfNoBytesKeepsNothing(t *testing.T) {
	c := newSearchCache(0, prometheus.NewRegistry())
	for range 2 {
		if _, err := c.get(cacheKey{uuid.Nil, "q"}, func() ([]part, error) { return partsOf(1), nil }); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.entries) != 0 || c.used != 0 {
		t.Errorf("holds %d entries, %d bytes", len(c.entries), c.used)
	}
}

// TestPartListNewestFirst: the order is the candidate queue's, of lean
// lists and full ones.
func TestPartListNewestFirst(t *testing.T) {
	full := partsOf(50)
	full[7].Root.Name = "root" // not a bare part: the list holds them all
	for _, l := range []*partList{newPartList(partsOf(50)), newPartList(full)} {
		order := l.newestFirst()
		if len(order) != 50 {
			t.Fatalf("%d indexes for 50 parts", len(order))
		}
		for i := 1; i < len(order); i++ {
			a, b := l.at(int(order[i-1])), l.at(int(order[i]))
			ca := candidate{id: a.ID, start: a.Start}
			if !ca.before(candidate{id: b.ID, start: b.Start}) {
				t.Fatalf("lean %v: part %d (start %d) before part %d (start %d)", l.full == nil, order[i-1], a.Start, order[i], b.Start)
			}
		}
	}
}

// TestPartListHoldsBarePartsLean: a list of bare parts (an ID, a start,
// the same flags) holds them lean and gives them back as they were; any
// other part makes the list hold them whole.
func TestPartListHoldsBarePartsLean(t *testing.T) {
	bare := partsOf(20)
	for i := range bare {
		bare[i].verified = true
	}
	withEnd := partsOf(20)
	withEnd[3].End = 99
	mixed := partsOf(20)
	mixed[5].verified = true
	for _, tc := range []struct {
		name  string
		parts []part
		lean  bool
	}{
		{"bare", bare, true},
		{"an end", withEnd, false},
		{"mixed flags", mixed, false},
	} {
		l := newPartList(slices.Clone(tc.parts))
		if lean := l.full == nil; lean != tc.lean {
			t.Errorf("%s: lean %v, want %v", tc.name, lean, tc.lean)
		}
		if !slices.Equal(l.all(), tc.parts) || l.len() != len(tc.parts) {
			t.Errorf("%s: the list gives back other parts", tc.name)
		}
		for i := range tc.parts {
			if l.at(i) != tc.parts[i] || l.id(i) != tc.parts[i].ID || l.start(i) != tc.parts[i].Start {
				t.Errorf("%s: part %d is %+v, want %+v", tc.name, i, l.at(i), tc.parts[i])
			}
		}
	}
	if lean, whole := newPartList(bare).bytes(), newPartList(withEnd).bytes(); lean*3 > whole {
		t.Errorf("a lean list takes %d bytes, a whole one %d", lean, whole)
	}
}

// TestSearchCacheServesARepeatedSearch: a search repeated over the same
// blocks reads nothing of them again (the summaries, the matches and the
// traces read whole all come from the search cache) and answers the same.
func TestSearchCacheServesARepeatedSearch(t *testing.T) {
	f := newBatchFixture(t)
	misses := func() float64 {
		return promtest.Value(t, f.q.reg, "spanlog_querier_search_cache_requests_total", "result", "miss")
	}
	for _, query := range []string{`{ }`, `{ span.n = 9 }`, `{ name = "op-1" } && { span.n >= 4 }`, `{ traceDuration > 100ms }`} {
		for _, limit := range []int{3, 0} {
			first := search(t, f.q, query, limit)
			before := misses()
			again := search(t, f.q, query, limit)
			if m := misses(); m != before {
				t.Errorf("%s limit %d: searched again, the cache missed %v times", query, limit, m-before)
			}
			if len(first.Traces) == 0 || !slices.EqualFunc(first.Traces, again.Traces, func(a, b *TraceHit) bool {
				return a.TraceID == b.TraceID && a.StartUnixNano == b.StartUnixNano && len(a.Spans) == len(b.Spans)
			}) {
				t.Errorf("%s limit %d: %d hits, then %d others", query, limit, len(first.Traces), len(again.Traces))
			}
		}
	}
}

// TestCopiedRowsShareNothing: the rows the cache keeps are equal to those
// read, but share no memory with them; rows with what a search does not
// read are not kept.
func TestCopiedRowsShareNothing(t *testing.T) {
	s, n := "GET", int64(500)
	rows := []schema.SpanRow{{
		Name:  "span",
		Attrs: []schema.Attribute{{Key: "http.request.method", Str: &s}, {Key: "http.response.status_code", Int: &n}},
	}}
	kept, size, ok := copyRows(rows)
	if !ok || size <= 0 || len(kept) != 1 {
		t.Fatalf("copyRows: %d rows, %d bytes, %v", len(kept), size, ok)
	}
	a, b := kept[0].Attrs, rows[0].Attrs
	if &a[0] == &b[0] || a[0].Str == b[0].Str || a[1].Int == b[1].Int {
		t.Error("the copy shares attributes with the rows read")
	}
	if *a[0].Str != s || *a[1].Int != n || kept[0].Name != "span" || a[0].Key != b[0].Key {
		t.Errorf("the copy differs: %+v", kept[0])
	}
	rows[0].Events = []schema.Event{{Name: "e"}}
	if _, _, ok := copyRows(rows); ok {
		t.Error("rows with events are kept")
	}
}
