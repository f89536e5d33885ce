package querier

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/proto"

	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// quantileCellCap is the most a quantile's (series, step) may hold in
// memory, as docs/design.md states it: a sketch's two stores of
// sketchBins bins of 8 bytes (32 KiB), with what their slices' growth
// (at most a quarter) and the sketch's own fields add.
const quantileCellCap = 48 << 10

var testQuantiles = []float64{0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1}

// quantileSet returns an empty set of one series and one step for a
// quantile of durations, and the start of its spans.
func quantileSet(t testing.TB) (*seriesSet, uint64) {
	t.Helper()
	qs := make([]string, len(testQuantiles))
	for i, q := range testQuantiles {
		qs[i] = strconv.FormatFloat(q, 'g', -1, 64)
	}
	q, err := traceql.ParseMetrics(`{ } | quantile_over_time(duration, ` + strings.Join(qs, ", ") + `)`)
	if err != nil {
		t.Fatal(err)
	}
	sec := uint64(time.Second)
	g, err := newStepGrid(100*sec, 200*sec, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	return newSeriesSet(q, g, 10, 0), 150 * sec
}

// observeDurations counts one span of each duration (nanoseconds) into s,
// each its own trace, as a block or an owner counts them.
func observeDurations(s *seriesSet, start uint64, durations []int64) {
	trace := make([]schema.SpanRow, 1)
	for i, d := range durations {
		trace[0] = schema.SpanRow{TraceID: [16]byte{byte(i), byte(i >> 8), byte(i >> 16)}, StartUnixNano: start, DurationNano: d}
		s.observeTrace(trace)
	}
}

// checkQuantiles checks each quantile series of an answer of one step
// against the values sorted: exactly (as quantile computes it) when
// exact, else within sketchAccuracy of the value at rank q(n-1), rounded
// down or up.
func checkQuantiles(t *testing.T, name string, series []MetricsSeries, durations []int64, exact bool) {
	t.Helper()
	values := make([]float64, len(durations))
	for i, d := range durations {
		values[i] = time.Duration(d).Seconds()
	}
	slices.Sort(values)
	if len(series) == 0 {
		t.Fatalf("%s: no series", name)
	}
	for _, sr := range series {
		q := sr.Labels[len(sr.Labels)-1].Value.Float()
		if len(sr.Samples) != 1 {
			t.Fatalf("%s p%g: %d samples", name, q, len(sr.Samples))
		}
		got := sr.Samples[0].Value
		if exact {
			if want, _ := quantile(values, q); math.Abs(got-want) > 1e-9 {
				t.Errorf("%s p%g = %g, want exactly %g", name, q, got, want)
			}
			continue
		}
		rank := q * float64(len(values)-1)
		lo, hi := values[int(math.Floor(rank))], values[int(math.Ceil(rank))]
		within := func(x float64) bool { return math.Abs(got-x) <= sketchAccuracy*math.Abs(x)*(1+1e-9) }
		if !within(lo) && !within(hi) {
			t.Errorf("%s p%g = %g, want within %g of %g or %g", name, q, got, sketchAccuracy, lo, hi)
		}
	}
}

// Past exactValues a step's quantiles come from a sketch of every value,
// within its accuracy of the exact ones, whatever the order in which
// partial series merge: exact with exact past the threshold, exact into
// a sketch, a sketch into exact values, sketch with sketch, and through
// the JSON the owners send.
func TestQuantileSketchMerges(t *testing.T) {
	const n = 200_000
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform":    func() int64 { return 1e6 + rng.Int64N(2e9) },
		"log-normal": func() int64 { return int64(math.Exp(math.Log(50e6) + 1.5*rng.NormFloat64())) },
		"all equal":  func() int64 { return 123_456_789 },
		"zeros": func() int64 {
			if rng.IntN(4) == 0 {
				return 0
			}
			return int64(math.Exp(math.Log(2e6) + 2*rng.NormFloat64()))
		},
		"signed": func() int64 { return rng.Int64N(2e9) - 1e9 }, // a span may end before it starts
	}
	for name, next := range dists {
		durations := make([]int64, n)
		for i := range durations {
			durations[i] = next()
		}
		// Two parts that stay exact but together pass the threshold, and
		// two that each pass it.
		cuts := []int{0, 600, 1300, 80_000, n}
		parts := make([]seriesWire, len(cuts)-1)
		for i := range parts {
			set, start := quantileSet(t)
			observeDurations(set, start, durations[cuts[i]:cuts[i+1]])
			if sketched := set.order[0].quantiles[0].sketch != nil; sketched != (cuts[i+1]-cuts[i] > exactValues) {
				t.Fatalf("%s part %d of %d values: sketch %v", name, i, cuts[i+1]-cuts[i], sketched)
			}
			parts[i] = set.wire()
		}
		for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}, {0, 2, 1, 3}} {
			set, _ := quantileSet(t)
			for _, i := range order {
				if err := set.merge(parts[i]); err != nil {
					t.Fatal(err)
				}
			}
			acc := set.order[0].quantiles[0]
			if acc.sketch == nil || acc.sketch.GetCount() != n {
				t.Fatalf("%s merged in order %v: sketch %v, want one of all %d values", name, order, acc.sketch, n)
			}
			if len(set.result()) != len(testQuantiles) {
				t.Fatalf("%s: %d series, want %d", name, len(set.result()), len(testQuantiles))
			}
			checkQuantiles(t, name, set.result(), durations, false)
		}
		// Merged in pairs, then the pairs, through JSON.
		var pairs []seriesWire
		for _, pair := range [][]int{{0, 1}, {3, 2}} {
			set, _ := quantileSet(t)
			for _, i := range pair {
				if err := set.merge(parts[i]); err != nil {
					t.Fatal(err)
				}
			}
			pairs = append(pairs, roundTrip(t, set.wire()))
		}
		set, _ := quantileSet(t)
		for _, p := range pairs {
			if err := set.merge(p); err != nil {
				t.Fatal(err)
			}
		}
		checkQuantiles(t, name+" in pairs", set.result(), durations, false)
	}
}

