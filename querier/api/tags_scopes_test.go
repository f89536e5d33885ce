package api

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
)

// The tags of events, links and the instrumentation scope are listed
// when a request names their scope, and their values are served by
// scoped name; a request for every scope leaves them out, as they are
// read from rows whole.
func TestTagsOfEventsLinksAndScopes(t *testing.T) {
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := startQuerier(t, bkt)
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	ss.Scope().SetName("net/http")
	ss.Scope().Attributes().PutStr("lib.flavor", "std")
	s := ss.Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{0xe1})
	s.SetSpanID(pcommon.SpanID{1})
	s.SetName("op")
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(querytest.Base))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(querytest.Base.Add(time.Millisecond)))
	ev := s.Events().AppendEmpty()
	ev.SetName("exception")
	ev.Attributes().PutStr("exception.message", "boom")
	l := s.Links().AppendEmpty()
	l.SetTraceID(pcommon.TraceID{0xe2})
	l.Attributes().PutStr("link.why", "retry")
	q.produce(t, td)
	mux := routes(q.Querier)

	tags := func(scope string) map[string][]string {
		rec := get(mux, "/api/v2/search/tags?scope="+scope)
		if rec.Code != 200 {
			t.Fatalf("scope=%s: %d %s", scope, rec.Code, rec.Body)
		}
		var res struct {
			Scopes []struct {
				Name string
				Tags []string
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, sc := range res.Scopes {
			out[sc.Name] = sc.Tags
		}
		return out
	}
	await(t, "the live tail's span", func() bool { return slices.Contains(tags("event")["event"], "exception.message") })
	for scope, want := range map[string]string{"link": "link.why", "instrumentation": "lib.flavor"} {
		if got := tags(scope); !slices.Contains(got[scope], want) || len(got) != 1 {
			t.Errorf("scope=%s: %v, want only %s with %s", scope, got, scope, want)
		}
	}
	if all := tags(""); all["event"] != nil || all["span"] == nil {
		t.Errorf("every scope: %v, want span, resource and intrinsic only", all)
	}
	for tag, want := range map[string]string{"event.exception.message": "boom", "link.link.why": "retry", "instrumentation.lib.flavor": "std", "event:name": "exception"} {
		rec := get(mux, "/api/v2/search/tag/"+tag+"/values")
		var res struct{ TagValues []struct{ Value string } }
		if err := json.Unmarshal(rec.Body.Bytes(), &res); rec.Code != 200 || err != nil || len(res.TagValues) != 1 || res.TagValues[0].Value != want {
			t.Errorf("values of %s: %d %s, want %q", tag, rec.Code, rec.Body, want)
		}
	}
	if rec := get(mux, "/api/v2/search/tags?scope=nowhere"); rec.Code != 400 {
		t.Errorf("an unknown scope: %d, want 400", rec.Code)
	}
}
