package querybench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spanlog/spanlog/tenant"
)

// fakeQuerier answers /api/search with what its answer function says for
// each query, and records the requests it got.
type fakeQuerier struct {
	answer func(q string, run int) (status int, body string)

	mu       sync.Mutex
	requests []*http.Request
	runs     map[string]int
}

func newFakeQuerier(t *testing.T, answer func(q string, run int) (int, string)) (*fakeQuerier, string) {
	f := &fakeQuerier{answer: answer, runs: make(map[string]int)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/search" && r.URL.Path != "/api/metrics/query_range" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query().Get("q")
		f.mu.Lock()
		f.requests = append(f.requests, r)
		run := f.runs[q]
		f.runs[q]++
		f.mu.Unlock()
		status, body := f.answer(q, run)
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeQuerier) queriesAsked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var qs []string
	for _, r := range f.requests {
		qs = append(qs, r.URL.Query().Get("q"))
	}
	return qs
}

// tracesJSON is an answer of n traces with its metrics.
func tracesJSON(n int, metrics string) string {
	traces := make([]string, n)
	for i := range traces {
		traces[i] = fmt.Sprintf(`{"traceID": "%032x", "rootServiceName": "cart"}`, i+1)
	}
	return `{"traces": [` + strings.Join(traces, ",") + `], "metrics": ` + metrics + `}`
}

func testConfig(endpoint string, queries ...string) Config {
	cfg := DefaultConfig()
	cfg.Endpoint = endpoint
	cfg.Queries = queries
	cfg.Repeat = 3
	return cfg
}

