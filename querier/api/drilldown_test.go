package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
)

// The requests Grafana Traces Drilldown sends for its default views, as
// its source builds them (src/components/Explore/queries/
// generateMetricsQuery.ts, the comparison tab's buildQuery, the duration
// heatmap panel) with the default primary signal, root spans
// (nestedSetParent<0), and no filters (true), and as Grafana's Tempo data
// source sends them over HTTP (start and end in unix seconds, step).
var drilldownRequests = []struct {
	view, query string
	// want maps the series (Prometheus-style labels) to their value in
	// the step of the spans, from the fixture's 12 root spans.
	want map[string]float64
}{
	{"rate", `{nestedSetParent<0 && true} | rate() `,
		map[string]float64{`{__name__="rate"}`: 12.0 / 600}},
	{"rate by status", `{nestedSetParent<0 && true && status!=error} | rate() by(status)`,
		map[string]float64{`{status="unset"}`: 9.0 / 600}},
	{"errors", `{nestedSetParent<0 && true && status=error} | rate() `,
		map[string]float64{`{__name__="rate"}`: 3.0 / 600}},
	{"duration p90", `{nestedSetParent<0 && true} | quantile_over_time(duration, 0.9) `,
		// The roots last 0.1s to 1.2s: rank 0.9*11 = 9.9, between 1.0s and 1.1s.
		map[string]float64{`{p="0.9"}`: 1.09}},
	{"duration heatmap", `{nestedSetParent<0 && true} | histogram_over_time(duration)`,
		// Powers of two nanoseconds at or above 100ms ... 1200ms.
		map[string]float64{
			`{__bucket="0.134217728"}`: 1, `{__bucket="0.268435456"}`: 1, `{__bucket="0.536870912"}`: 3,
			`{__bucket="1.073741824"}`: 5, `{__bucket="2.147483648"}`: 2,
		}},
	{"breakdown by service", `{nestedSetParent<0 && true && resource.service.name != nil} | rate() by(resource.service.name) with(sample=true)`,
		map[string]float64{
			`{resource.service.name="svc-0"}`: 4.0 / 600, `{resource.service.name="svc-1"}`: 4.0 / 600, `{resource.service.name="svc-2"}`: 4.0 / 600,
		}},
	{"comparison", `{nestedSetParent<0 && true} | compare({status = error}, 10)`,
		map[string]float64{
			`{__meta_type="selection_total", status="<nil>"}`: 3, `{__meta_type="baseline_total", status="<nil>"}`: 9,
			`{__meta_type="selection", status="error"}`: 3, `{__meta_type="baseline", status="unset"}`: 9,
			`{__meta_type="selection", resource.service.name="svc-0"}`: 1, // roots 0, 4 and 8 failed
		}},
}

// drilldownServer is the query API over 12 traces, each a root span
// (kind server, service svc-(i%3), lasting (i+1)*100ms, an error when
// i%4 is 0) with two client spans of service db: half in a block, half
// in the live tail, and one split between them. Every span starts in
// the ten minutes after querytest.Base.
func drilldownServer(t *testing.T) *http.ServeMux {
	t.Helper()
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	traces := make([]ptrace.Traces, 12)
	roots := make([]ptrace.Traces, 12)
	for i := range traces {
		id := pcommon.TraceID{0xdd, byte(i + 1)}
		start := querytest.Base.Add(time.Duration(i+1) * 20 * time.Second)
		roots[i] = drilldownSpans(id, 1, 0, fmt.Sprintf("svc-%d", i%3), ptrace.SpanKindServer, start, time.Duration(i+1)*100*time.Millisecond, i%4 == 0)
		traces[i] = drilldownSpans(id, 2, 1, "db", ptrace.SpanKindClient, start.Add(time.Millisecond), 10*time.Millisecond, i%5 == 0)
		drilldownSpans(id, 3, 1, "db", ptrace.SpanKindClient, start.Add(2*time.Millisecond), 10*time.Millisecond, false).ResourceSpans().MoveAndAppendTo(traces[i].ResourceSpans())
	}
	block := ptrace.NewTraces()
	for i := range 6 {
		roots[i].ResourceSpans().MoveAndAppendTo(block.ResourceSpans())
		traces[i].ResourceSpans().MoveAndAppendTo(block.ResourceSpans())
	}
	roots[6].ResourceSpans().MoveAndAppendTo(block.ResourceSpans()) // trace 6 is split
	querytest.WriteBlock(t, bkt, 0, block)
	q := startQuerier(t, bkt)
	q.awaitBlocks(t, 1)
	for i := 6; i < 12; i++ {
		if i > 6 {
			roots[i].ResourceSpans().MoveAndAppendTo(traces[i].ResourceSpans())
		}
		q.produce(t, traces[i])
	}
	mux := routes(q.Querier)
	// Every trace written to the log, whole: the traces are in different
	// partitions, and one caught up says nothing of the others.
	await(t, "the live tail", func() bool {
		for i := 6; i < 12; i++ {
			rec := get(mux, fmt.Sprintf("/api/v2/traces/%s", pcommon.TraceID{0xdd, byte(i + 1)}))
			if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `"spanId"`) != 3 {
				return false
			}
		}
		return true
	})
	return mux
}

