package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// grafana replays the requests Grafana's Tempo data source sends, built as
// it builds them, and decodes the answers into the messages it decodes.
type grafana struct {
	t        *testing.T
	url      string // the data source URL
	from, to time.Time
}

// encodeURIComponent encodes s as Grafana's urlUtil.serializeParams does:
// JavaScript's encodeURIComponent, after which @ : $ and , are put back
// and ! ' ( ) * encoded too, so that only these stay as they are.
func encodeURIComponent(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~@:$,", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// params serializes key, value pairs, in order, as Grafana's _request does.
func params(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, encodeURIComponent(kv[i])+"="+encodeURIComponent(kv[i+1]))
	}
	if len(parts) == 0 {
		return ""
	}
	return "?" + strings.Join(parts, "&")
}

// get sends a GET for path (already encoded) with accept, and returns the
// status and body.
func (g *grafana) get(path, accept string) (int, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.url+path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	status, body, err := do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	return status, body
}

// getJSON GETs path as Grafana's frontend does and decodes the 200 answer
// strictly into v.
func (g *grafana) getJSON(path string, v any) {
	g.t.Helper()
	status, body := g.get(path, "application/json, text/plain, */*")
	if status != http.StatusOK {
		g.t.Fatalf("GET %s: status %d: %s", path, status, body)
	}
	if err := decodeStrict(body, v); err != nil {
		g.t.Fatalf("GET %s: Grafana could not decode %s: %v", path, body, err)
	}
}

func (g *grafana) start() string { return strconv.FormatInt(g.from.Unix(), 10) }
func (g *grafana) end() string   { return strconv.FormatInt(g.to.Unix(), 10) }

// trace fetches a trace as the data source's backend does: v2 in protobuf,
// and on 404 the v1 API, as for a Tempo older than 2.5. With a time shift
// configured it sends start and end; without, neither. It returns the
// status of the last request, the API that answered and the response.
func (g *grafana) trace(id string, withRange bool) (int, string, traceByIDResponse) {
	g.t.Helper()
	query := ""
	if withRange {
		query = "?start=" + g.start() + "&end=" + g.end()
	}
	status, body := g.get("/api/v2/traces/"+id+query, "application/protobuf")
	api := "v2"
	if status == http.StatusNotFound {
		api = "v1"
		status, body = g.get("/api/traces/"+id+query, "application/protobuf")
	}
	if status != http.StatusOK {
		return status, api, traceByIDResponse{}
	}
	var res traceByIDResponse
	var err error
	if api == "v2" {
		res, err = decodeTraceByIDResponseStrict(body)
	} else {
		res.trace, err = decodeTraceStrict(body)
	}
	if err != nil {
		g.t.Fatalf("%s trace %s: Grafana could not decode the answer: %v", api, id, err)
	}
	return status, api, res
}

