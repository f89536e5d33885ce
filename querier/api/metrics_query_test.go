package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/tenant"
)

// metricsServer is the query API over a block and a live tail: trace a of
// svc-0 has spans 0 to 2 in the block and 3 and a copy of 0 in the live
// tail, at minute 1; trace b of svc-1 has spans 0 and 1 in the live tail,
// at minute 2. It answers at most two series.
func metricsServer(t *testing.T) (*http.ServeMux, pcommon.TraceID, pcommon.TraceID) {
	t.Helper()
	a, b := pcommon.TraceID{0x00, 1}, pcommon.TraceID{0x01, 2}
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	querytest.WriteBlock(t, bkt, 0, querytest.TraceSpans(a, 1, 0, 1, 2))
	cfg := querier.DefaultConfig()
	cfg.MetricsMaxSeries = 2
	q := startQuerierWithin(t, bkt, cfg, tenant.DefaultConfig(), querytest.NoLimits(t))
	q.awaitBlocks(t, 1)
	q.produce(t, querytest.TraceSpans(a, 1, 3, 0))
	q.produce(t, querytest.TraceSpans(b, 2, 0, 1))
	mux := routes(q.Querier)
	// Both traces' records, whole: they are in different partitions, and
	// one caught up says nothing of the other. Trace a's copy of span 0
	// counts once.
	await(t, "the live tail", func() bool {
		for id, spans := range map[pcommon.TraceID]int{a: 4, b: 2} {
			rec := get(mux, "/api/v2/traces/"+fmt.Sprint(id))
			if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `"spanId"`) != spans {
				return false
			}
		}
		return true
	})
	return mux, a, b
}

func get(mux *http.ServeMux, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	return rec
}

func metricsTarget(route, q string, extra string) string {
	start, end := querytest.Base.Unix(), querytest.Base.Add(5*time.Minute).Unix()
	return fmt.Sprintf("/api/metrics/%s?q=%s&start=%d&end=%d%s", route, url.QueryEscape(q), start, end, extra)
}

