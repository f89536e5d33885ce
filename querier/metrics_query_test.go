package querier

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/traceql"
)

// metricsSpan is a span of the metrics fixture, as the test knows it.
type metricsSpan struct {
	trace   pcommon.TraceID
	id      byte
	parent  byte
	service string // "" for none
	name    string
	start   time.Time
	dur     time.Duration
	err     bool
	n       int64 // span.n
}

// metricsFixture is a querier over two blocks and a live tail that hold
// the spans of 80 traces: about half whole in one of them, the others
// split among them, with some spans in two places at once, as a
// producer's retry leaves them.
type metricsFixture struct {
	q     *runningQuerier
	qs    []*runningQuerier // q and the others sharing the live tail
	spans []metricsSpan     // each once
}

func newMetricsFixture(t *testing.T) *metricsFixture { return newMetricsFixtureOf(t, 1) }

// newMetricsFixtureOf is newMetricsFixture with n queriers, which share
// the partitions' live tails.
func newMetricsFixtureOf(t *testing.T, n int) *metricsFixture {
	rng := rand.New(rand.NewPCG(12, 34))
	services := []string{"frontend", "backend", "db", ""}
	var spans []metricsSpan
	for range 80 {
		id := randomID(rng)
		n := 1 + rng.IntN(6)
		traceStart := querytest.Base.Add(time.Duration(rng.IntN(30*60)) * time.Second)
		for s := range n {
			sp := metricsSpan{
				trace: id, id: byte(s + 1), service: services[rng.IntN(len(services))],
				name:  fmt.Sprintf("op-%d", rng.IntN(3)),
				start: traceStart.Add(time.Duration(rng.IntN(90_000)) * time.Millisecond),
				dur:   time.Duration(1+rng.IntN(2000)) * time.Millisecond,
				err:   rng.IntN(4) == 0, n: int64(rng.IntN(10)),
			}
			if s > 0 {
				sp.parent = byte(1 + rng.IntN(s))
			}
			spans = append(spans, sp)
		}
	}
	// Each span goes to block 0, block 1 or the live tail; one in five
	// also to a second place. Every other trace is whole in one place.
	var places [3][]metricsSpan
	whole := map[pcommon.TraceID]int{}
	for _, sp := range spans {
		p := rng.IntN(3)
		if sp.trace[0]%2 == 0 {
			if _, ok := whole[sp.trace]; !ok {
				whole[sp.trace] = p
			}
			places[whole[sp.trace]] = append(places[whole[sp.trace]], sp)
			continue
		}
		places[p] = append(places[p], sp)
		if rng.IntN(5) == 0 {
			again := (p + 1 + rng.IntN(2)) % 3
			places[again] = append(places[again], sp)
		}
	}
	bkt := newTestBucket(t)
	for b := range 2 {
		querytest.WriteBlock(t, bkt, b, metricsTraces(places[b]))
	}
	qs := startQueriers(t, bkt, n)
	f := &metricsFixture{q: qs[0], qs: qs, spans: spans}
	byTrace := map[pcommon.TraceID][]metricsSpan{}
	for _, sp := range places[2] {
		byTrace[sp.trace] = append(byTrace[sp.trace], sp)
	}
	for _, part := range byTrace {
		f.q.produce(t, metricsTraces(part))
	}
	// Wait until the live tail holds what was produced.
	for id, part := range byTrace {
		res, found, err := f.q.FindTrace(context.Background(), []string{querytest.Tenant}, id, TimeRange{})
		if err != nil || !found || res.Trace.SpanCount() < len(part) {
			t.Fatalf("trace %s not in the live tail: %v %v", id, found, err)
		}
	}
	return f
}