// TestGrafanaReplay sends traces with the OpenTelemetry SDK, then replays,
// in Grafana's order, what its Tempo data source asks when a user tests the
// data source, opens the query editor, picks tags and values, searches and
// opens a trace; from the live tail, then from blocks. Every answer is
// decoded as Grafana decodes it and checked against what was sent.
func TestGrafanaReplay(t *testing.T) {
	n := newNode(t)
	n.start(t)
	sent := sendTraces(t, "grpc", n.OTLPGRPC, "checkout", 10)
	maps.Copy(sent, sendTraces(t, "http", n.OTLPHTTP, "payments", 10))

	g := &grafana{t: t, url: "http://" + n.HTTP, from: time.Now().Add(-time.Hour), to: time.Now()}
	g.replay("live tail", sent)
	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, n.HTTP, "spanlog_block_builder_blocks_flushed_total") > 0 &&
			metric(t, n.HTTP, "spanlog_querier_live_records") == 0
	})
	g.replay("blocks", sent)

	// Against a Tempo without the v2 API, Grafana falls back to v1: a
	// proxy that answers 404 to v2 stands for one.
	target, _ := url.Parse(g.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v2/") {
			http.NotFound(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer old.Close()
	older := &grafana{t: t, url: old.URL, from: g.from, to: g.to}
	for id, spans := range sent {
		status, api, res := older.trace(id, true)
		if status != http.StatusOK || api != "v1" {
			t.Fatalf("fallback: trace %s: status %d from %s, want 200 from v1", id, status, api)
		}
		if err := sameSpans(spans, res.trace); err != nil {
			t.Fatalf("fallback: trace %s: %v", id, err)
		}
	}
}

// replay runs the data source's requests and checks each answer.
func (g *grafana) replay(when string, sent map[string][]sdktrace.ReadOnlySpan) {
	t := g.t
	t.Helper()
	byService := map[string][]string{}
	for id, spans := range sent {
		byService[service(spans[0])] = append(byService[service(spans[0])], id)
	}

	// Save & test: the health check.
	if status, body := g.get("/api/echo", ""); status != http.StatusOK || string(body) != "echo" {
		t.Fatalf("%s: /api/echo = %d %q", when, status, body)
	}
	// The data source's init: the version, for feature detection.
	var info buildInfo
	g.getJSON("/api/status/buildinfo", &info)
	if info.Version == "" || info.GoVersion == "" {
		t.Errorf("%s: buildinfo %+v lacks a version", when, info)
	}
	// Grafana reads it as semver: from 2.2.0 it streams searches over
	// gRPC, and from 2.7.0 TraceQL metrics, both of which spanlog serves.
	if semverBelow(info.Version, 2, 7) {
		t.Errorf("%s: buildinfo version %q is not semver from 2.7.0", when, info.Version)
	}

	g.checkTags(when, sent)

	// A search built with the query builder's filters, then TraceQL typed
	// in the editor, each with the data source's limit and spans per set.
	g.checkSearch(when, sent, `{resource.service.name="checkout"}`, 20, 3, byService["checkout"])
	var failing []string
	for id, spans := range sent {
		if anySpan(spans, func(s sdktrace.ReadOnlySpan) bool { return s.Status().Code == codes.Error }) {
			failing = append(failing, id)
		}
	}
	g.checkSearch(when, sent, `{ span.db.system = "postgresql" && status = error } | count() > 0`, 100, 2, failing)
	// limit caps the traces: the data source's default is 20.
	var page searchResponse
	g.getJSON("/api/search"+params("q", "{}", "limit", "5", "spss", "3", "start", g.start(), "end", g.end()), &page)
	if len(page.Traces) != 5 {
		t.Errorf("%s: search with limit=5 returned %d traces", when, len(page.Traces))
	}

	// Opening a trace: v2 in protobuf, with and without a time range, then
	// the same as protobuf JSON.
	for id, spans := range sent {
		for _, withRange := range []bool{false, true} {
			status, api, res := g.trace(id, withRange)
			if status != http.StatusOK || api != "v2" {
				t.Fatalf("%s: trace %s: status %d from %s", when, id, status, api)
			}
			if err := sameSpans(spans, res.trace); err != nil {
				t.Fatalf("%s: trace %s: %v", when, id, err)
			}
			if res.partial || res.message != "" {
				t.Errorf("%s: trace %s: partial %v %q", when, id, res.partial, res.message)
			}
		}
		status, body := g.get("/api/v2/traces/"+id, "application/json")
		if status != http.StatusOK {
			t.Fatalf("%s: v2 JSON trace %s: status %d", when, id, status)
		}
		td, _, err := decodeTraceByIDResponseJSON(body)
		if err != nil {
			t.Fatalf("%s: v2 JSON trace %s: %v", when, id, err)
		}
		if err := sameSpans(spans, td); err != nil {
			t.Fatalf("%s: v2 JSON trace %s: %v", when, id, err)
		}
	}
	// A trace that is not there: 404 from v2, then from v1, which Grafana
	// shows as "failed to get trace".
	if status, api, _ := g.trace(randomTraceIDs(1)[0], false); status != http.StatusNotFound || api != "v1" {
		t.Errorf("%s: unknown trace: status %d from %s, want 404 from v1", when, status, api)
	}
}

// checkTags replays the editor's tag and value lookups: v2 names by scope
// (then v1, Grafana's fallback), and values, typed, for a tag alone, for a
// tag under the query built so far, and under a query still being typed.
func (g *grafana) checkTags(when string, sent map[string][]sdktrace.ReadOnlySpan) {
	t := g.t
	t.Helper()
	wantScopes := map[string][]string{
		"resource":  {"host.name", "process.pid", "service.name"},
		"span":      {"cached", "db.system", "http.request.method", "http.response.status_code", "ratio", "rows", "tags"},
		"intrinsic": {"duration", "kind", "name", "status"},
	}
	for _, path := range []string{
		"/api/v2/search/tags",
		"/api/v2/search/tags" + params("limit", "5000", "start", g.start(), "end", g.end()),
	} {
		var v2 searchTagsV2Response
		g.getJSON(path, &v2)
		got := map[string][]string{}
		for _, s := range v2.Scopes {
			got[s.Name] = s.Tags
		}
		for scope, want := range wantScopes {
			for _, tag := range want {
				if !slices.Contains(got[scope], tag) {
					t.Errorf("%s: %s: scope %s lacks %s: %v", when, path, scope, tag, got[scope])
				}
			}
		}
	}
	var v1 searchTagsResponse
	g.getJSON("/api/search/tags", &v1)
	for _, tag := range slices.Concat(wantScopes["resource"], wantScopes["span"]) {
		if !slices.Contains(v1.TagNames, tag) {
			t.Errorf("%s: /api/search/tags lacks %s: %v", when, tag, v1.TagNames)
		}
	}

	var names, names200, statuses, codesSeen []string
	for _, spans := range sent {
		for _, s := range spans {
			if service(s) == "payments" {
				names = append(names, "string:"+s.Name())
			}
			if v, ok := attr(s, "http.response.status_code"); ok && v.AsInt64() == 200 {
				names200 = append(names200, "string:"+s.Name())
			}
			statuses = append(statuses, "keyword:"+map[codes.Code]string{codes.Unset: "unset", codes.Ok: "ok", codes.Error: "error"}[s.Status().Code])
			if v, ok := attr(s, "http.response.status_code"); ok {
				codesSeen = append(codesSeen, "int:"+strconv.FormatInt(v.AsInt64(), 10))
			}
		}
	}
	for _, tc := range []struct {
		tag, q string
		want   []string
	}{
		{"resource.service.name", "", []string{"string:checkout", "string:payments"}},
		{"name", `{resource.service.name="payments"}`, names},
		{"status", "", statuses},
		{"span.http.response.status_code", "", codesSeen},
		// The editor's query as typed so far, up to the value asked for.
		{"span.db.system", `{resource.service.name="checkout" && span.db.system=}`, []string{"string:postgresql"}},
		{"name", `{ span.http.response.status_code = 200 && name = }`, names200},
	} {
		kv := []string{"limit", "5000"}
		if tc.q != "" {
			kv = append(kv, "q", tc.q)
		}
		path := "/api/v2/search/tag/" + encodeURIComponent(tc.tag) + "/values" + params(kv...)
		var res searchTagValuesV2Response
		g.getJSON(path, &res)
		var got []string
		for _, v := range res.TagValues {
			got = append(got, v.Type+":"+v.Value)
		}
		want := slices.Compact(slices.Sorted(slices.Values(tc.want)))
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: values of %s under %q = %v, want %v", when, tc.tag, tc.q, got, want)
		}
	}
	var v1Values searchTagValuesResponse
	g.getJSON("/api/search/tag/service.name/values", &v1Values)
	if !slices.Equal(v1Values.TagValues, []string{"checkout", "payments"}) {
		t.Errorf("%s: v1 values of service.name = %v", when, v1Values.TagValues)
	}
}

