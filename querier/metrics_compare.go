package querier

import (
	"cmp"
	"slices"
	"strings"

	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// compareSet accumulates compare({selection}, topN, start, end), as
// Traces Drilldown's comparison view reads it: of the spans the query
// selects, those the selection picks (within [start, end) when set) are
// the selection and the others the baseline; for each attribute of the
// spans (their own, their resource's, and the intrinsics name, status,
// statusMessage and kind), the spans of each value are counted per step,
// and the spans with the attribute at all.
type compareSet struct {
	c    *traceql.Compare
	grid stepGrid
	// values counts per step the spans of each attribute's values, by
	// side (0 baseline, 1 selection); totals the spans with the
	// attribute.
	values [2]map[string]map[compareValue]*compareCounts
	totals [2]map[string][]float64
	// tracked bounds the values counted, over all attributes; past it
	// the query is refused (see seriesSet.overflow).
	tracked, maxTracked int
	overflow            bool
	// distinct counts each attribute's values, both sides together; an
	// attribute with more than maxPerAttribute is dropped from the
	// answer and no longer counted.
	distinct        map[string]int
	dropped         map[string]bool
	maxPerAttribute int
	// one is the scratch trace the selection judges a span in; a set is
	// observed by one goroutine at a time.
	one []schema.SpanRow
}

// compareValue is a value as a map key: its type and text.
type compareValue struct {
	typ  traceql.Type
	text string
}

// compareCounts are the spans of a value per step.
type compareCounts struct {
	value traceql.Value
	steps []float64
}

// compareValuesPerSeries is how many attribute values compare() may count
// per series of querier.metrics-max-series: its answer has topN values
// of each attribute, but it counts every value to find them. One
// attribute may have a tenth of them: one with more (IDs, URLs with
// IDs in them) would fill the answer with values no comparison groups
// by, and is left out of it instead of refusing the query.
const compareValuesPerSeries = 100

func newCompareSet(c *traceql.Compare, grid stepGrid, maxSeries int) *compareSet {
	s := &compareSet{
		c: c, grid: grid, maxTracked: compareValuesPerSeries * maxSeries, maxPerAttribute: compareValuesPerSeries * maxSeries / 10,
		distinct: make(map[string]int), dropped: make(map[string]bool),
	}
	for i := range 2 {
		s.values[i] = make(map[string]map[compareValue]*compareCounts)
		s.totals[i] = make(map[string][]float64)
	}
	return s
}

// observe counts a span the query selected.
func (s *compareSet) observe(row *schema.SpanRow) {
	i := s.grid.bucket(row.StartUnixNano)
	if i < 0 {
		return
	}
	side := 0
	in := s.c.Start == 0 || row.StartUnixNano >= uint64(s.c.Start) && row.StartUnixNano < uint64(s.c.End)
	if in {
		// The selection judges the span alone, in a scratch trace of one
		// row rather than a new one per span.
		s.one = append(s.one[:0], *row)
		if _, ok := s.c.Selection.Evaluate(s.one); ok {
			side = 1
		}
	}
	count := func(name string, v traceql.Value) {
		// Durations and values TraceQL cannot compare make no useful
		// groups.
		if t := v.Type(); t == traceql.TypeNil || t == traceql.TypeDuration || s.dropped[name] {
			return
		}
		byValue := s.values[side][name]
		if byValue == nil {
			byValue = make(map[compareValue]*compareCounts)
			s.values[side][name] = byValue
			s.totals[side][name] = make([]float64, s.grid.buckets())
		}
		k := compareValue{v.Type(), v.String()}
		c := byValue[k]
		if c == nil {
			if s.distinct[name]++; s.distinct[name] > s.maxPerAttribute {
				s.drop(name)
				return
			}
			if s.tracked++; s.tracked > s.maxTracked {
				s.overflow = true
				return
			}
			if v.Type() == traceql.TypeString {
				v = traceql.StringValue(strings.Clone(v.Str())) // the rows are reused
			}
			c = &compareCounts{value: v, steps: make([]float64, s.grid.buckets())}
			byValue[k] = c
		}
		c.steps[i]++
		s.totals[side][name][i]++
	}
	count("name", traceql.StringValue(row.Name))
	count("status", traceql.StatusValue(row.StatusCode))
	count("kind", traceql.KindValue(row.Kind))
	if row.StatusMessage != "" {
		count("statusMessage", traceql.StringValue(row.StatusMessage))
	}
	for j := range row.Attrs {
		count("span."+row.Attrs[j].Key, traceql.AttributeValue(&row.Attrs[j]))
	}
	for j := range row.ResourceAttrs {
		count("resource."+row.ResourceAttrs[j].Key, traceql.AttributeValue(&row.ResourceAttrs[j]))
	}
}

// add counts o's spans too (another tenant's, on the same grid).
func (s *compareSet) add(o *compareSet) {
	for name := range o.dropped {
		s.drop(name)
	}
	for side := range 2 {
		for name, byValue := range o.values[side] {
			if s.dropped[name] {
				continue
			}
			mine := s.values[side][name]
			if mine == nil {
				mine = make(map[compareValue]*compareCounts)
				s.values[side][name] = mine
				s.totals[side][name] = make([]float64, s.grid.buckets())
			}
			for i, n := range o.totals[side][name] {
				s.totals[side][name][i] += n
			}
			for k, c := range byValue {
				if m := mine[k]; m != nil {
					for i, n := range c.steps {
						m.steps[i] += n
					}
					continue
				}
				if s.distinct[name]++; s.distinct[name] > s.maxPerAttribute {
					s.drop(name)
					break
				}
				if s.tracked++; s.tracked > s.maxTracked {
					s.overflow = true
					return
				}
				mine[k] = c
			}
		}
	}
	s.overflow = s.overflow || o.overflow
}

// drop leaves an attribute out of the answer, and frees its counts.
func (s *compareSet) drop(name string) {
	s.dropped[name] = true
	for side := range 2 {
		s.tracked -= len(s.values[side][name])
		delete(s.values[side], name)
		delete(s.totals[side], name)
	}
}

// compareMetaTypes name the sides' series in the label __meta_type.
var compareMetaTypes = [2][2]string{{"baseline", "baseline_total"}, {"selection", "selection_total"}}

// result returns the series: per side and attribute, the topN values of
// most spans over the range, and the total.
func (s *compareSet) result() []MetricsSeries {
	var out []MetricsSeries
	for side := range 2 {
		for name, byValue := range s.values[side] {
			type ranked struct {
				k     compareValue
				c     *compareCounts
				total float64
			}
			var all []ranked
			for k, c := range byValue {
				var total float64
				for _, n := range c.steps {
					total += n
				}
				all = append(all, ranked{k, c, total})
			}
			slices.SortFunc(all, func(a, b ranked) int {
				if c := cmp.Compare(b.total, a.total); c != 0 {
					return c
				}
				return strings.Compare(a.k.text, b.k.text)
			})
			for _, r := range all[:min(len(all), s.c.TopN)] {
				out = append(out, s.series(compareMetaTypes[side][0], name, r.c.value, r.c.steps))
			}
			out = append(out, s.series(compareMetaTypes[side][1], name, traceql.Value{}, s.totals[side][name]))
		}
	}
	slices.SortFunc(out, func(a, b MetricsSeries) int { return cmp.Compare(a.PromLabels(), b.PromLabels()) })
	return out
}

func (s *compareSet) series(metaType, name string, v traceql.Value, steps []float64) MetricsSeries {
	ms := MetricsSeries{Labels: []MetricsLabel{{"__meta_type", traceql.StringValue(metaType)}, {name, v}}}
	for i, n := range steps {
		ms.Samples = append(ms.Samples, MetricsSample{TimestampMs: int64(s.grid.timestamp(i) / 1e6), Value: n})
	}
	return ms
}