func metricsTraces(spans []metricsSpan) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, sp := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		if sp.service != "" {
			rs.Resource().Attributes().PutStr("service.name", sp.service)
		}
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(sp.trace)
		s.SetSpanID(pcommon.SpanID{7: sp.id})
		if sp.parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{7: sp.parent})
		}
		s.SetName(sp.name)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(sp.start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(sp.start.Add(sp.dur)))
		if sp.err {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
		s.Attributes().PutInt("n", sp.n)
	}
	return td
}

// metricsCase is a metrics query with the test's own reading of it: which
// spans it counts, how it labels and values them.
type metricsCase struct {
	query string
	// keep says whether a span counts; nil counts every span.
	keep func(sp metricsSpan, all []metricsSpan) bool
	// series labels a counted span's series, Prometheus-style; nil is
	// the function's name alone.
	series func(sp metricsSpan) string
	// value is what a step's spans make, nil when they make no sample.
	value func(spans []metricsSpan, stepSeconds float64) map[string]float64
}

func count(spans []metricsSpan, _ float64) map[string]float64 {
	return map[string]float64{"": float64(len(spans))}
}

func durations(spans []metricsSpan) []float64 {
	var out []float64
	for _, sp := range spans {
		out = append(out, sp.dur.Seconds())
	}
	slices.Sort(out)
	return out
}

// exactQuantile is the q-quantile of sorted values, by the nearest-rank
// rule interpolated linearly.
func exactQuantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (sorted[i+1]-sorted[i])*(pos-float64(i))
}

func byService(sp metricsSpan) string {
	if sp.service == "" {
		return `{resource.service.name="<nil>"}`
	}
	return fmt.Sprintf(`{resource.service.name=%q}`, sp.service)
}

var metricsCases = []metricsCase{
	{query: `{ } | rate()`, series: func(metricsSpan) string { return `{__name__="rate"}` },
		value: func(s []metricsSpan, step float64) map[string]float64 {
			return map[string]float64{"": float64(len(s)) / step}
		}},
	{query: `{ status = error } | count_over_time() by (resource.service.name)`,
		keep: func(sp metricsSpan, _ []metricsSpan) bool { return sp.err }, series: byService, value: count},
	{query: `{ span.n > 2 } | sum_over_time(span.n) by (name, resource.service.name)`,
		keep: func(sp metricsSpan, _ []metricsSpan) bool { return sp.n > 2 },
		series: func(sp metricsSpan) string {
			if sp.service == "" {
				return fmt.Sprintf(`{name=%q}`, sp.name)
			}
			return fmt.Sprintf(`{name=%q, resource.service.name=%q}`, sp.name, sp.service)
		},
		value: func(s []metricsSpan, _ float64) map[string]float64 {
			var sum float64
			for _, sp := range s {
				sum += float64(sp.n)
			}
			return map[string]float64{"": sum}
		}},
	{query: `{ } | avg_over_time(duration)`, series: func(metricsSpan) string { return `{__name__="avg_over_time"}` },
		value: func(s []metricsSpan, _ float64) map[string]float64 {
			var sum float64
			for _, d := range durations(s) {
				sum += d
			}
			return map[string]float64{"": sum / float64(len(s))}
		}},
	{query: `{ } | min_over_time(duration) by (span:name)`, series: func(sp metricsSpan) string { return fmt.Sprintf(`{name=%q}`, sp.name) },
		value: func(s []metricsSpan, _ float64) map[string]float64 { return map[string]float64{"": durations(s)[0]} }},
	{query: `{ } | max_over_time(duration)`, series: func(metricsSpan) string { return `{__name__="max_over_time"}` },
		value: func(s []metricsSpan, _ float64) map[string]float64 {
			d := durations(s)
			return map[string]float64{"": d[len(d)-1]}
		}},
	{query: `{ } | quantile_over_time(duration, 0.5, 0.9)`, series: func(metricsSpan) string { return "" },
		value: func(s []metricsSpan, _ float64) map[string]float64 {
			d := durations(s)
			return map[string]float64{`{p="0.5"}`: exactQuantile(d, 0.5), `{p="0.9"}`: exactQuantile(d, 0.9)}
		}},
	{query: `{ } | histogram_over_time(duration)`, series: func(metricsSpan) string { return "" },
		value: func(s []metricsSpan, _ float64) map[string]float64 {
			out := map[string]float64{}
			for _, sp := range s {
				// The power of two nanoseconds at or above the duration.
				b := uint64(1)
				for b < uint64(sp.dur) {
					b <<= 1
				}
				out[fmt.Sprintf(`{__bucket="%g"}`, float64(b)/1e9)]++
			}
			return out
		}},
	// Structural: children of frontend spans, judged over whole traces
	// split among the blocks and the live tail.
	{query: `{ resource.service.name = "frontend" } > { } | count_over_time()`,
		keep: func(sp metricsSpan, all []metricsSpan) bool {
			return slices.ContainsFunc(all, func(p metricsSpan) bool {
				return p.trace == sp.trace && p.id == sp.parent && p.service == "frontend"
			})
		},
		series: func(metricsSpan) string { return `{__name__="count_over_time"}` }, value: count},
	// Trace-level: the spans of traces whose root is op-1, and of traces
	// of more than three spans.
	{query: `{ rootName = "op-1" } | count_over_time()`,
		keep: func(sp metricsSpan, all []metricsSpan) bool {
			return slices.ContainsFunc(all, func(r metricsSpan) bool { return r.trace == sp.trace && r.parent == 0 && r.name == "op-1" })
		},
		series: func(metricsSpan) string { return `{__name__="count_over_time"}` }, value: count},
	{query: `{ } | count() > 3 | count_over_time() by (resource.service.name)`,
		keep: func(sp metricsSpan, all []metricsSpan) bool {
			n := 0
			for _, o := range all {
				if o.trace == sp.trace {
					n++
				}
			}
			return n > 3
		},
		series: byService, value: count},
}

