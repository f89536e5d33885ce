package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// searchCase is a TraceQL query and, computed from what was sent without
// any TraceQL, whether a trace must match it: S is a trace's spans as the
// sender recorded them.
type searchCase[S any] struct {
	q       string
	matches func(spans S) bool
}

// checkSearch runs each case's query against the querier at addr and
// checks that it finds exactly the traces of sent that match it.
func checkSearch[S any](t *testing.T, addr, when string, sent map[string]S, cases []searchCase[S]) {
	t.Helper()
	checkSearchAs(t, addr, "", when, sent, cases)
}

// checkSearchAs is checkSearch for tenant, sent in X-Scope-OrgID when not
// empty.
func checkSearchAs[S any](t *testing.T, addr, tenant, when string, sent map[string]S, cases []searchCase[S]) {
	t.Helper()
	for _, c := range cases {
		var want []string
		for id, spans := range sent {
			if c.matches(spans) {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		if len(want) == 0 {
			t.Fatalf("%s matches nothing sent: the case proves nothing", c.q)
		}
		if got := searchAs(t, addr, tenant, c.q); !slices.Equal(got, want) {
			t.Errorf("%s: %s found %d traces, want %d", when, c.q, len(got), len(want))
		}
	}
}

func anySpan(spans []sdktrace.ReadOnlySpan, pred func(sdktrace.ReadOnlySpan) bool) bool {
	return slices.ContainsFunc(spans, pred)
}

func countMatching(spans []sdktrace.ReadOnlySpan, pred func(sdktrace.ReadOnlySpan) bool) int {
	n := 0
	for _, s := range spans {
		if pred(s) {
			n++
		}
	}
	return n
}

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range append(s.Attributes(), s.Resource().Attributes()...) {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func service(s sdktrace.ReadOnlySpan) string {
	v, _ := attr(s, "service.name")
	return v.AsString()
}

func isChild(s sdktrace.ReadOnlySpan) bool { return s.Parent().IsValid() }

var searchCases = []searchCase[[]sdktrace.ReadOnlySpan]{
	{`{ resource.service.name = "checkout" }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return service(s) == "checkout" })
	}},
	{`{ span.http.response.status_code >= 500 }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool {
			v, ok := attr(s, "http.response.status_code")
			return ok && v.AsInt64() >= 500
		})
	}},
	{`{ status = error }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return s.Status().Code == codes.Error })
	}},
	{`{ kind = server && name =~ "GET /item/1.*" }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool {
			return s.SpanKind() == trace.SpanKindServer && strings.HasPrefix(s.Name(), "GET /item/1")
		})
	}},
	{`{ name = "query 0" } && { name = "query 1" }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "query 0" }) &&
			anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "query 1" })
	}},
	{`{ kind = server } > { status = error }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return isChild(s) && s.Status().Code == codes.Error })
	}},
	{`{ .db.system = "postgresql" } | count() > 2`, func(ss []sdktrace.ReadOnlySpan) bool {
		return countMatching(ss, func(s sdktrace.ReadOnlySpan) bool {
			v, ok := attr(s, "db.system")
			return ok && v.AsString() == "postgresql"
		}) > 2
	}},
	{`{ resource.service.name = "payments" && span.cached = true }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool {
			v, ok := attr(s, "cached")
			return service(s) == "payments" && ok && v.AsBool()
		})
	}},
	{`{ .rows = 1 } || { .rows = 3 }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool {
			v, ok := attr(s, "rows")
			return ok && (v.AsInt64() == 1 || v.AsInt64() == 3)
		})
	}},
	{`{}`, func([]sdktrace.ReadOnlySpan) bool { return true }},
	{`{ name = "query 1" } ~ { name = "query 0" }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "query 1" })
	}},
	// Most matching traces have no span on the left.
	{`{ status = error } !~ { name = "query 0" }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return !anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return s.Status().Code == codes.Error })
	}},
	{`{ name = "query 2" } < { kind = server }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "query 2" })
	}},
	{`{ kind = server } &> { status = error } | count() = 2`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return s.Status().Code == codes.Error })
	}},
	{`{ span.rows = nil } && { span.rows * 2 > span.rows + 1 }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool {
			v, ok := attr(s, "rows")
			return ok && v.AsInt64() > 1
		})
	}},
	{`{ span.http.response.status_code >= 2 * 200 + 100 } with(most_recent=true)`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool {
			v, ok := attr(s, "http.response.status_code")
			return ok && v.AsInt64() >= 500
		})
	}},
	{`{ span:childCount > 2 }`, func(ss []sdktrace.ReadOnlySpan) bool { return countMatching(ss, isChild) > 2 }},
	{`{ } | by(span:kind) | count() > 2 | coalesce()`, func(ss []sdktrace.ReadOnlySpan) bool { return countMatching(ss, isChild) > 2 }},
	// Events, links and the instrumentation scope: a filter holds on a
	// span when it holds on one of its events (and links).
	{`{ event:name = "rows fetched" && event.count = 2 }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return anyEvent(s, "rows fetched", "count", 2) })
	}},
	{`{ event.count = 1 } && { event.count = 3 }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return anyEvent(s, "", "count", 1) }) &&
			anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return anyEvent(s, "", "count", 3) })
	}},
	{`{ event:timeSinceStart >= 0s && event:name != "x" } | count() > 2`, func(ss []sdktrace.ReadOnlySpan) bool {
		return countMatching(ss, func(s sdktrace.ReadOnlySpan) bool {
			return slices.ContainsFunc(s.Events(), func(e sdktrace.Event) bool { return !e.Time.Before(s.StartTime()) })
		}) > 2
	}},
	{`{ link.why = "retry" && kind = server && link:traceID =~ "[0-7].*" }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool {
			return s.SpanKind() == trace.SpanKindServer && slices.ContainsFunc(s.Links(), func(l sdktrace.Link) bool {
				return strings.ContainsAny(l.SpanContext.TraceID().String()[:1], "01234567") &&
					slices.Contains(l.Attributes, attribute.String("why", "retry"))
			})
		})
	}},
	{`{ link:spanID != nil } >> { event.count = 0 }`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return len(s.Links()) > 0 })
	}},
	{`{ instrumentation:name = "spanlog/e2e" && instrumentation:version = "1.2.3" && event:name = nil } | select(instrumentation:name)`, func(ss []sdktrace.ReadOnlySpan) bool {
		return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool {
			return s.InstrumentationScope().Name == "spanlog/e2e" && s.InstrumentationScope().Version == "1.2.3" && len(s.Events()) == 0
		})
	}},
}

// anyEvent reports whether s has an event named name (any name if "")
// whose attribute key holds the integer v.
func anyEvent(s sdktrace.ReadOnlySpan, name, key string, v int64) bool {
	return slices.ContainsFunc(s.Events(), func(e sdktrace.Event) bool {
		return (name == "" || e.Name == name) && slices.Contains(e.Attributes, attribute.Int64(key, v))
	})
}

// search runs q and returns the trace IDs found.
func search(t *testing.T, addr, q string) []string {
	t.Helper()
	return searchAs(t, addr, "", q)
}

// searchAs is search for tenant, sent in X-Scope-OrgID when not empty.
func searchAs(t *testing.T, addr, tenant, q string) []string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/api/search?limit=10000&q="+url.QueryEscape(q), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("search %s: status %d", q, resp.StatusCode)
	}
	var body struct {
		Traces []struct {
			TraceID         string `json:"traceID"`
			RootServiceName string `json:"rootServiceName"`
			SpanSets        []struct {
				Matched int `json:"matched"`
			} `json:"spanSets"`
		} `json:"traces"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("search %s: %v", q, err)
	}
	var ids []string
	for _, tr := range body.Traces {
		if len(tr.SpanSets) == 0 || tr.SpanSets[0].Matched == 0 || tr.RootServiceName == "" {
			t.Fatalf("search %s: trace %s without a matched spanset or root service", q, tr.TraceID)
		}
		ids = append(ids, tr.TraceID)
	}
	slices.Sort(ids)
	return ids
}

