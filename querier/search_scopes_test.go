package querier

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

// scopedTraceSpans is querytest.TraceSpans with an instrumentation scope
// per minute, and events and links per span number, so that copies of a
// span in several places are still true duplicates: scope lib-(minute%3),
// version v1 on even minutes, attribute lang=go when minute%3 = 0; span n
// has n%3 events, the k-th named ev-((n+k)%3) at (k+1)*100µs with
// attributes k and msg=m-n, and an odd n a link to trace {n} span {n+1}
// with ref=r-(n%4).
func scopedTraceSpans(id pcommon.TraceID, minute int, numbers ...int) ptrace.Traces {
	td := querytest.TraceSpans(id, minute, numbers...)
	ss := td.ResourceSpans().At(0).ScopeSpans().At(0)
	ss.Scope().SetName(fmt.Sprintf("lib-%d", minute%3))
	if minute%2 == 0 {
		ss.Scope().SetVersion("v1")
	}
	if minute%3 == 0 {
		ss.Scope().Attributes().PutStr("lang", "go")
	}
	for i, n := range numbers {
		s := ss.Spans().At(i)
		for k := range n % 3 {
			e := s.Events().AppendEmpty()
			e.SetName(fmt.Sprintf("ev-%d", (n+k)%3))
			e.SetTimestamp(s.StartTimestamp() + pcommon.Timestamp(time.Duration(k+1)*100*time.Microsecond))
			e.Attributes().PutInt("k", int64(k))
			e.Attributes().PutStr("msg", fmt.Sprintf("m-%d", n))
		}
		if n%2 == 1 {
			l := s.Links().AppendEmpty()
			l.SetTraceID(pcommon.TraceID{0: byte(n)})
			l.SetSpanID(pcommon.SpanID{7: byte(n + 1)})
			l.Attributes().PutStr("ref", fmt.Sprintf("r-%d", n%4))
		}
	}
	return td
}

// newScopesFixture is a batch fixture of traces with events, links and
// scopes, split across blocks and the live tail.
func newScopesFixture(t *testing.T, cfg Config) *batchFixture {
	rng := rand.New(rand.NewPCG(9, 10))
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool := make([]pcommon.TraceID, 40)
	for i := range pool {
		pool[i] = randomID(rng)
	}
	for b := range 4 {
		td := ptrace.NewTraces()
		for i := max(0, 10*b-5); i < min(len(pool), 10*b+15); i++ {
			if rng.IntN(10) < 7 {
				scopedTraceSpans(pool[i], i, rng.IntN(6), rng.IntN(6), 4+b).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
			}
		}
		querytest.WriteBlock(t, bkt, b, td)
	}
	f := &batchFixture{q: startQuerierWithin(t, bkt, cfg, tenant.DefaultConfig(), querytest.NoLimits(t))}
	for i, id := range pool[:10] {
		f.q.produce(t, scopedTraceSpans(id, i, 0, 100))
	}
	// A trace by ID waits for the live tail to reach the log's end
	// (read-your-writes); the searches of the tests do not.
	for _, id := range pool[:10] {
		if _, found, err := f.q.FindTrace(context.Background(), []string{querytest.Tenant}, id, TimeRange{}); err != nil || !found {
			t.Fatalf("trace %s: found %v, error %v", id, found, err)
		}
	}
	f.ids = pool
	return f
}

// scopeQueries read events, links and the instrumentation scope, which
// neither a block scan nor the live tail's index can judge: no condition
// on them may prune, and the candidates are read whole.
var scopeQueries = []string{
	`{ event:name = "ev-1" }`,
	`{ event:name = "ev-0" && event.k = 1 }`,
	`{ event.msg = "m-4" } && { span.n = 0 }`,
	`{ event:name = nil && span.n = 3 }`,
	`{ event:timeSinceStart > 150us && span.n < 4 }`,
	`{ link:spanID = "4" }`,
	`{ link:traceID = "05000000000000000000000000000000" && link.ref = "r-1" }`,
	`{ link.ref = "r-3" && span.n > 4 }`,
	`{ instrumentation:name = "lib-1" && span.n = 2 }`,
	`{ instrumentation:version = nil } && { span.n = 100 }`,
	`{ instrumentation.lang = "go" && name = "op-1" }`,
	`{ span.n = 100 } && { event:name = "ev-0" || link.ref != nil }`,
	`{ event.msg != nil } | count() > 3 | select(event.msg, link:traceID)`,
}

// Searches over events, links and instrumentation scopes answer as
// Evaluate does over the whole traces, from blocks and the live tail.
func TestSearchScopesMatchesWholeTraces(t *testing.T) {
	for _, tc := range []struct {
		name          string
		lookup, cache bool
	}{
		{"scan", false, true},
		{"lookup", true, true},
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
			f := newScopesFixture(t, cfg)
			checkScopeQueriesSelect(t, f)
			checkSearchMatchesWholeTraces(t, f, scopeQueries)
		})
	}
}