// The range answer has Tempo's shape, field for field, with the counts
// of the spans sent, each once.
func TestMetricsQueryRangeResponse(t *testing.T) {
	mux, a, _ := metricsServer(t)
	rec := get(mux, metricsTarget("query_range", `{ } | count_over_time() by (resource.service.name)`, "&step=60s&exemplars=5"))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != mediaJSON {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var res struct {
		Series []struct {
			Labels []struct {
				Key   string
				Value map[string]any
			}
			PromLabels string
			Samples    []struct {
				TimestampMs string
				Value       float64
			}
			Exemplars []struct {
				Labels []struct {
					Key   string
					Value map[string]any
				}
				Value       float64
				TimestampMs string
			}
		}
		Metrics map[string]any
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	// Steps (t-1m, t] end at minutes 0 (the start aligned down, less a
	// step) to 5. Span n starts n milliseconds after its trace's minute:
	// span 0 ends the step before the others'.
	minute := func(m int) string { return fmt.Sprint(querytest.Base.Add(time.Duration(m) * time.Minute).UnixMilli()) }
	want := map[string]map[string]float64{
		`{resource.service.name="svc-0"}`: {minute(1): 1, minute(2): 3},
		`{resource.service.name="svc-1"}`: {minute(2): 1, minute(3): 1},
	}
	if len(res.Series) != 2 {
		t.Fatalf("%d series, want 2: %s", len(res.Series), rec.Body)
	}
	for _, s := range res.Series {
		w, ok := want[s.PromLabels]
		if !ok || len(s.Labels) != 1 || s.Labels[0].Key != "resource.service.name" || !strings.Contains(s.PromLabels, s.Labels[0].Value["stringValue"].(string)) {
			t.Fatalf("series %+v", s)
		}
		var steps []string
		for _, smp := range s.Samples {
			steps = append(steps, smp.TimestampMs)
			if smp.Value != w[smp.TimestampMs] {
				t.Errorf("%s at %s: %v, want %v", s.PromLabels, smp.TimestampMs, smp.Value, w[smp.TimestampMs])
			}
		}
		if !slices.Equal(steps, []string{minute(0), minute(1), minute(2), minute(3), minute(4), minute(5)}) {
			t.Errorf("%s: steps %v", s.PromLabels, steps)
		}
		if len(s.Exemplars) == 0 || s.Exemplars[0].Labels[0].Key != "trace:id" || s.Exemplars[0].Labels[1].Key != "span:id" {
			t.Errorf("%s: exemplars %+v", s.PromLabels, s.Exemplars)
		}
		if s.PromLabels == `{resource.service.name="svc-0"}` {
			for _, e := range s.Exemplars {
				if e.Labels[0].Value["stringValue"] != fmt.Sprint(a) || e.Value != 1 && e.Value != 3 {
					t.Errorf("exemplar %+v, want a span of trace %s valued as its step", e, a)
				}
			}
		}
	}
	for _, k := range []string{"inspectedTraces", "inspectedBytes", "totalBlocks", "totalBlockBytes", "inspectedSpans", "completedJobs", "totalJobs"} {
		if _, ok := res.Metrics[k]; !ok {
			t.Errorf("metrics lack %s: %v", k, res.Metrics)
		}
	}

	// Without by(), the series is named by the function.
	rec = get(mux, metricsTarget("query_range", `{ } | rate()`, "&step=1m"))
	if !strings.Contains(rec.Body.String(), `"labels":[{"key":"__name__","value":{"stringValue":"rate"}}]`) ||
		!strings.Contains(rec.Body.String(), `{"timestampMs":"`+minute(2)+`","value":0.06666666666666667}`) {
		t.Errorf("rate: %s", rec.Body)
	}
}

// The instant answer has one value per series over the whole range.
func TestMetricsQueryInstantResponse(t *testing.T) {
	mux, _, _ := metricsServer(t)
	rec := get(mux, metricsTarget("query", `{ } | count_over_time() by (resource.service.name)`, ""))
	var res struct {
		Series []struct {
			Labels     []keyValueJSON
			Value      float64
			PromLabels string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
	got := map[string]float64{}
	for _, s := range res.Series {
		got[s.PromLabels] = s.Value
	}
	if len(got) != 2 || got[`{resource.service.name="svc-0"}`] != 4 || got[`{resource.service.name="svc-1"}`] != 2 {
		t.Errorf("instant: %s", rec.Body)
	}
}

// What a client sees at each bound and mistake: a 400 or 422 that says
// what to change.
func TestMetricsQueryRefusals(t *testing.T) {
	mux, _, _ := metricsServer(t)
	for _, tc := range []struct {
		target string
		status int
		says   string
	}{
		{metricsTarget("query_range", `{ .a = 1 }`, ""), 400, "this is a search, which /api/search answers"},
		{"/api/search?q=" + url.QueryEscape(`{ } | rate()`), 400, "rate() makes a metrics query, which /api/metrics/query_range answers"},
		{"/api/metrics/query_range", 400, "a metrics query such as { } | rate() is required"},
		{metricsTarget("query_range", `{ } | rate()`, "&step=1ms"), 400, "over the maximum of 11000: use a larger step"},
		{metricsTarget("query_range", `{ } | rate()`, "&step=-1s"), 400, "step"},
		{metricsTarget("query_range", `{ } | rate()`, "&exemplars=x"), 400, "exemplars"},
		{"/api/metrics/query_range?q=%7B%7D%7Crate()&start=20&end=10", 400, "end must be after start"},
		{"/api/metrics/query_range?q=%7B%7D%7Crate()&start=yesterday", 400, "start="},
		{metricsTarget("query_range", `{ } | count_over_time() by (span:name)`, ""), 422, "more than 2 series (querier.metrics-max-series)"},
	} {
		rec := get(mux, tc.target)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tc.status || !strings.Contains(string(body), tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.target, rec.Code, body, tc.status, tc.says)
		}
	}
}

func TestMetricsTimes(t *testing.T) {
	want := time.Unix(1700000000, 0)
	for _, v := range []string{"1700000000", "1700000000000", "1700000000000000000", "1700000000.0", want.UTC().Format(time.RFC3339)} {
		if got, err := metricsTime("start", v); err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v", v, got, err)
		}
	}
	for v, want := range map[string]time.Duration{"30s": 30 * time.Second, "60": time.Minute, "1.5": 1500 * time.Millisecond} {
		if got, err := metricsStep(v); err != nil || got != want {
			t.Errorf("step %s: %v %v", v, got, err)
		}
	}
}
