package traceql

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// group is a spanset within the pipeline: the indexes of its spans in row
// order, and the values its stages gave it.
type group struct {
	spans []int32
	attrs []KeyValue
}

// pipeline runs the stages over the matched spans and builds the result:
// one spanset, or several once by() splits it.
func (ev *evaluation) pipeline(q *Query, matched bitset) ([]SpanSet, bool) {
	ev.indexes = ev.indexes[:0]
	for i := matched.next(0); i >= 0; i = matched.next(i + 1) {
		ev.indexes = append(ev.indexes, int32(i))
	}
	groups := append(ev.groups[:0], group{spans: ev.indexes})
	defer func() {
		clear(groups)
		ev.groups = groups[:0]
	}()
	var selected []Field
	for _, s := range q.stages {
		switch s := s.(type) {
		case *aggregateFilter:
			kept := groups[:0]
			for _, g := range groups {
				v, ok := ev.aggregate(s, g.spans)
				if ok && compareValues(v, s.op, &s.lit, nil) {
					g.attrs = append(slices.Clip(g.attrs), KeyValue{Key: s.name(), Value: v})
					kept = append(kept, g)
				}
			}
			groups = kept
		case *selectStage:
			selected = appendNew(selected, s.fields)
		case *byStage:
			groups = ev.groupBy(s, groups)
		case *coalesceStage:
			groups = ev.coalesce(groups)
		}
		if len(groups) == 0 {
			return nil, false
		}
	}
	sets := make([]SpanSet, len(groups))
	for i, g := range groups {
		set := SpanSet{Spans: make([]Span, len(g.spans)), Attributes: g.attrs}
		for j, k := range g.spans {
			set.Spans[j] = Span{Row: &ev.trace[k]}
		}
		if len(selected) > 0 {
			ev.attachSelected(set.Spans, g.spans, selected)
		}
		sets[i] = set
	}
	return sets, true
}

// groupBy splits each spanset by the value of the field on its spans, in
// the order of each value's first span; the spans without the field form
// a group too, as in Tempo.
func (ev *evaluation) groupBy(s *byStage, groups []group) []group {
	key := s.name()
	var out []group
	byValue := map[Value]int{}
	for _, g := range groups {
		clear(byValue)
		for _, k := range g.spans {
			ev.info.span = int(k)
			v := fieldValue(&s.field, &ev.trace[k], &ev.info)
			i, ok := byValue[v]
			if !ok {
				i = len(out)
				byValue[v] = i
				attrs := append(slices.Clip(g.attrs), KeyValue{Key: key, Value: v})
				out = append(out, group{attrs: attrs})
			}
			out[i].spans = append(out[i].spans, k)
		}
	}
	return out
}

// coalesce merges the spansets into one, each span once; the values the
// stages gave the spansets no longer apply to it.
func (ev *evaluation) coalesce(groups []group) []group {
	if len(groups) <= 1 {
		if len(groups) == 1 {
			groups[0].attrs = nil
		}
		return groups
	}
	var spans []int32
	for _, g := range groups {
		spans = append(spans, g.spans...)
	}
	slices.SortFunc(spans, func(a, b int32) int { return cmp.Compare(a, b) })
	return []group{{spans: slices.Compact(spans)}}
}

// appendNew appends the fields not in dst yet, so that selecting a field
// twice shows it once.
func appendNew(dst, fields []Field) []Field {
	for _, f := range fields {
		seen := false
		for _, d := range dst {
			seen = seen || d == f
		}
		if !seen {
			dst = append(dst, f)
		}
	}
	return dst
}

// attachSelected sets each span's selected values, all in one backing
// array; indexes are the spans' rows. A span without a field gets no
// entry for it, as in Tempo, nor does a field that a search result
// shows elsewhere (see selectKey).
func (ev *evaluation) attachSelected(spans []Span, indexes []int32, fields []Field) {
	keys := make([]string, 0, len(fields))
	shown := make([]Field, 0, len(fields))
	for _, f := range fields {
		if k, ok := f.selectKey(); ok {
			keys, shown = append(keys, k), append(shown, f)
		}
	}
	fields = shown
	backing := make([]KeyValue, 0, len(spans)*len(fields))
	for i := range spans {
		ev.info.span = int(indexes[i])
		start := len(backing)
		for j := range fields {
			if v := fieldValue(&fields[j], spans[i].Row, &ev.info); v.typ != TypeNil {
				backing = append(backing, KeyValue{Key: keys[j], Value: v})
			}
		}
		spans[i].Attributes = backing[start:len(backing):len(backing)]
	}
}

// aggregate computes an aggregate over a spanset. Spans without a
// numeric value of the field are left out, as missing values are
// everywhere else; with no values at all there is no aggregate, and the
// spanset does not match. Aggregates of attributes are floats; of
// durations, durations.
func (ev *evaluation) aggregate(a *aggregateFilter, spans []int32) (Value, bool) {
	if a.fn == aggregateCount {
		return IntValue(int64(len(spans))), true
	}
	isDuration := a.field.typ() == TypeDuration
	var (
		n      int
		sum    float64
		lo, hi = math.Inf(1), math.Inf(-1)
	)
	for _, i := range spans {
		ev.info.span = int(i)
		v := fieldValue(&a.field, &ev.trace[i], &ev.info)
		var x float64
		switch {
		case isDuration && v.typ == TypeDuration:
			x = float64(v.n)
		case !isDuration && v.typ.numeric():
			x = v.Float()
		default:
			continue
		}
		n++
		sum += x
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if n == 0 {
		return Value{}, false
	}
	var r float64
	switch a.fn {
	case aggregateAvg:
		r = sum / float64(n)
	case aggregateMin:
		r = lo
	case aggregateMax:
		r = hi
	case aggregateSum:
		r = sum
	}
	if isDuration {
		return DurationValue(time.Duration(math.Round(r))), true
	}
	return FloatValue(r), true
}

// selectKey is the key under which select() shows f on a span, as Tempo
// names it and Grafana reads it (Traces Drilldown draws its trees from
// nestedSetLeft, nestedSetRight and nestedSetParent): an attribute by its
// name without its scope, an intrinsic by its name without one where it
// has such a name. It is false for the fields a search result has
// already, as the span's name and duration or the trace's root and
// duration, which Tempo leaves out too.
func (f Field) selectKey() (string, bool) {
	switch f.Intrinsic {
	case IntrinsicNone:
		return f.Name, true
	case IntrinsicName, IntrinsicDuration, IntrinsicTraceDuration, IntrinsicTraceRootName, IntrinsicTraceRootService:
		return "", false
	case IntrinsicChildCount:
		return "childCount", true
	}
	for name, in := range nestedSetIntrinsics {
		if in == f.Intrinsic {
			return name, true
		}
	}
	return f.LabelName(), true
}
