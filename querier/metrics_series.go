package querier

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// MetricsSeries is one time series of a metrics query's answer.
type MetricsSeries struct {
	// Labels name the series: the by() fields' values in order (those the
	// spans lack left out, and the first kept as nil when they lack
	// all), then p for a quantile or __bucket for a histogram; __name__
	// with the function's name for a series without by().
	Labels []MetricsLabel
	// Samples are the series' values in time order, one per step that
	// has one: rate and counts have one at every step, 0 where no span
	// counted; the aggregates of a field only where a span had it.
	Samples []MetricsSample
	// Exemplars are spans the series counted.
	Exemplars []MetricsExemplar
}

// MetricsLabel is a label of a series; a value of type nil is a field
// the series' spans lack.
type MetricsLabel struct {
	Key   string
	Value traceql.Value
}

// MetricsSample is a series' value at the end of a step.
type MetricsSample struct {
	TimestampMs int64
	Value       float64
}

// MetricsExemplar is a span a series counted, with the value it was
// counted at (for rate and counts, the step's value).
type MetricsExemplar struct {
	TraceID     [16]byte
	SpanID      [8]byte
	TimestampMs int64
	Value       float64
}

// PromLabels renders the labels as Prometheus writes a series,
// {a="x", b="y"} sorted by name, with Tempo's spellings of a nil value
// (<nil>) and an empty string (<empty>).
func (s *MetricsSeries) PromLabels() string {
	ls := slices.Clone(s.Labels)
	slices.SortFunc(ls, func(a, b MetricsLabel) int { return cmp.Compare(a.Key, b.Key) })
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Key)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labelText(l.Value)))
	}
	b.WriteByte('}')
	return b.String()
}

// labelText is a label value as text, as Tempo writes it.
func labelText(v traceql.Value) string {
	switch v.Type() {
	case traceql.TypeNil:
		return "<nil>"
	case traceql.TypeString:
		if v.Str() == "" {
			return "<empty>"
		}
		return v.Str()
	case traceql.TypeFloat:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case traceql.TypeDuration:
		return v.Duration().String()
	}
	s := v.String() // ints, bools, statuses and kinds as TraceQL writes them
	return strings.Trim(s, `"`)
}

// seriesSet accumulates the spans of one metrics query into series.
type seriesSet struct {
	q         *traceql.MetricsQuery
	grid      stepGrid
	maxSeries int
	exemplars int // in the answer, and so at most per series

	// comparison accumulates compare() in place of the series.
	comparison *compareSet
	// first and n are the steps the set holds of the grid's: all of them,
	// unless narrowed to those of a block's spans.
	first, n int

	byKey map[string]*seriesAcc
	order []*seriesAcc
	// overflow is set when a span would have made more than maxSeries
	// series; the answer is refused then (see ErrTooManySeries).
	overflow bool
	key      []byte // scratch
	vals     []traceql.Value
	// exactValues is how many values a quantile's (series, step) keeps
	// before it turns to a sketch (see exactValues).
	exactValues int
}

// seriesAcc is what one series has counted, per step.
type seriesAcc struct {
	labels         []traceql.Value // by values, then the histogram bucket
	count          []float64
	sum, min, max  []float64     // for the aggregates of a field
	quantiles      []quantileAcc // for quantiles
	exemplars      []MetricsExemplar
	exemplarBucket []int
}

func newSeriesSet(q *traceql.MetricsQuery, grid stepGrid, maxSeries, exemplars int) *seriesSet {
	s := &seriesSet{q: q, grid: grid, maxSeries: maxSeries, exemplars: exemplars, byKey: make(map[string]*seriesAcc), n: grid.buckets(), exactValues: exactValues}
	if q.Compare != nil {
		s.comparison = newCompareSet(q.Compare, grid, maxSeries)
	}
	return s
}

// observeTrace counts the spans the query selects of one whole trace.
func (s *seriesSet) observeTrace(trace []schema.SpanRow) bool {
	sets, ok := s.q.Spans.Evaluate(trace)
	if !ok {
		return false
	}
	var root *schema.SpanRow
	rootOf := func() *schema.SpanRow {
		if root == nil {
			root = traceql.Root(trace)
		}
		return root
	}
	// by() splits the selected spans into spansets, never sharing one.
	for _, set := range sets {
		for _, sp := range set.Spans {
			if s.comparison != nil {
				s.comparison.observe(sp.Row)
				s.overflow = s.overflow || s.comparison.overflow
				continue
			}
			s.observe(sp.Row, rootOf)
		}
	}
	return true
}