// checkSearch runs q as the data source does and checks that it finds
// exactly want, each hit as Grafana's table shows it: root service and
// name, start, duration, the matched spans and the service stats.
func (g *grafana) checkSearch(when string, sent map[string][]sdktrace.ReadOnlySpan, q string, limit, spss int, want []string) {
	t := g.t
	t.Helper()
	var res searchResponse
	g.getJSON("/api/search"+params("q", q, "limit", strconv.Itoa(limit), "spss", strconv.Itoa(spss), "start", g.start(), "end", g.end()), &res)
	if res.Metrics == nil || res.Metrics.InspectedTraces == 0 {
		t.Errorf("%s: %s: metrics %+v", when, q, res.Metrics)
	}
	var got []string
	for _, hit := range res.Traces {
		got = append(got, hit.TraceID)
		spans, ok := sent[hit.TraceID]
		if !ok {
			t.Errorf("%s: %s: found trace %s, never sent", when, q, hit.TraceID)
			continue
		}
		if err := checkHit(hit, spans, spss); err != nil {
			t.Errorf("%s: %s: trace %s: %v", when, q, hit.TraceID, err)
		}
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("%s: %s found %d traces, want %d", when, q, len(got), len(want))
	}
}

func checkHit(hit traceSearchMetadata, spans []sdktrace.ReadOnlySpan, spss int) error {
	byID := map[string]sdktrace.ReadOnlySpan{}
	var root sdktrace.ReadOnlySpan
	first, last := spans[0].StartTime(), spans[0].EndTime()
	errs := 0
	for _, s := range spans {
		byID[s.SpanContext().SpanID().String()] = s
		if !s.Parent().IsValid() {
			root = s
		}
		if s.StartTime().Before(first) {
			first = s.StartTime()
		}
		if s.EndTime().After(last) {
			last = s.EndTime()
		}
		if s.Status().Code == codes.Error {
			errs++
		}
	}
	switch {
	case hit.RootServiceName != service(root) || hit.RootTraceName != root.Name():
		return fmt.Errorf("root %s %q, want %s %q", hit.RootServiceName, hit.RootTraceName, service(root), root.Name())
	case uint64(hit.StartTimeUnixNano) != uint64(first.UnixNano()):
		return fmt.Errorf("start %d, want %d", hit.StartTimeUnixNano, first.UnixNano())
	case hit.DurationMs != uint32(last.Sub(first).Milliseconds()):
		return fmt.Errorf("duration %d ms, want %d", hit.DurationMs, last.Sub(first).Milliseconds())
	case len(hit.SpanSets) != 1:
		return fmt.Errorf("%d span sets, want 1", len(hit.SpanSets))
	case hit.ServiceStats[service(root)] != (serviceStats{SpanCount: uint32(len(spans)), ErrorCount: uint32(errs)}):
		return fmt.Errorf("service stats %+v, want %d spans and %d errors", hit.ServiceStats, len(spans), errs)
	}
	set := hit.SpanSets[0]
	if len(set.Spans) == 0 || len(set.Spans) > spss || int(set.Matched) < len(set.Spans) {
		return fmt.Errorf("%d spans shown of %d matched, spss %d", len(set.Spans), set.Matched, spss)
	}
	for _, s := range set.Spans {
		sent, ok := byID[s.SpanID]
		switch {
		case !ok:
			return fmt.Errorf("span %s is not in the trace", s.SpanID)
		case s.Name != sent.Name() || uint64(s.StartTimeUnixNano) != uint64(sent.StartTime().UnixNano()) ||
			uint64(s.DurationNanos) != uint64(sent.EndTime().Sub(sent.StartTime())):
			return fmt.Errorf("span %s is %q at %d for %d ns, sent %q at %d for %d ns", s.SpanID, s.Name, s.StartTimeUnixNano, s.DurationNanos,
				sent.Name(), sent.StartTime().UnixNano(), sent.EndTime().Sub(sent.StartTime()))
		}
	}
	return nil
}

// semverBelow reports whether v is a semantic version below major.minor.0.
func semverBelow(v string, major, minor int) bool {
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return false
		}
		n[i] = x
	}
	return n[0] < major || n[0] == major && n[1] < minor
}