func roundTrip(t *testing.T, w seriesWire) seriesWire {
	t.Helper()
	b, err := json.Marshal(map[string]seriesWire{"t": w})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]seriesWire
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out["t"]
}

// Up to exactValues a step's quantiles are exact, however its values
// were split.
func TestQuantileExactUpToThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	durations := make([]int64, exactValues)
	for i := range durations {
		durations[i] = rng.Int64N(1e9)
	}
	set, _ := quantileSet(t)
	for _, cut := range [][2]int{{0, 300}, {300, exactValues}} {
		part, start := quantileSet(t)
		observeDurations(part, start, durations[cut[0]:cut[1]])
		if err := set.merge(roundTrip(t, part.wire())); err != nil {
			t.Fatal(err)
		}
	}
	if set.order[0].quantiles[0].sketch != nil {
		t.Fatal("a step of exactValues values turned to a sketch")
	}
	checkQuantiles(t, "exact", set.result(), durations, true)
}

// heapBytes is the heap in use once collected.
func heapBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A step's memory stays under quantileCellCap however many values it
// counts, even spread over every decade the sketch holds, of both signs.
func TestQuantileMemoryBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dists := []struct {
		name string
		next func(i int) int64
	}{
		{"1 ns to 30 years, both signs", func(i int) int64 {
			d := int64(math.Pow(10, 18*rng.Float64()))
			if i%2 == 1 {
				d = -d
			}
			return d
		}},
		{"log-normal latencies", func(int) int64 { return int64(math.Exp(math.Log(50e6) + 1.5*rng.NormFloat64())) }},
	}
	heapBytes() // the first collection frees what the start left
	for _, dist := range dists {
		for _, n := range []int{1e4, 1e5, 1e6} {
			durations := make([]int64, n)
			for i := range durations {
				durations[i] = dist.next(i)
			}
			set, start := quantileSet(t)
			before := heapBytes()
			observeDurations(set, start, durations)
			used := int64(heapBytes()) - int64(before)
			t.Logf("%s, %d values: %d bytes", dist.name, n, used)
			if used > quantileCellCap {
				t.Errorf("%s: %d values of one step hold %d bytes, over %d", dist.name, n, used, quantileCellCap)
			}
			runtime.KeepAlive(set)
			runtime.KeepAlive(durations)
		}
	}
}