// fieldValue is f's value on row, the trace's root telling the
// trace-level fields by() allows.
func fieldValue(f traceql.Field, row *schema.SpanRow, root func() *schema.SpanRow) traceql.Value {
	switch f.Intrinsic {
	case traceql.IntrinsicTraceRootName:
		return traceql.StringValue(root().Name)
	case traceql.IntrinsicTraceRootService:
		return traceql.Field{Scope: traceql.ScopeResource, Name: schema.KeyServiceName}.SpanValue(root())
	}
	return f.SpanValue(row)
}

// number is a value as the aggregates read it: a duration in seconds, a
// number as itself; false for anything else.
func number(v traceql.Value) (float64, bool) {
	switch {
	case v.Type() == traceql.TypeDuration:
		return v.Duration().Seconds(), true
	case v.Type() == traceql.TypeInt || v.Type() == traceql.TypeFloat:
		return v.Float(), true
	}
	return 0, false
}

// histogramBucket is the upper bound of the power-of-two bucket of v:
// for a duration, the power of two nanoseconds at or above it, in
// seconds (as Tempo's); for a number, the power of two at or above it.
func histogramBucket(v traceql.Value) traceql.Value {
	if v.Type() == traceql.TypeDuration {
		ns := max(float64(v.Duration()), 1)
		return traceql.FloatValue(math.Exp2(math.Ceil(math.Log2(ns))) / 1e9)
	}
	x := v.Float()
	if x <= 0 {
		return traceql.FloatValue(0)
	}
	return traceql.FloatValue(math.Exp2(math.Ceil(math.Log2(x))))
}

// narrow makes a set that has counted nothing yet hold only the steps of
// spans that start within [lo, hi]: a block's set, so that one query's
// sets of many blocks read at once hold the steps of their blocks' times,
// not each every step of the range.
func (s *seriesSet) narrow(lo, hi uint64) {
	last := s.grid.buckets() - 1
	clamp := func(ts uint64) int {
		switch {
		case s.grid.instant || ts <= s.grid.start:
			return 0
		case ts > s.grid.end:
			return last
		}
		return s.grid.bucket(ts)
	}
	if first, end := clamp(lo), clamp(hi); len(s.order) == 0 && first <= end {
		s.first, s.n = first, end-first+1
	}
}

// widen makes the set hold every step of the grid again, for a span
// outside the steps it was narrowed to.
func (s *seriesSet) widen() {
	n := s.grid.buckets()
	for _, acc := range s.order {
		grown := &seriesAcc{}
		s.alloc(grown, n)
		// Only the arrays the function keeps are there to copy.
		copy(grown.count[s.first:], acc.count)
		if acc.sum != nil {
			copy(grown.sum[s.first:], acc.sum)
		}
		if acc.min != nil {
			copy(grown.min[s.first:], acc.min)
		}
		if acc.max != nil {
			copy(grown.max[s.first:], acc.max)
		}
		if acc.quantiles != nil {
			copy(grown.quantiles[s.first:], acc.quantiles)
		}
		acc.count, acc.sum, acc.min, acc.max, acc.quantiles = grown.count, grown.sum, grown.min, grown.max, grown.quantiles
	}
	s.first, s.n = 0, n
}

// local returns the index in the set's arrays of the grid's step g,
// widening the set when it does not hold it.
func (s *seriesSet) local(g int) int {
	if g < s.first || g >= s.first+s.n {
		s.widen()
	}
	return g - s.first
}

func (s *seriesSet) observe(row *schema.SpanRow, root func() *schema.SpanRow) {
	g := s.grid.bucket(row.StartUnixNano)
	if g < 0 {
		return
	}
	fn := s.q.Func
	var x float64
	var field traceql.Value
	if s.q.Field != (traceql.Field{}) {
		field = fieldValue(s.q.Field, row, root)
		var ok bool
		if x, ok = number(field); !ok {
			return
		}
	}
	s.vals = s.vals[:0]
	for _, f := range s.q.By {
		s.vals = append(s.vals, fieldValue(f, row, root))
	}
	if fn == traceql.MetricsHistogram {
		s.vals = append(s.vals, histogramBucket(field))
	}
	acc := s.series()
	if acc == nil {
		return
	}
	i := s.local(g)
	acc.count[i]++
	switch fn {
	case traceql.MetricsSum, traceql.MetricsAvg:
		acc.sum[i] += x
	case traceql.MetricsMin:
		acc.min[i] = min(acc.min[i], x)
	case traceql.MetricsMax:
		acc.max[i] = max(acc.max[i], x)
	case traceql.MetricsQuantile:
		acc.quantiles[i].add(x, s.exactValues)
	}
	if len(acc.exemplars) < s.exemplars && !slices.Contains(acc.exemplarBucket, g) {
		acc.exemplars = append(acc.exemplars, MetricsExemplar{
			TraceID: row.TraceID, SpanID: row.SpanID,
			TimestampMs: int64(row.StartUnixNano / 1e6), Value: x,
		})
		acc.exemplarBucket = append(acc.exemplarBucket, g)
	}
}

