package querier

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// testSpan is a span of a hand-made trace: span IDs are small numbers, 0
// is no parent, times are in milliseconds after querytest.Base.
type testSpan struct {
	id, parent     byte
	service, name  string
	startMs, durMs int
	err            bool
	httpStatusCode int64
}

// spansOf returns the spans of trace id.
func spansOf(id pcommon.TraceID, spans ...testSpan) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, sp := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", sp.service)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(id)
		s.SetSpanID(pcommon.SpanID{7: sp.id})
		if sp.parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{7: sp.parent})
		}
		s.SetName(sp.name)
		start := querytest.Base.Add(time.Duration(sp.startMs) * time.Millisecond)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(sp.durMs) * time.Millisecond)))
		if sp.err {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
		if sp.httpStatusCode != 0 {
			s.Attributes().PutInt("http.status_code", sp.httpStatusCode)
		}
	}
	return td
}

// The spans of the split trace: frontend's root calls backend, which
// calls db. The first part holds the root alone, the second the others;
// each part lasts less than 900ms, the whole trace 960ms.
var (
	splitRoot = testSpan{id: 1, service: "frontend", name: "root", startMs: 0, durMs: 100}
	splitRest = []testSpan{
		{id: 2, parent: 1, service: "backend", name: "call", startMs: 800, durMs: 50, err: true},
		{id: 3, parent: 2, service: "db", name: "query", startMs: 850, durMs: 110, httpStatusCode: 503},
	}
)

// splitQueries hold only if the parts are judged together.
var splitQueries = []string{
	`{ resource.service.name = "frontend" } && { resource.service.name = "db" }`,
	`{ name = "root" } >> { resource.service.name = "db" }`,
	`{ name = "root" } > { resource.service.name = "backend" }`,
	`{ resource.service.name = "backend" } > { name = "query" } && { rootName = "root" }`,
	`{ } | count() > 2`,
	`{ span.http.status_code >= 500 } && { traceDuration > 900ms }`,
	`{ traceDuration > 900ms }`,
	`{ rootServiceName = "frontend" && resource.service.name = "db" }`,
	`{ status = error } && { kind = unspecified && name = "root" }`,
	`{ name = "query" } << { name = "root" }`,
	`{ name = "call" } < { name = "root" }`,
	`{ name = "root" } &>> { resource.service.name = "db" } | count() = 2`,
	`{ span.http.status_code = nil } && { span.http.status_code = 503 }`,
	`{ duration >= 2 * 50ms && kind = unspecified } | count() = 2`,
	`{ span.http.status_code - 3 = 500 } && { rootName = "root" }`,
	`{ span:childCount = 1 } | count() = 2`,
	`{ nestedSetLeft = 3 && name = "query" }`,
	`{ } | by(resource.service.name) | count() = 1 | coalesce() | count() = 3`,
}

// noMatchQueries hold on no trace, whole or in part.
var noMatchQueries = []string{
	`{ resource.service.name = "frontend" } && { resource.service.name = "nowhere" }`,
	`{ } | count() > 3`,
	`{ name = "query" } >> { name = "root" }`,
	`{ traceDuration > 2s }`,
	`{ rootServiceName = "backend" }`,
	// A part alone would match these.
	`{ name = "call" } !< { name = "root" }`,
	`{ name = "root" } !> { name = "call" }`,
	`{ name = "root" } !>> { resource.service.name = "db" }`,
	`{ span:childCount = 0 && name = "root" }`,
}

func TestSearchTraceSplitAcrossBlocks(t *testing.T) {
	id := pcommon.TraceID{0x5a, 1}
	other := pcommon.TraceID{0x5a, 2} // whole in the second block
	bkt := newTestBucket(t)
	// Both blocks are built from the trace's partition, as a block
	// cut of the builder would be.
	p := schema.Partition(querytest.Tenant, id, 4)
	writeBlockOf(t, bkt, schema.OffsetRange{Partition: p, Start: 0, End: 10}, spansOf(id, splitRoot))
	writeBlockOf(t, bkt, schema.OffsetRange{Partition: p, Start: 10, End: 20},
		spansOf(id, splitRest...), spansOf(other, testSpan{id: 9, service: "frontend", name: "root", startMs: 5000, durMs: 10}))
	q := startQuerier(t, bkt)
	checkSplitSearches(t, q, id)
}