func TestRunSendsGrafanasParameters(t *testing.T) {
	f, endpoint := newFakeQuerier(t, func(string, int) (int, string) { return 200, tracesJSON(1, `{}`) })
	cfg := testConfig(endpoint+"/", `{ name = "a b" } >> { status = error }`)
	cfg.Repeat = 1
	cfg.Tenant = "team-a"
	cfg.Limit, cfg.SpansPerSpanSet = 7, 2
	cfg.Start = time.Unix(1_800_000_000, 900_000_000)
	cfg.End = time.Unix(1_800_003_600, 1)
	if _, err := Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	if len(f.requests) != 1 {
		t.Fatalf("%d requests, want 1", len(f.requests))
	}
	r := f.requests[0]
	want := map[string]string{
		"q": `{ name = "a b" } >> { status = error }`, "limit": "7", "spss": "2",
		// Whole seconds: the start rounded down, the end up.
		"start": "1800000000", "end": "1800003601",
	}
	for k, v := range want {
		if got := r.URL.Query().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := r.Header.Get(tenant.Header); got != "team-a" {
		t.Errorf("tenant header %q, want team-a", got)
	}
}

// With a step, each query is a metrics query, sent as Grafana sends one,
// and its answer's series are counted.
func TestRunSendsMetricsQueries(t *testing.T) {
	f, endpoint := newFakeQuerier(t, func(string, int) (int, string) {
		return 200, `{"series":[{"promLabels":"{a=\"1\"}"},{"promLabels":"{a=\"2\"}"}],"metrics":{"inspectedTraces":3}}`
	})
	cfg := testConfig(endpoint, `{ } | rate() by (span.a)`)
	cfg.Repeat, cfg.Step = 1, time.Minute
	cfg.Start, cfg.End = time.Unix(1_800_000_000, 0), time.Unix(1_800_003_600, 0)
	rep, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := f.requests[0]
	if r.URL.Path != "/api/metrics/query_range" || r.URL.Query().Get("step") != "1m0s" || r.URL.Query().Has("limit") || r.URL.Query().Get("start") != "1800000000" {
		t.Errorf("request %s, want a metrics query of step 1m over the window, without a limit", r.URL)
	}
	if got := rep.Queries[0]; got.Traces != 2 || got.Metrics == nil || got.Metrics.InspectedTraces != 3 {
		t.Errorf("result %+v, want 2 series and 3 inspected traces", got)
	}
}

func TestRunOmitsAnOpenWindowAndNoTenant(t *testing.T) {
	f, endpoint := newFakeQuerier(t, func(string, int) (int, string) { return 200, tracesJSON(1, `{}`) })
	cfg := testConfig(endpoint, `{}`)
	cfg.Repeat = 1
	if _, err := Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	r := f.requests[0]
	for _, k := range []string{"start", "end"} {
		if r.URL.Query().Has(k) {
			t.Errorf("%s sent for an open window: %s", k, r.URL.RawQuery)
		}
	}
	if r.Header.Values(tenant.Header) != nil {
		t.Errorf("tenant header sent without a tenant")
	}
}

func TestRunReportsEachQuery(t *testing.T) {
	f, endpoint := newFakeQuerier(t, func(q string, run int) (int, string) {
		switch q {
		case "{ a }":
			// Protobuf's JSON: 64-bit counters as strings.
			return 200, tracesJSON(20, `{"inspectedTraces": 1234, "inspectedBytes": "987654321", "totalBlocks": 3}`)
		case "{ b }":
			return 200, tracesJSON(0, `{"inspectedTraces": "5", "inspectedBytes": 6}`)
		case "{ partial }":
			return 200, `{"traces": [], "metrics": {}, "status": "PARTIAL", "message": "blocks unreadable"}`
		case "{ nometrics }":
			return 200, `{"traces": [{"traceID": "1"}]}`
		}
		return 500, "unexpected"
	})
	cfg := testConfig(endpoint, "{ a }", "{ b }", "{ partial }", "{ nometrics }")
	rep, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Round by round, every query once a round.
	want := slices.Concat(cfg.Queries, cfg.Queries, cfg.Queries)
	if got := f.queriesAsked(); !slices.Equal(got, want) {
		t.Errorf("asked %q, want %q", got, want)
	}
	type summary struct {
		query    string
		runs     int
		traces   int
		metrics  *Metrics
		partial  string
		failed   bool
		positive bool
	}
	var got []summary
	for _, r := range rep.Queries {
		got = append(got, summary{r.Query, len(r.Latencies), r.Traces, r.Metrics, r.Partial, r.Failed(),
			r.Min() > 0 && r.Min() <= r.Median() && r.Median() <= r.Max()})
	}
	wantSummary := []summary{
		{"{ a }", 3, 20, &Metrics{InspectedTraces: 1234, InspectedBytes: 987654321}, "", false, true},
		{"{ b }", 3, 0, &Metrics{InspectedTraces: 5, InspectedBytes: 6}, "", false, true},
		{"{ partial }", 3, 0, &Metrics{}, "blocks unreadable", false, true},
		{"{ nometrics }", 3, 1, nil, "", false, true},
	}
	if len(got) != len(wantSummary) {
		t.Fatalf("%d results, want %d", len(got), len(wantSummary))
	}
	for i := range got {
		g, w := got[i], wantSummary[i]
		if g.query != w.query || g.runs != w.runs || g.traces != w.traces || g.partial != w.partial ||
			g.failed != w.failed || !g.positive || (g.metrics == nil) != (w.metrics == nil) ||
			g.metrics != nil && *g.metrics != *w.metrics {
			t.Errorf("result %d = %+v (metrics %+v), want %+v (metrics %+v)", i, g, g.metrics, w, w.metrics)
		}
	}
}

func TestRunReportsFailuresAndGoesOn(t *testing.T) {
	f, endpoint := newFakeQuerier(t, func(q string, run int) (int, string) {
		switch {
		case q == "{ bad }":
			return 400, "\n  q: parse error at 1:3\nmore detail\n"
		case q == "{ flaky }" && run == 1:
			return 504, "query timed out after 30s (querier.query-timeout)"
		case q == "{ garbled }":
			return 200, `{"traces": [`
		case q == "{ empty }":
			return 503, ""
		}
		return 200, tracesJSON(2, `{}`)
	})
	cfg := testConfig(endpoint, "{ bad }", "{ flaky }", "{ garbled }", "{ empty }", "{ fine }")
	rep, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantErr := []string{"HTTP 400: q: parse error at 1:3", "HTTP 504: query timed out after 30s (querier.query-timeout)", "decode answer", "HTTP 503", ""}
	wantRuns := []int{0, 1, 0, 0, 3}
	for i, r := range rep.Queries {
		gotErr := ""
		if r.Err != nil {
			gotErr = r.Err.Error()
		}
		if !strings.HasPrefix(gotErr, wantErr[i]) || (wantErr[i] == "") != (gotErr == "") || r.Failed() != (wantErr[i] != "") {
			t.Errorf("%s: error %q, want %q", r.Query, gotErr, wantErr[i])
		}
		if len(r.Latencies) != wantRuns[i] {
			t.Errorf("%s: %d latencies, want %d", r.Query, len(r.Latencies), wantRuns[i])
		}
	}
	var se *StatusError
	if !errors.As(rep.Queries[0].Err, &se) || se.Code != 400 {
		t.Errorf("error of a 400 is %#v, want a StatusError", rep.Queries[0].Err)
	}
	// A query is not asked again once it failed.
	asked := map[string]int{}
	for _, q := range f.queriesAsked() {
		asked[q]++
	}
	if want := map[string]int{"{ bad }": 1, "{ flaky }": 2, "{ garbled }": 1, "{ empty }": 1, "{ fine }": 3}; !mapsEqual(asked, want) {
		t.Errorf("asked %v, want %v", asked, want)
	}
}

func TestRunCountsATimeoutAsAFailure(t *testing.T) {
	release := make(chan struct{})
	_, endpoint := newFakeQuerier(t, func(q string, _ int) (int, string) {
		if q == "{ slow }" {
			<-release
		}
		return 200, tracesJSON(1, `{}`)
	})
	// Before the server's Close, which waits for the handler.
	t.Cleanup(func() { close(release) })
	cfg := testConfig(endpoint, "{ slow }", "{ fast }")
	cfg.Repeat = 1
	cfg.RequestTimeout = 100 * time.Millisecond
	rep, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Queries[0]; !r.Failed() || len(r.Latencies) != 0 || strings.Contains(r.Err.Error(), "/api/search") {
		t.Errorf("slow query: %d latencies, error %v; want a failure that does not repeat the URL", len(r.Latencies), r.Err)
	}
	if r := rep.Queries[1]; r.Failed() || len(r.Latencies) != 1 {
		t.Errorf("fast query after a slow one: %d latencies, error %v", len(r.Latencies), r.Err)
	}
}

func TestRunStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	_, endpoint := newFakeQuerier(t, func(string, int) (int, string) {
		cancel()
		return 200, tracesJSON(1, `{}`)
	})
	rep, err := Run(ctx, testConfig(endpoint, "{ a }", "{ b }"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	for _, r := range rep.Queries {
		if r.Failed() {
			t.Errorf("%s failed (%v): an interrupted run is not the query's failure", r.Query, r.Err)
		}
	}
}

func TestRunRejectsABadConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Repeat = 0
	if _, err := Run(t.Context(), cfg); err == nil {
		t.Error("no error")
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