// A sketch travels between queriers as base64 of its protobuf encoding
// and answers the same on the other side; an owner asked by an older
// querier, which does not read sketches, sends every value, and values
// from an older owner merge as ever. A sketch that does not decode, or
// of another accuracy, is an error, never a crash.
func TestQuantileSketchWire(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	durations := make([]int64, 5000)
	for i := range durations {
		durations[i] = int64(math.Exp(math.Log(20e6) + rng.NormFloat64()))
	}
	owner, start := quantileSet(t)
	observeDurations(owner, start, durations)
	w := owner.wire()
	b, err := json.Marshal(map[string]seriesWire{"t": w})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"sketches":["`) || len(b) > 16<<10 {
		t.Fatalf("a step past exactValues travels as %d bytes: %.200s", len(b), b)
	}
	t.Logf("%d values travel as %d bytes", len(durations), len(b))
	asker, _ := quantileSet(t)
	if err := asker.merge(roundTrip(t, w)); err != nil {
		t.Fatal(err)
	}
	if got, want := asker.result(), owner.result(); !slices.EqualFunc(got, want, func(a, b MetricsSeries) bool {
		return a.PromLabels() == b.PromLabels() && slices.Equal(a.Samples, b.Samples)
	}) {
		t.Errorf("through JSON: %v, want %v", got, want)
	}
	checkQuantiles(t, "through JSON", asker.result(), durations, false)

	// An older asker's request does not say it reads sketches.
	var old metricsArgs
	if err := json.Unmarshal([]byte(`{"query":"{ } | quantile_over_time(duration, .5)","maxSeries":10}`), &old); err != nil {
		t.Fatal(err)
	}
	owner = old.newSet(owner.q, owner.grid)
	observeDurations(owner, start, durations)
	w = roundTrip(t, owner.wire())
	if len(w.Series) != 1 || w.Series[0].Sketches != nil || len(w.Series[0].Values[0]) != len(durations) {
		t.Fatalf("for an older asker: %+v, want every value", w.Series)
	}
	// As an older owner sends them.
	asker, _ = quantileSet(t)
	if err := asker.merge(w); err != nil {
		t.Fatal(err)
	}
	checkQuantiles(t, "from an older owner", asker.result(), durations, false)

	for _, tc := range []struct{ sketch, want string }{
		{`"%%%"`, "illegal base64"},
		{`"` + base64.StdEncoding.EncodeToString([]byte{0xff, 0xff, 0xff}) + `"`, "proto"},
		{`"` + base64.StdEncoding.EncodeToString(otherSketch(t)) + `"`, "another mapping"},
	} {
		var w map[string]seriesWire
		doc := `{"t":{"series":[{"labels":[],"steps":[0],"count":[1],"sketches":[` + tc.sketch + `]}]}}`
		if err := json.Unmarshal([]byte(doc), &w); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sketch %.20s: %v, want an error saying %q", tc.sketch, err, tc.want)
		}
	}
}

// otherSketch is a sketch of 2% accuracy, encoded.
func otherSketch(t *testing.T) []byte {
	sk, err := ddsketch.LogCollapsingLowestDenseDDSketch(0.02, 100)
	if err != nil {
		t.Fatal(err)
	}
	_ = sk.Add(1)
	b, err := proto.Marshal(sk.ToProto())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Two queriers answer a quantile of thousands of spans in one step, in
// two blocks and the live tail each owns part of, within the sketches'
// accuracy: the blocks' partial series and the owners' sketches merge.
func TestMetricsQueryQuantileSketchAcrossQueriers(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var all []int64
	traces := func(n int) ptrace.Traces {
		spans := make([]metricsSpan, n)
		for i := range spans {
			d := time.Duration(math.Exp(math.Log(30e6) + rng.NormFloat64()))
			spans[i] = metricsSpan{
				trace: randomID(rng), id: 1, name: "op",
				start: querytest.Base.Add(time.Duration(rng.IntN(600)) * time.Second), dur: d,
			}
			all = append(all, int64(d))
		}
		return metricsTraces(spans)
	}
	bkt := newTestBucket(t)
	for b := range 2 {
		querytest.WriteBlock(t, bkt, b, traces(2000))
	}
	qs := startQueriers(t, bkt, 2)
	for deadline := time.Now().Add(30 * time.Second); len(qs[0].live.Tail().Owned()) == 0 || len(qs[1].live.Tail().Owned()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the queriers did not share the partitions")
		}
	}
	// Records of many traces, each to the partition of its first.
	for range 30 {
		qs[0].produce(t, traces(200))
	}
	start, end := querytest.Base.Add(-time.Minute), querytest.Base.Add(11*time.Minute)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res := metricsQuery(t, qs[0], `{ } | count_over_time()`, start, end, 0, true)
		if len(res.Series) == 1 && res.Series[0].Samples[0].Value == float64(len(all)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the live tail does not hold the spans produced: %+v", res.Series)
		}
	}
	for i, q := range qs {
		res := metricsQuery(t, q, `{ } | quantile_over_time(duration, 0, 0.1, 0.5, 0.9, 0.99, 1)`, start, end, 0, true)
		if len(res.Series) != 6 {
			t.Fatalf("querier %d: %d series, want 6", i, len(res.Series))
		}
		checkQuantiles(t, fmt.Sprintf("querier %d", i), res.Series, all, false)
	}
}