// series returns the accumulator of the series of s.vals, made if new;
// nil past maxSeries.
func (s *seriesSet) series() *seriesAcc {
	s.key = s.key[:0]
	for _, v := range s.vals {
		s.key = append(s.key, byte(v.Type()))
		s.key = append(s.key, v.String()...)
		s.key = append(s.key, 0)
	}
	if acc, ok := s.byKey[string(s.key)]; ok {
		return acc
	}
	if len(s.order) >= s.maxSeries {
		s.overflow = true
		return nil
	}
	acc := &seriesAcc{labels: slices.Clone(s.vals)}
	for i, v := range acc.labels {
		// A scan's rows may point into pages it reuses.
		if v.Type() == traceql.TypeString {
			acc.labels[i] = traceql.StringValue(strings.Clone(v.Str()))
		}
	}
	s.alloc(acc, s.n)
	s.byKey[string(s.key)] = acc
	s.order = append(s.order, acc)
	return acc
}

// alloc gives acc the arrays of n steps the function keeps.
func (s *seriesSet) alloc(acc *seriesAcc, n int) {
	acc.count = make([]float64, n)
	switch s.q.Func {
	case traceql.MetricsSum, traceql.MetricsAvg:
		acc.sum = make([]float64, n)
	case traceql.MetricsMin:
		acc.min = filled(n, math.Inf(1))
	case traceql.MetricsMax:
		acc.max = filled(n, math.Inf(-1))
	case traceql.MetricsQuantile:
		acc.quantiles = make([]quantileAcc, n)
	}
}

func filled(n int, x float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = x
	}
	return out
}

// result returns the series, sorted by their labels, with the second
// stage (topk, bottomk) applied.
func (s *seriesSet) result() []MetricsSeries {
	if s.comparison != nil {
		return s.comparison.result()
	}
	var out []MetricsSeries
	for _, acc := range s.order {
		if s.q.Func == traceql.MetricsQuantile {
			for _, q := range s.q.Quantiles {
				out = appendSeries(out, s.labels(acc, MetricsLabel{"p", traceql.FloatValue(q)}), s.samples(acc, func(i int) (float64, bool) {
					return acc.quantiles[i].quantile(q)
				}), nil)
			}
			continue
		}
		var extra []MetricsLabel
		if s.q.Func == traceql.MetricsHistogram {
			extra = append(extra, MetricsLabel{"__bucket", acc.labels[len(acc.labels)-1]})
		}
		samples := s.samples(acc, s.value(acc))
		out = appendSeries(out, s.labels(acc, extra...), samples, s.exemplarsOf(acc, samples))
	}
	// Sorted first, so that topk breaks ties the same way every time.
	slices.SortFunc(out, func(a, b MetricsSeries) int { return cmp.Compare(a.PromLabels(), b.PromLabels()) })
	if s.q.Top != nil {
		out = top(out, s.q.Top)
	}
	trimExemplars(out, s.exemplars)
	return out
}

// trimExemplars keeps at most n exemplars over all series, taking one of
// each series in turn, so that every series keeps some.
func trimExemplars(series []MetricsSeries, n int) {
	kept := make([]int, len(series))
	for more := true; more; {
		more = false
		for i := range series {
			if n > 0 && kept[i] < len(series[i].Exemplars) {
				kept[i]++
				n--
				more = true
			}
		}
	}
	for i := range series {
		series[i].Exemplars = series[i].Exemplars[:kept[i]]
	}
}

func appendSeries(out []MetricsSeries, labels []MetricsLabel, samples []MetricsSample, ex []MetricsExemplar) []MetricsSeries {
	if len(samples) == 0 {
		return out
	}
	return append(out, MetricsSeries{Labels: labels, Samples: samples, Exemplars: ex})
}