// wantSeries computes a case's series over [start, end] by step from the
// fixture's spans, each once, as Tempo lays out the steps: the start
// aligned down to the step, less a step; the end aligned up; each step
// (t-step, t] labelled t.
func (f *metricsFixture) wantSeries(c metricsCase, start, end time.Time, step time.Duration) map[string]map[int64]float64 {
	// Aligned to multiples of the step since the unix epoch (Truncate
	// aligns to those since year 1).
	down := func(t time.Time) time.Time { return time.Unix(0, t.UnixNano()-t.UnixNano()%int64(step)) }
	first := down(start).Add(-step)
	last := down(end)
	if last.Before(end) {
		last = last.Add(step)
	}
	steps := map[string]map[time.Time][]metricsSpan{}
	for _, sp := range f.spans {
		if c.keep != nil && !c.keep(sp, f.spans) || !sp.start.After(first) || sp.start.After(last) {
			continue
		}
		stepEnd := first.Add(time.Duration(math.Ceil(float64(sp.start.Sub(first))/float64(step))) * step)
		key := c.series(sp)
		if steps[key] == nil {
			steps[key] = map[time.Time][]metricsSpan{}
		}
		steps[key][stepEnd] = append(steps[key][stepEnd], sp)
	}
	out := map[string]map[int64]float64{}
	for key, bySteps := range steps {
		for t := first.Add(step); !t.After(last); t = t.Add(step) {
			var values map[string]float64
			if spans := bySteps[t]; len(spans) > 0 {
				values = c.value(spans, step.Seconds())
			} else if strings.Contains(c.query, "rate()") || strings.Contains(c.query, "count_over_time()") {
				values = map[string]float64{"": 0}
			}
			for sub, v := range values {
				k := key + sub
				if out[k] == nil {
					out[k] = map[int64]float64{}
				}
				out[k][t.UnixMilli()] = v
			}
		}
	}
	// The histogram's and quantile's series have no samples where they
	// have no spans; the counts of its buckets are 0 in the steps where
	// the bucket has none but others have some.
	if strings.Contains(c.query, "histogram_over_time") {
		for _, samples := range out {
			for t := first.Add(step); !t.After(last); t = t.Add(step) {
				if _, ok := samples[t.UnixMilli()]; !ok {
					samples[t.UnixMilli()] = 0
				}
			}
		}
	}
	return out
}