// checkScopeQueriesSelect checks that each of scopeQueries selects some
// of the fixture's traces but not all, so that a search that finds
// nothing, or everything, fails.
func checkScopeQueriesSelect(t *testing.T, f *batchFixture) {
	t.Helper()
	var traces [][]schema.SpanRow
	_, err := f.q.FindTraces(context.Background(), []string{querytest.Tenant}, f.ids, TimeRange{}, func(_ pcommon.TraceID, td ptrace.Traces) error {
		traces = append(traces, schema.AppendRows(nil, td))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, query := range scopeQueries {
		q, err := traceql.Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rows := range traces {
			if _, ok := q.Evaluate(rows); ok {
				n++
			}
		}
		if n == 0 || n == len(traces) {
			t.Errorf("%s matches %d of %d traces; the test needs some but not all", query, n, len(traces))
		}
	}
}

// select() of the fields of events, links and the instrumentation scope
// shows their values in a search's hits, from blocks and the live tail.
func TestSearchSelectsScopes(t *testing.T) {
	f := newScopesFixture(t, DefaultConfig())
	for _, tt := range []struct {
		query string
		want  string
	}{
		// Span 4 is in blocks: one event, no link.
		{`{ span.n = 4 } | select(event.msg, link:traceID, instrumentation:name)`, `msg="m-4" instrumentation:name="lib-`},
		// Span 5 too: two events, the first with k=0, and a link.
		{`{ span.n = 5 } | select(event.k, link:traceID, link.ref)`, `k=0 link:traceID="05000000000000000000000000000000" ref="r-1"`},
		// Span 100 is in the live tail alone: two events.
		{`{ span.n = 100 } | select(event:name, event:timeSinceStart, instrumentation.lang)`, `event:name="ev-1" event:timeSinceStart=100us`},
	} {
		res := search(t, f.q, tt.query, 0)
		if len(res.Traces) == 0 {
			t.Fatalf("%s: no hits", tt.query)
		}
		for _, hit := range res.Traces {
			for _, s := range hit.Spans {
				var got []string
				for _, kv := range s.Attributes {
					got = append(got, kv.Key+"="+kv.Value.String())
				}
				if line := strings.Join(got, " "); !strings.HasPrefix(line, tt.want) {
					t.Errorf("%s: trace %s selected %s, want %s...", tt.query, pcommon.TraceID(hit.TraceID), line, tt.want)
				}
			}
		}
	}
}

// Tag names and values of events, links and instrumentation scopes, from
// blocks and the live tail, with a query and without.
func TestTagsOfScopes(t *testing.T) {
	f := newScopesFixture(t, DefaultConfig())
	ctx := context.Background()
	tenants := []string{querytest.Tenant}
	names, err := f.q.TagNamesIn(ctx, tenants, TimeRange{}, nil, []string{ScopeEvent, ScopeLink, ScopeInstrumentation, ScopeSpan})
	if err != nil {
		t.Fatal(err)
	}
	wantNames := map[string][]string{
		ScopeEvent: {"k", "msg"}, ScopeLink: {"ref"}, ScopeInstrumentation: {"lang"}, ScopeSpan: {"n"},
		ScopeIntrinsic: traceql.Intrinsics(),
	}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("tag names: got %v, want %v", names, wantNames)
	}
	names, err = f.q.TagNames(ctx, tenants, TimeRange{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := names[ScopeEvent]; ok || len(names[ScopeResource]) == 0 {
		t.Errorf("tag names by default: got %v, want span and resource", names)
	}

	values := func(query, scope, name string) []string {
		t.Helper()
		var q *traceql.Query
		if query != "" {
			if q, err = traceql.Parse(query); err != nil {
				t.Fatal(err)
			}
		}
		vs, err := f.q.TagValues(ctx, tenants, TimeRange{}, q, scope, name, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vs {
			out = append(out, v.Type+":"+v.Value)
		}
		return out
	}
	for _, tt := range []struct {
		query, scope, name string
		want               []string
	}{
		{"", ScopeEvent, "k", []string{"int:0", "int:1"}},
		{"", ScopeLink, "ref", []string{"string:r-1", "string:r-3"}},
		{"", ScopeInstrumentation, "lang", []string{"string:go"}},
		{"", ScopeIntrinsic, "event:name", []string{"string:ev-0", "string:ev-1", "string:ev-2"}},
		{"", "", "instrumentation:name", []string{"string:lib-0", "string:lib-1", "string:lib-2"}},
		{"", "", "instrumentation:version", []string{"string:v1"}},
		{"", ScopeIntrinsic, "link:traceID", []string{
			"string:01000000000000000000000000000000", "string:03000000000000000000000000000000",
			"string:05000000000000000000000000000000", "string:07000000000000000000000000000000",
		}},
		{"", ScopeEvent, "n", nil},
		{`{ span.n = 5 }`, ScopeIntrinsic, "event:name", []string{"string:ev-0", "string:ev-2"}},
		{`{ event:name = "ev-2" }`, ScopeEvent, "msg", []string{"string:m-2", "string:m-5"}},
		{`{ span.n = 100 }`, ScopeEvent, "msg", []string{"string:m-100"}},
	} {
		if got := values(tt.query, tt.scope, tt.name); !slices.Equal(got, tt.want) {
			t.Errorf("values of %s %s under %q: got %q, want %q", tt.scope, tt.name, tt.query, got, tt.want)
		}
	}
	// The live tail's spans (m-100) and the blocks' (m-7) both count.
	msgs := values("", ScopeEvent, "msg")
	if !slices.Contains(msgs, "string:m-100") || !slices.Contains(msgs, "string:m-7") {
		t.Errorf("event msg values %q lack the live tail's m-100 or the blocks' m-7", msgs)
	}
}