func TestSearchTraceSplitAcrossBlockAndLiveTail(t *testing.T) {
	id := pcommon.TraceID{0x5b, 1}
	bkt := newTestBucket(t)
	querytest.WriteBlock(t, bkt, 0, spansOf(id, splitRoot))
	q := startQuerier(t, bkt)
	q.produce(t, spansOf(id, splitRest...))
	awaitLive(t, q, id, 3)
	checkSplitSearches(t, q, id)
}

// checkSplitSearches checks that the split trace id matches exactly the
// queries that hold of it whole, with the fields of the whole trace.
func checkSplitSearches(t *testing.T, q *runningQuerier, id pcommon.TraceID) {
	t.Helper()
	for _, query := range splitQueries {
		res := search(t, q, query, 20)
		i := slices.IndexFunc(res.Traces, func(h *TraceHit) bool { return h.TraceID == id })
		if i < 0 {
			t.Errorf("%s: split trace not found (got %d traces)", query, len(res.Traces))
			continue
		}
		hit := res.Traces[i]
		if hit.RootServiceName != "frontend" || hit.RootTraceName != "root" {
			t.Errorf("%s: root %s/%s, want frontend/root", query, hit.RootServiceName, hit.RootTraceName)
		}
		if d := time.Duration(hit.DurationNanos()); d != 960*time.Millisecond {
			t.Errorf("%s: duration %v, want 960ms", query, d)
		}
		if want := uint64(querytest.Base.UnixNano()); hit.StartUnixNano != want {
			t.Errorf("%s: start %d, want %d", query, hit.StartUnixNano, want)
		}
		stats := map[string]ServiceStats{}
		for svc, st := range hit.ServiceStats {
			stats[svc] = *st
		}
		if want := map[string]ServiceStats{"frontend": {1, 0}, "backend": {1, 1}, "db": {1, 0}}; !mapsEqual(stats, want) {
			t.Errorf("%s: service stats %v, want %v", query, stats, want)
		}
	}
	for _, query := range noMatchQueries {
		if res := search(t, q, query, 20); slices.ContainsFunc(res.Traces, func(h *TraceHit) bool { return h.TraceID == id }) {
			t.Errorf("%s: split trace found", query)
		}
	}
	// The matched spans and aggregates are those of the whole trace.
	res := search(t, q, `{ } | count() > 2`, 20)
	i := slices.IndexFunc(res.Traces, func(h *TraceHit) bool { return h.TraceID == id })
	if got := len(res.Traces[i].Spans); got != 3 {
		t.Errorf("count() > 2 matched %d spans, want 3", got)
	}
	if a := res.Traces[i].Attributes; len(a) != 1 || a[0].Value.Int() != 3 {
		t.Errorf("count() > 2 aggregates %v, want count() = 3", a)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func search(t *testing.T, q *runningQuerier, query string, limit int) *SearchResult {
	t.Helper()
	parsed, err := traceql.Parse(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	res, err := q.Search(context.Background(), []string{querytest.Tenant}, SearchRequest{Query: parsed, Limit: limit, SpansPerSpanSet: 3})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

// awaitLive waits until a trace-by-ID lookup, which waits for the live
// tail to catch up with the log, finds spans spans of id.
func awaitLive(t *testing.T, q *runningQuerier, id pcommon.TraceID, spans int) {
	t.Helper()
	res, found, err := q.FindTrace(context.Background(), []string{querytest.Tenant}, id, TimeRange{})
	if err != nil || !found || res.Trace.SpanCount() != spans {
		t.Fatalf("trace %s: found %v with %d spans, error %v; want %d spans", id, found, res.Trace.SpanCount(), err, spans)
	}
}

func newTestBucket(t *testing.T) objstore.Bucket {
	t.Helper()
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bkt
}

// writeBlockOf writes the spans of tds as the test tenant's block of r.
func writeBlockOf(t *testing.T, bkt objstore.Bucket, r schema.OffsetRange, tds ...ptrace.Traces) *schema.BlockMeta {
	t.Helper()
	b := block.NewBuilder(querytest.Tenant, block.DefaultOptions())
	for _, td := range tds {
		b.Add(td)
	}
	m, err := b.Write(context.Background(), bkt, []schema.OffsetRange{r})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSearchMatchesWholeTraces compares searches over the batch fixture,
// whose traces are spread over overlapping blocks and the live tail with
// duplicate spans, with the query evaluated over each trace as a
// trace-by-ID lookup returns it whole.
func TestSearchMatchesWholeTraces(t *testing.T) {
	for _, tc := range []struct {
		name          string
		lookup, cache bool
	}{
		{"scan", false, true},
		// Whole traces come from lookups by ID, not scans.
		{"lookup", true, true},
		// Every block is read for every search.
		{"uncached", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.lookup {
				cfg.WholeScanShare = 0
			}
			if !tc.cache {
				cfg.SearchCacheBytes = 0
			}
			f := newBatchFixtureWith(t, cfg)
			checkSearchMatchesWholeTraces(t, f, wholeTraceQueries)
		})
	}
}

// wholeTraceQueries are the queries checkSearchMatchesWholeTraces asks
// of the batch fixture.
var wholeTraceQueries = []string{
	`{ span.n = 0 } && { span.n >= 4 }`,
	`{ span.n = 100 }`,
	`{ name = "op-1" } && { name =~ "op-1[01]" }`,
	`{ } | count() > 4`,
	`{ span.n < 4 } | count() = 2`,
	`{ traceDuration > 100ms }`,
	`{ rootName = "op-0" && span.n > 3 }`,
	`{ resource.service.name = "svc-1" } && { span.n = 9 }`,
	`{ resource.service.name != "svc-1" && span.n = 7 }`,
	`{ }`,
	// No condition of the left side of a negated structural
	// operator may prune: a trace without such a span matches.
	`{ span.n = 100 } !~ { span.n < 2 }`,
	`{ span.n = 100 } !> { span.n = 3 }`,
	`{ span.n = 0 } &~ { span.n = 3 }`,
	`{ span.n >= 2 } ~ { span.n = 1 }`,
	`{ span.n = 100 } !< { } | count() > 3`,
	`{ span.n = nil } || { span.nope = nil && span.n = 100 }`,
	`{ span.n * 2 > span.n + 2 && duration < 2 * 1ms }`,
	`{ span:childCount = 0 && span.n = 3 } && { nestedSetParent = -1 && span.n = 100 }`,
	`{ } | by(resource.service.name) | count() > 2`,
}

// checkSearchMatchesWholeTraces checks that Search, lazy and eager,
// cached or not, answers each of queries as Evaluate does over f's
// traces read whole by ID.
func checkSearchMatchesWholeTraces(t *testing.T, f *batchFixture, queries []string) {
	ctx := context.Background()
	whole := map[pcommon.TraceID][]schema.SpanRow{}
	_, err := f.q.FindTraces(ctx, []string{querytest.Tenant}, f.ids, TimeRange{}, func(id pcommon.TraceID, td ptrace.Traces) error {
		whole[id] = schema.AppendRows(nil, td)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, query := range queries {
		parsed, err := traceql.Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		type hitLine struct {
			id    pcommon.TraceID
			start uint64
			line  string
		}
		var want []hitLine
		for id, rows := range whole {
			if sets, ok := parsed.Evaluate(rows); ok {
				start, end := traceql.Bounds(rows)
				want = append(want, hitLine{id, start, fmt.Sprintf("%s %d %d %d", id, start, end-start, len(sets[0].Spans))})
			}
		}
		// Most recent first, as Search orders them.
		slices.SortFunc(want, func(a, b hitLine) int {
			if a.start != b.start {
				return cmp.Compare(b.start, a.start)
			}
			return bytes.Compare(a.id[:], b.id[:])
		})
		// A lazy search first, then an eager one, which fills the
		// search cache with the blocks' matches; then both again, from
		// the cache.
		for _, limit := range []int{3, 0, 3, 0} {
			res := search(t, f.q, query, limit)
			var got, wantLines []string
			for _, h := range res.Traces {
				got = append(got, fmt.Sprintf("%s %d %d %d", pcommon.TraceID(h.TraceID), h.StartUnixNano, h.DurationNanos(), len(h.Spans)))
			}
			for i, w := range want {
				if limit == 0 || i < limit {
					wantLines = append(wantLines, w.line)
				}
			}
			if !slices.Equal(got, wantLines) {
				t.Errorf("%s limit %d:\n got %q\nwant %q", query, limit, got, wantLines)
			}
		}
	}
}

// Tag values under a query come from the spans the query selects in whole
// traces, as search judges them.
func TestTagValuesOfSplitTrace(t *testing.T) {
	id := pcommon.TraceID{0x5c, 1}
	bkt := newTestBucket(t)
	querytest.WriteBlock(t, bkt, 0, spansOf(id, splitRoot))
	querytest.WriteBlock(t, bkt, 1, spansOf(id, splitRest...))
	q := startQuerier(t, bkt)
	query, err := traceql.Parse(`{ name = "root" } >> { status = error }`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.TagValues(context.Background(), []string{querytest.Tenant}, TimeRange{}, query, ScopeResource, "service.name", 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []TagValue{{"string", "backend"}}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	all, err := q.TagValues(context.Background(), []string{querytest.Tenant}, TimeRange{}, nil, ScopeResource, "service.name", 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []TagValue{{"string", "backend"}, {"string", "db"}, {"string", "frontend"}}; !slices.Equal(all, want) {
		t.Errorf("without a query: got %v, want %v", all, want)
	}
}

func TestSearchStopsWhenCancelled(t *testing.T) {
	bkt := newTestBucket(t)
	querytest.WriteBlock(t, bkt, 0, spansOf(pcommon.TraceID{0x5d, 1}, splitRoot))
	q := startQuerier(t, bkt)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	query, err := traceql.Parse(`{ name = "root" }`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Search(ctx, []string{querytest.Tenant}, SearchRequest{Query: query, Limit: 20}); !errors.Is(err, context.Canceled) {
		t.Fatalf("search of a cancelled request ended with %v, want context.Canceled", err)
	}
}

// A trace's other parts can only be in blocks of its own partition, in
// blocks of foreign records, or in blocks whose partition is none of the
// log's.
func TestMayHold(t *testing.T) {
	ts := &tenantScan{tenant: querytest.Tenant, partitions: 4}
	id := [16]byte{0x42, 7}
	p := schema.Partition(ts.tenant, id, ts.partitions)
	idHex := fmt.Sprintf("%x", id)
	meta := func(minID, maxID string, partitions ...int32) *schema.BlockMeta {
		m := &schema.BlockMeta{MinTraceID: minID, MaxTraceID: maxID}
		for _, p := range partitions {
			m.KafkaRanges = append(m.KafkaRanges, schema.OffsetRange{Partition: p})
		}
		return m
	}
	foreign := func(m *schema.BlockMeta) *schema.BlockMeta {
		m.Foreign = true
		return m
	}
	for _, tt := range []struct {
		m    *schema.BlockMeta
		want bool
	}{
		{meta("", "", p), true},
		{meta("", "", (p+1)%4), false},
		{meta("", "", (p+1)%4, p), true}, // compacted across partitions
		{foreign(meta("", "", (p+1)%4)), true},
		{meta("", "", 1000), true},      // no partition of the log
		{meta("", ""), true},            // no ranges
		{meta("43", "ff", p), false},    // the ID is below the range
		{meta("00", "41ff", p), false},  // and above
		{meta("42", "4207ff", p), true}, // within
	} {
		if got := mayHoldTrace(tt.m, idHex, p, ts.partitions); got != tt.want {
			t.Errorf("block %+v: got %v, want %v", *tt.m, got, tt.want)
		}
	}
	if got := (&tenantScan{tenant: querytest.Tenant}).partitionsOf(nil, id); len(got) != 0 {
		t.Errorf("partitions with no partition count: %v, want none", got)
	}
	if !mayHoldTrace(meta("", "", (p+1)%4), idHex, -1, ts.partitions) {
		t.Error("a trace of unknown partition is ruled out")
	}
}

// TestTraceLevelConditionsNeedNoSpans: a query on the whole trace alone
// (its duration, root name or root service) is judged from the summaries
// of each trace's parts, in blocks and live tail, joined: only the traces
// that match are read whole, and a query that matches nothing reads no
// trace. Before trace summaries, every trace was read whole.
func TestTraceLevelConditionsNeedNoSpans(t *testing.T) {
	f := newBatchFixture(t)
	for _, tc := range []struct {
		query string
		hits  bool
	}{
		{`{ traceDuration > 2h }`, false},
		{`{ rootName = "no-such-span" }`, false},
		{`{ rootServiceName = "no-such-service" }`, false},
		{`{ traceDuration > 100ms }`, true},
		{`{ rootName = "op-0" }`, true},
		{`{ rootServiceName = "svc-1" && traceDuration < 1s }`, true},
	} {
		res := search(t, f.q, tc.query, 0)
		if got := int64(len(res.Traces)); res.Metrics.InspectedTraces != got {
			t.Errorf("%s: read %d traces whole for %d hits", tc.query, res.Metrics.InspectedTraces, got)
		}
		if tc.hits != (len(res.Traces) > 0) {
			t.Errorf("%s: %d hits, want some: %v", tc.query, len(res.Traces), tc.hits)
		}
	}
}

// TestLazySearchReadsFewTraces: a search with a limit and a span filter
// checks the most recent traces on the filter's columns, reads those that
// pass whole and judges them, scanning no block's columns while they
// match often enough; when they do not, it scans the
// blocks for the spans that pass and reads only those traces. Either
// way, the answer is the most recent matches.
func TestLazySearchReadsFewTraces(t *testing.T) {
	bkt := newTestBucket(t)
	const blocks, perBlock = 4, 50
	var rare []pcommon.TraceID // most recent first
	for b := range blocks {
		td := ptrace.NewTraces()
		for i := range perBlock {
			k := b*perBlock + i
			id := pcommon.TraceID{byte(k), 0x1a}
			spans := []int{0, 1, 2}
			if k%40 == 7 {
				spans = append(spans, 9)
				rare = append([]pcommon.TraceID{id}, rare...)
			}
			querytest.TraceSpans(id, k, spans...).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		querytest.WriteBlock(t, bkt, b, td)
	}
	q := startQuerier(t, bkt)
	for _, tc := range []struct {
		query string
		limit int
		want  []pcommon.TraceID
		scans float64
	}{
		{`{ name = "op-1" }`, 5, []pcommon.TraceID{{199, 0x1a}, {198, 0x1a}, {197, 0x1a}, {196, 0x1a}, {195, 0x1a}}, 0},
		// The third most recent is in block 1: block 0 is not read.
		{`{ name = "op-9" }`, 3, rare[:3], blocks - 1},
		{`{ name = "nowhere" }`, 5, nil, blocks},
		// No limit: eager. The search cache holds the matches of the
		// blocks scanned above: only block 0 is scanned.
		{`{ name = "op-9" }`, 0, rare, 1},
		// Again, from the search cache alone, lazy or not: a lazy search
		// takes the matches the cache holds for the guesses it would
		// make.
		{`{ name = "op-9" }`, 3, rare[:3], 0},
		{`{ name = "op-9" }`, 0, rare, 0},
		{`{ name = "nowhere" }`, 5, nil, 0},
	} {
		before := promtest.Value(t, q.reg, "spanlog_querier_search_filter_scans_total")
		res := search(t, q, tc.query, tc.limit)
		var got []pcommon.TraceID
		for _, h := range res.Traces {
			got = append(got, h.TraceID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s limit %d: got %v, want %v", tc.query, tc.limit, got, tc.want)
		}
		if scans := promtest.Value(t, q.reg, "spanlog_querier_search_filter_scans_total") - before; scans != tc.scans {
			t.Errorf("%s limit %d: scanned %v blocks for the filter, want %v", tc.query, tc.limit, scans, tc.scans)
		}
		// A guess is checked on the filter's columns before it is
		// read whole: every trace read whole is a hit.
		if res.Metrics.InspectedTraces != int64(len(got)) {
			t.Errorf("%s limit %d: read %d traces whole for %d hits", tc.query, tc.limit, res.Metrics.InspectedTraces, len(got))
		}
	}
}

// TestSearchReadsRecentBlocksFirst: a search with a limit reads blocks most
// recent first, and none that cannot hold a trace of the answer, yet
// answers as a search of every block does: a block with an older trace
// range that holds a recent trace is read in time, and a trace split
// across an old block and a new one is judged whole.
func TestSearchReadsRecentBlocksFirst(t *testing.T) {
	bkt := newTestBucket(t)
	const blocks, perBlock = 4, 50
	split := pcommon.TraceID{0xee, 1} // its start is in block 0, a part in block 3
	late := pcommon.TraceID{0xee, 2}  // in block 2, later than block 3's traces
	for b := range blocks {
		td := ptrace.NewTraces()
		for i := range perBlock {
			k := b*perBlock + i
			querytest.TraceSpans(pcommon.TraceID{byte(k), 0x2b}, k, 0, 1).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		switch b {
		case 0:
			querytest.TraceSpans(split, 10, 0).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		case 2:
			querytest.TraceSpans(late, 250, 0, 1).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		case 3:
			querytest.TraceSpans(split, 300, 1).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		querytest.WriteBlock(t, bkt, b, td)
	}
	q := startQuerier(t, bkt)
	newest := []pcommon.TraceID{late, {199, 0x2b}, {198, 0x2b}, {197, 0x2b}, {196, 0x2b}}
	for _, query := range []string{`{}`, `{ name = "op-1" }`} {
		res := search(t, q, query, 5)
		var got []pcommon.TraceID
		for _, h := range res.Traces {
			got = append(got, h.TraceID)
		}
		if !slices.Equal(got, newest) {
			t.Errorf("%s limit 5: got %v, want %v", query, got, newest)
		}
		// Blocks 3 and 2; 1 and 0 end before the fifth hit starts.
		if m := res.Metrics; m.InspectedBytes <= 0 || m.InspectedBytes*3 > m.TotalBlockBytes*2 {
			t.Errorf("%s limit 5: read %d bytes of %d blocks' %d", query, m.InspectedBytes, m.TotalBlocks, m.TotalBlockBytes)
		}
		all := search(t, q, query, 0)
		if m := all.Metrics; m.InspectedBytes != m.TotalBlockBytes {
			t.Errorf("%s without a limit: read %d bytes of %d", query, m.InspectedBytes, m.TotalBlockBytes)
		}
		if len(all.Traces) != blocks*perBlock+2 {
			t.Errorf("%s without a limit: %d traces, want %d", query, len(all.Traces), blocks*perBlock+2)
		}
	}
}

// TestSearchRereadsABlockPastItsHeldCandidates: a search with a limit holds
// only the most recent keepPerBlock candidates of a block it read, and
// reads the block again for older ones when those run out, so that the
// answer is the same as when every candidate is held: here the fifth
// most recent match is older than the first thousand traces of the block.
func TestSearchRereadsABlockPastItsHeldCandidates(t *testing.T) {
	bkt := newTestBucket(t)
	const traces, every, limit = 3000, 250, 5
	if keepPerBlock(limit) >= every*limit {
		t.Fatalf("keepPerBlock(%d) = %d holds the answer: the test reads no block again", limit, keepPerBlock(limit))
	}
	td := ptrace.NewTraces()
	var rare []pcommon.TraceID // most recent first
	for k := range traces {
		id := pcommon.TraceID{byte(k >> 8), byte(k), 0x3c}
		spans := []int{0, 1}
		if k%every == 3 {
			spans = append(spans, 9)
			rare = append([]pcommon.TraceID{id}, rare...)
		}
		querytest.TraceSpans(id, k, spans...).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	querytest.WriteBlock(t, bkt, 0, td)
	q := startQuerier(t, bkt)
	for _, tc := range []struct {
		query string
		want  []pcommon.TraceID
	}{
		{`{ name = "op-9" }`, rare[:limit]},
		{`{ span.n = 9 }`, rare[:limit]},
		{`{}`, []pcommon.TraceID{{11, 183, 0x3c}, {11, 182, 0x3c}, {11, 181, 0x3c}, {11, 180, 0x3c}, {11, 179, 0x3c}}},
	} {
		res := search(t, q, tc.query, limit)
		var got []pcommon.TraceID
		for _, h := range res.Traces {
			got = append(got, h.TraceID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s limit %d: got %v, want %v", tc.query, limit, got, tc.want)
		}
	}
}