func gotSeries(res *MetricsResult) map[string]map[int64]float64 {
	out := map[string]map[int64]float64{}
	for _, s := range res.Series {
		m := map[int64]float64{}
		for _, smp := range s.Samples {
			m[smp.TimestampMs] = smp.Value
		}
		out[s.PromLabels()] = m
	}
	return out
}

func diffSeries(t *testing.T, what string, got, want map[string]map[int64]float64) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, w := got[k], want[k]
		if len(g) != len(w) {
			t.Errorf("%s: series %s has %d samples, want %d\n got %v\nwant %v", what, k, len(g), len(w), g, w)
			continue
		}
		for ts, wv := range w {
			if gv, ok := g[ts]; !ok || math.Abs(gv-wv) > 1e-9*math.Max(1, math.Abs(wv)) {
				t.Errorf("%s: series %s at %d: %v, want %v", what, k, ts, gv, wv)
			}
		}
	}
}

func metricsQuery(t *testing.T, q *runningQuerier, query string, start, end time.Time, step time.Duration, instant bool) *MetricsResult {
	t.Helper()
	parsed, err := traceql.ParseMetrics(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	req := MetricsRequest{Query: parsed, Start: uint64(start.UnixNano()), End: uint64(end.UnixNano()), Step: uint64(step), Exemplars: 100}
	run := q.MetricsQueryRange
	if instant {
		run = q.MetricsQueryInstant
	}
	res, err := run(context.Background(), []string{querytest.Tenant}, req)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

// Each function's series over spans split among blocks and the live tail,
// with duplicates, are what the spans sent make, each span counted once.
func TestMetricsQueryRangeCountsEachSpanOnce(t *testing.T) {
	f := newMetricsFixture(t)
	start, end := querytest.Base.Add(3*time.Minute+7*time.Second), querytest.Base.Add(25*time.Minute)
	for _, c := range metricsCases {
		for _, step := range []time.Duration{time.Minute, 7 * time.Minute} {
			res := metricsQuery(t, f.q, c.query, start, end, step, false)
			diffSeries(t, fmt.Sprintf("%s step %s", c.query, step), gotSeries(res), f.wantSeries(c, start, end, step))
		}
	}
}

// An instant query has one value per series: what a range query of one
// step over [start, end] would count, both ends included.
func TestMetricsQueryInstant(t *testing.T) {
	f := newMetricsFixture(t)
	start, end := querytest.Base.Add(5*time.Minute), querytest.Base.Add(20*time.Minute)
	res := metricsQuery(t, f.q, `{ } | count_over_time() by (resource.service.name)`, start, end, 0, true)
	want := map[string]map[int64]float64{}
	for _, sp := range f.spans {
		if sp.start.Before(start) || sp.start.After(end) {
			continue
		}
		k := byService(sp)
		if want[k] == nil {
			want[k] = map[int64]float64{end.UnixMilli(): 0}
		}
		want[k][end.UnixMilli()]++
	}
	diffSeries(t, "instant", gotSeries(res), want)
	res = metricsQuery(t, f.q, `{ } | rate()`, start, end, 0, true)
	var n float64
	for _, sp := range f.spans {
		if !sp.start.Before(start) && !sp.start.After(end) {
			n++
		}
	}
	diffSeries(t, "instant rate", gotSeries(res), map[string]map[int64]float64{`{__name__="rate"}`: {end.UnixMilli(): n / end.Sub(start).Seconds()}})
}

// topk and bottomk keep, at each step, the series with the largest or
// smallest values there; exemplars are spans the series counted.
func TestMetricsQueryTopAndExemplars(t *testing.T) {
	f := newMetricsFixture(t)
	start, end, step := querytest.Base, querytest.Base.Add(30*time.Minute), 5*time.Minute
	all := f.wantSeries(metricsCases[1], start, end, step) // errors by service
	for _, tc := range []struct {
		stage  string
		bottom bool
	}{{"topk(2)", false}, {"bottomk(1)", true}} {
		n := 2
		if tc.bottom {
			n = 1
		}
		want := map[string]map[int64]float64{}
		times := map[int64]bool{}
		for _, s := range all {
			for ts := range s {
				times[ts] = true
			}
		}
		for ts := range times {
			var keys []string
			for k, s := range all {
				if _, ok := s[ts]; ok {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys) // ties go to the first by labels
			sort.SliceStable(keys, func(i, j int) bool {
				if tc.bottom {
					return all[keys[i]][ts] < all[keys[j]][ts]
				}
				return all[keys[i]][ts] > all[keys[j]][ts]
			})
			for _, k := range keys[:min(n, len(keys))] {
				if want[k] == nil {
					want[k] = map[int64]float64{}
				}
				want[k][ts] = all[k][ts]
			}
		}
		res := metricsQuery(t, f.q, metricsCases[1].query+" | "+tc.stage, start, end, step, false)
		diffSeries(t, tc.stage, gotSeries(res), want)
	}

	res := metricsQuery(t, f.q, metricsCases[1].query, start, end, step, false)
	for _, s := range res.Series {
		if len(s.Exemplars) == 0 || len(s.Exemplars) > len(s.Samples) {
			t.Errorf("series %s has %d exemplars, want 1 to one per step", s.PromLabels(), len(s.Exemplars))
		}
		for _, e := range s.Exemplars {
			i := slices.IndexFunc(f.spans, func(sp metricsSpan) bool {
				return sp.trace == e.TraceID && sp.id == e.SpanID[7]
			})
			if i < 0 || !f.spans[i].err || byService(f.spans[i]) != s.PromLabels() || f.spans[i].start.UnixMilli() != e.TimestampMs {
				t.Errorf("series %s: exemplar %x/%x at %d is not a span it counted", s.PromLabels(), e.TraceID, e.SpanID, e.TimestampMs)
			}
		}
	}
}

// Two queriers sharing the partitions count the same: the live tail each
// owns is counted by its owner, which sends back partial series.
func TestMetricsQueryAcrossQueriers(t *testing.T) {
	f := newMetricsFixtureOf(t, 2)
	await := func(cond func() bool) {
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the queriers did not share the partitions")
			}
		}
	}
	// Each querier owns some partitions.
	await(func() bool {
		return len(f.qs[0].live.Tail().Owned()) > 0 && len(f.qs[1].live.Tail().Owned()) > 0
	})
	start, end := querytest.Base, querytest.Base.Add(30*time.Minute)
	for _, c := range metricsCases {
		for _, q := range f.qs {
			res := metricsQuery(t, q, c.query, start, end, time.Minute, false)
			diffSeries(t, c.query, gotSeries(res), f.wantSeries(c, start, end, time.Minute))
		}
	}
}

// compare() counts, per side and attribute, the spans of each of the
// topN values of most spans, and of the attribute at all.
func TestMetricsQueryCompare(t *testing.T) {
	f := newMetricsFixture(t)
	start, end := querytest.Base, querytest.Base.Add(30*time.Minute)
	step := end.Sub(start) // one step over the range, as Traces Drilldown asks
	selStart, selEnd := querytest.Base.Add(10*time.Minute), querytest.Base.Add(20*time.Minute)
	for _, tc := range []struct {
		query  string
		topN   int
		picked func(sp metricsSpan) bool
	}{
		{`{ } | compare({ status = error })`, 10, func(sp metricsSpan) bool { return sp.err }},
		{fmt.Sprintf(`{ name != "op-2" } | compare({ span.n > 5 }, 2, %d, %d)`, selStart.UnixNano(), selEnd.UnixNano()), 2, func(sp metricsSpan) bool {
			return sp.n > 5 && !sp.start.Before(selStart) && sp.start.Before(selEnd)
		}},
	} {
		// The steps, as wantSeries lays them out.
		first := time.Unix(0, start.UnixNano()-start.UnixNano()%int64(step)).Add(-step)
		type key struct{ side, attr string }
		counts := map[key]map[string]map[int64]float64{} // value text -> step -> spans
		totals := map[key]map[int64]float64{}
		for _, sp := range f.spans {
			if strings.Contains(tc.query, `name != "op-2"`) && sp.name == "op-2" || !sp.start.After(first) || sp.start.After(end) {
				continue
			}
			ts := first.Add(time.Duration(math.Ceil(float64(sp.start.Sub(first))/float64(step))) * step).UnixMilli()
			side := "baseline"
			if tc.picked(sp) {
				side = "selection"
			}
			status := "unset"
			if sp.err {
				status = "error"
			}
			attrs := map[string]string{"name": fmt.Sprintf("%q", sp.name), "status": status, "kind": "unspecified", "span.n": fmt.Sprint(sp.n)}
			if sp.service != "" {
				attrs["resource.service.name"] = fmt.Sprintf("%q", sp.service)
			}
			for a, v := range attrs {
				k := key{side, a}
				if counts[k] == nil {
					counts[k], totals[k] = map[string]map[int64]float64{}, map[int64]float64{}
				}
				if counts[k][v] == nil {
					counts[k][v] = map[int64]float64{}
				}
				counts[k][v][ts]++
				totals[k][ts]++
			}
		}
		want := map[string]map[int64]float64{}
		steps := func(m map[int64]float64) map[int64]float64 {
			out := map[int64]float64{}
			for t := first.Add(step); !t.After(end.Add(step - 1)); t = t.Add(step) {
				out[t.UnixMilli()] = m[t.UnixMilli()]
			}
			return out
		}
		for k, byValue := range counts {
			var values []string
			for v := range byValue {
				values = append(values, v)
			}
			total := func(v string) (n float64) {
				for _, c := range byValue[v] {
					n += c
				}
				return n
			}
			sort.Slice(values, func(i, j int) bool {
				if ti, tj := total(values[i]), total(values[j]); ti != tj {
					return ti > tj
				}
				return values[i] < values[j]
			})
			for _, v := range values[:min(tc.topN, len(values))] {
				want[fmt.Sprintf(`{__meta_type=%q, %s=%q}`, k.side, k.attr, strings.Trim(v, `"`))] = steps(byValue[v])
			}
			want[fmt.Sprintf(`{__meta_type="%s_total", %s="<nil>"}`, k.side, k.attr)] = steps(totals[k])
		}
		res := metricsQuery(t, f.q, tc.query, start, end, step, false)
		diffSeries(t, tc.query, gotSeries(res), want)
	}
}

// compare() reads every trace whole, which would push out of the search
// cache what searches keep there: it leaves the cache alone.
func TestMetricsQueryCompareLeavesTheSearchCache(t *testing.T) {
	f := newMetricsFixture(t)
	start, end := querytest.Base, querytest.Base.Add(30*time.Minute)
	used := func() (int64, int) {
		c := f.q.searchCache
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.used, len(c.entries)
	}
	metricsQuery(t, f.q, `{ } | rate()`, start, end, time.Minute, false) // the blocks' summaries
	bytes, entries := used()
	metricsQuery(t, f.q, `{ } | compare({ status = error })`, start, end, time.Minute, false)
	if b, e := used(); b != bytes || e != entries {
		t.Errorf("search cache after compare(): %d bytes in %d entries, want %d in %d as before", b, e, bytes, entries)
	}
}