func drilldownSpans(id pcommon.TraceID, spanID, parent byte, service string, kind ptrace.SpanKind, start time.Time, d time.Duration, failed bool) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(id)
	s.SetSpanID(pcommon.SpanID{7: spanID})
	if parent != 0 {
		s.SetParentSpanID(pcommon.SpanID{7: parent})
	}
	s.SetName("op")
	s.SetKind(kind)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(d)))
	if failed {
		s.Status().SetCode(ptrace.StatusCodeError)
	}
	return td
}

// Each default view of Traces Drilldown, sent as Drilldown writes it,
// gets the answer its spans make.
func TestTracesDrilldownRequests(t *testing.T) {
	mux := drilldownServer(t)
	start, end := querytest.Base.Unix(), querytest.Base.Add(10*time.Minute).Unix()
	for _, r := range drilldownRequests {
		query := r.query
		params := url.Values{"q": {query}, "start": {fmt.Sprint(start)}, "end": {fmt.Sprint(end)}, "step": {"600s"}}
		rec := get(mux, "/api/metrics/query_range?"+params.Encode())
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %s: %d %s", r.view, query, rec.Code, rec.Body)
			continue
		}
		var res struct {
			Series []struct {
				PromLabels string
				Samples    []struct {
					TimestampMs string
					Value       float64
				}
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		// The spans are all in the step ending at Base+10m.
		at := fmt.Sprint(querytest.Base.Add(10 * time.Minute).UnixMilli())
		got := map[string]float64{}
		for _, s := range res.Series {
			for _, smp := range s.Samples {
				if smp.TimestampMs == at {
					got[s.PromLabels] = smp.Value
				}
			}
		}
		for series, v := range r.want {
			if g, ok := got[series]; !ok || math.Abs(g-v) > 1e-9 {
				t.Errorf("%s: %s: series %s = %v (present %v), want %v; got %v", r.view, query, series, g, ok, v, got)
			}
		}
		if !strings.Contains(r.view, "comparison") && len(got) != len(r.want) {
			t.Errorf("%s: %s: series %v, want %v", r.view, query, got, r.want)
		}
	}
}

// The searches of Traces Drilldown's structure tab, as it builds them
// (limit 200, spss 20): each trace's root, and with the errors view the
// failed spans under a failed root, with the nested-set numbers it draws
// the tree from.
func TestTracesDrilldownStructureSearches(t *testing.T) {
	mux := drilldownServer(t)
	const sel = ` | select(status, resource.service.name, name, nestedSetParent, nestedSetLeft, nestedSetRight)`
	for _, tc := range []struct {
		view, query string
		// want maps trace IDs to the IDs of their spans in the answer.
		want map[string][]string
	}{
		{"rate", `({nestedSetParent<0 && true } &>> { kind = server }) || ({nestedSetParent<0 && true })` + sel, func() map[string][]string {
			m := map[string][]string{}
			for i := range 12 {
				m[pcommon.TraceID{0xdd, byte(i + 1)}.String()] = []string{"0000000000000001"}
			}
			return m
		}()},
		// No span under a root lasts 30% of its trace.
		{"duration", `{nestedSetParent<0 && true} &>> { duration > trace:duration * .3 }` + sel, map[string][]string{}},
		// Roots 0, 4 and 8 failed; of those, only trace 0's first client span.
		{"errors", `({nestedSetParent<0 && true && status = error} &>> { status = error }) || ({nestedSetParent<0 && true && status = error})` + sel, map[string][]string{
			pcommon.TraceID{0xdd, 1}.String(): {"0000000000000001", "0000000000000002"},
			pcommon.TraceID{0xdd, 5}.String(): {"0000000000000001"},
			pcommon.TraceID{0xdd, 9}.String(): {"0000000000000001"},
		}},
	} {
		params := url.Values{"q": {tc.query}, "limit": {"200"}, "spss": {"20"},
			"start": {fmt.Sprint(querytest.Base.Unix())}, "end": {fmt.Sprint(querytest.Base.Add(10 * time.Minute).Unix())}}
		rec := get(mux, "/api/search?"+params.Encode())
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.view, rec.Code, rec.Body)
		}
		var res struct {
			Traces []struct {
				TraceID  string
				SpanSets []struct {
					Spans []struct {
						SpanID     string
						Attributes []struct {
							Key   string
							Value struct{ IntValue string }
						}
					}
				}
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, tr := range res.Traces {
			for _, set := range tr.SpanSets {
				for _, sp := range set.Spans {
					got[tr.TraceID] = append(got[tr.TraceID], sp.SpanID)
					nested := map[string]string{}
					for _, a := range sp.Attributes {
						nested[a.Key] = a.Value.IntValue
					}
					// A root: its parent -1, around its two children.
					if sp.SpanID == "0000000000000001" && (nested["nestedSetParent"] != "-1" || nested["nestedSetLeft"] != "1" || nested["nestedSetRight"] != "6") {
						t.Errorf("%s: trace %s root's nested set %v, want parent -1, left 1, right 6", tc.view, tr.TraceID, nested)
					}
				}
			}
			slices.Sort(got[tr.TraceID])
		}
		if !maps.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("%s: spans per trace %v, want %v", tc.view, got, tc.want)
		}
	}
}