// TestSearch checks that each query of a suite finds exactly the traces
// that match it by the sender's own account, from the live tail and from
// blocks.
func TestSearch(t *testing.T) {
	n := newNode(t)
	n.start(t)
	sent := sendTraces(t, "grpc", n.OTLPGRPC, "checkout", 20)
	for id, spans := range sendTraces(t, "http", n.OTLPHTTP, "payments", 20) {
		sent[id] = spans
	}
	checkSearch(t, n.HTTP, "live tail", sent, searchCases)
	checkTags(t, n.HTTP)
	checkScopeTagValues(t, n.HTTP)
	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, n.HTTP, "spanlog_block_builder_blocks_flushed_total") > 0 &&
			metric(t, n.HTTP, "spanlog_querier_live_records") == 0
	})
	checkSearch(t, n.HTTP, "blocks", sent, searchCases)
	checkTags(t, n.HTTP)
	checkScopeTagValues(t, n.HTTP)

	for q, want := range map[string]int{
		"{ span.x = }":     http.StatusBadRequest,
		"{ } | rate()":     http.StatusBadRequest,
		"{ parent.a = 1 }": http.StatusBadRequest,
		"":                 http.StatusOK,
	} {
		resp, err := http.Get("http://" + n.HTTP + "/api/search?q=" + url.QueryEscape(q))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("search %q: status %d, want %d", q, resp.StatusCode, want)
		}
	}
}