// labels returns a series' labels, as Tempo names them (see
// MetricsSeries.Labels).
func (s *seriesSet) labels(acc *seriesAcc, extra ...MetricsLabel) []MetricsLabel {
	var out []MetricsLabel
	for i, f := range s.q.By {
		if v := acc.labels[i]; v.Type() != traceql.TypeNil {
			out = append(out, MetricsLabel{f.LabelName(), v})
		}
	}
	switch {
	case len(out) == 0 && len(s.q.By) > 0:
		out = append(out, MetricsLabel{Key: s.q.By[0].LabelName()})
	case len(s.q.By) == 0 && len(extra) == 0:
		out = append(out, MetricsLabel{"__name__", traceql.StringValue(s.q.Func.String())})
	}
	return append(out, extra...)
}

// value returns the function of a step's value of a series, false when
// the step has none.
func (s *seriesSet) value(acc *seriesAcc) func(i int) (float64, bool) {
	switch s.q.Func {
	case traceql.MetricsRate:
		seconds := float64(s.grid.step) / 1e9
		return func(i int) (float64, bool) { return acc.count[i] / seconds, true }
	case traceql.MetricsSum:
		return func(i int) (float64, bool) { return acc.sum[i], acc.count[i] > 0 }
	case traceql.MetricsAvg:
		return func(i int) (float64, bool) { return acc.sum[i] / acc.count[i], acc.count[i] > 0 }
	case traceql.MetricsMin:
		return func(i int) (float64, bool) { return acc.min[i], acc.count[i] > 0 }
	case traceql.MetricsMax:
		return func(i int) (float64, bool) { return acc.max[i], acc.count[i] > 0 }
	}
	return func(i int) (float64, bool) { return acc.count[i], true } // counts, histogram buckets
}

func (s *seriesSet) samples(acc *seriesAcc, value func(int) (float64, bool)) []MetricsSample {
	out := make([]MetricsSample, 0, len(acc.count))
	for i := range acc.count {
		if v, ok := value(i); ok {
			out = append(out, MetricsSample{TimestampMs: int64(s.grid.timestamp(i+s.first) / 1e6), Value: v})
		}
	}
	return out
}

// exemplarsOf returns a series' exemplars, those of rate and the counts
// valued at their step's value, where Grafana draws them on the graph.
func (s *seriesSet) exemplarsOf(acc *seriesAcc, samples []MetricsSample) []MetricsExemplar {
	out := slices.Clone(acc.exemplars)
	if s.q.Field != (traceql.Field{}) {
		return out
	}
	for j := range out {
		ts := int64(s.grid.timestamp(acc.exemplarBucket[j]) / 1e6)
		if k, ok := slices.BinarySearchFunc(samples, ts, func(x MetricsSample, t int64) int { return cmp.Compare(x.TimestampMs, t) }); ok {
			out[j].Value = samples[k].Value
		}
	}
	return out
}

// quantile returns the q-quantile of values, exactly: the value at rank
// q(n-1) of the sorted values, interpolated linearly between the two
// nearest when that rank is not whole. It sorts values.
func quantile(values []float64, q float64) (float64, bool) {
	if len(values) == 0 {
		return 0, false
	}
	slices.Sort(values)
	rank := q * float64(len(values)-1)
	lo := int(math.Floor(rank))
	hi := min(lo+1, len(values)-1)
	return values[lo] + (values[hi]-values[lo])*(rank-float64(lo)), true
}

// top keeps, at each step, the t.N series with the largest (smallest for
// bottomk) values there, as Tempo's topk and bottomk do: a series keeps
// the samples of the steps where it is among them, and a series never
// among them is dropped.
func top(series []MetricsSeries, t *traceql.TopSeries) []MetricsSeries {
	type at struct {
		series int
		value  float64
	}
	byTime := make(map[int64][]at)
	for i, s := range series {
		for _, smp := range s.Samples {
			byTime[smp.TimestampMs] = append(byTime[smp.TimestampMs], at{i, smp.Value})
		}
	}
	keep := make(map[[2]int64]bool)
	for ts, all := range byTime {
		slices.SortStableFunc(all, func(a, b at) int {
			if t.Bottom {
				return cmp.Compare(a.value, b.value)
			}
			return cmp.Compare(b.value, a.value)
		})
		for _, a := range all[:min(t.N, len(all))] {
			keep[[2]int64{int64(a.series), ts}] = true
		}
	}
	var out []MetricsSeries
	for i, s := range series {
		kept := s.Samples[:0:0]
		for _, smp := range s.Samples {
			if keep[[2]int64{int64(i), smp.TimestampMs}] {
				kept = append(kept, smp)
			}
		}
		if len(kept) > 0 {
			s.Samples = kept
			out = append(out, s)
		}
	}
	return out
}