// checkScopeTagValues checks the values of the event and instrumentation
// intrinsics against what sendTraces sends: one event name, one scope.
func checkScopeTagValues(t *testing.T, addr string) {
	t.Helper()
	for tag, want := range map[string]string{
		"event:name":              "rows fetched",
		"instrumentation:name":    "spanlog/e2e",
		"instrumentation:version": "1.2.3",
	} {
		var v2 struct {
			TagValues []struct{ Type, Value string } `json:"tagValues"`
		}
		getJSON(t, addr, "/api/v2/search/tag/"+tag+"/values", &v2)
		if len(v2.TagValues) != 1 || v2.TagValues[0].Type != "string" || v2.TagValues[0].Value != want {
			t.Errorf("values of %s: got %+v, want the string %q", tag, v2.TagValues, want)
		}
	}
}

// getJSON fetches path and decodes its JSON body into v.
func getJSON(t *testing.T, addr, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// checkTags checks the tag and value endpoints against what sendTraces
// sends.
func checkTags(t *testing.T, addr string) {
	t.Helper()
	var v1 struct {
		TagNames []string `json:"tagNames"`
	}
	getJSON(t, addr, "/api/search/tags", &v1)
	for _, want := range []string{"service.name", "host.name", "http.request.method", "db.system", "rows"} {
		if !slices.Contains(v1.TagNames, want) {
			t.Errorf("tag names %v lack %s", v1.TagNames, want)
		}
	}

	var v2 struct {
		Scopes []struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		} `json:"scopes"`
	}
	getJSON(t, addr, "/api/v2/search/tags?scope=resource", &v2)
	if len(v2.Scopes) != 1 || v2.Scopes[0].Name != "resource" || !slices.Equal(v2.Scopes[0].Tags, []string{"host.name", "process.pid", "service.name"}) {
		t.Errorf("resource tags: %+v", v2.Scopes)
	}
	getJSON(t, addr, "/api/v2/search/tags", &v2)
	if len(v2.Scopes) != 3 || v2.Scopes[2].Name != "intrinsic" || !slices.Contains(v2.Scopes[2].Tags, "status") {
		t.Errorf("all scopes: %+v", v2.Scopes)
	}

	var values struct {
		TagValues []string `json:"tagValues"`
	}
	getJSON(t, addr, "/api/search/tag/service.name/values", &values)
	if !slices.Equal(values.TagValues, []string{"checkout", "payments"}) {
		t.Errorf("service.name values %v", values.TagValues)
	}

	type typed struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	for path, want := range map[string][]typed{
		"/api/v2/search/tag/resource.service.name/values": {{"string", "checkout"}, {"string", "payments"}},
		"/api/v2/search/tag/status/values":                {{"keyword", "error"}, {"keyword", "ok"}, {"keyword", "unset"}},
		"/api/v2/search/tag/span.db.system/values":        {{"string", "postgresql"}},
		"/api/v2/search/tag/resource.service.name/values?q=" + url.QueryEscape(`{ .cached = true && resource.service.name = "payments" }`): {{"string", "payments"}},
		"/api/v2/search/tag/.rows/values?q=" + url.QueryEscape(`{ name = "query 2" }`):                                                     {{"int", "2"}},
	} {
		var got struct {
			TagValues []typed `json:"tagValues"`
		}
		getJSON(t, addr, path, &got)
		if !slices.Equal(got.TagValues, want) {
			t.Errorf("%s = %v, want %v", path, got.TagValues, want)
		}
	}
}
