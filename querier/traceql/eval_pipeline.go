package traceql

import (
	"math"
	"time"
)

// pipeline runs the stages over the matched spans and builds the result.
func (ev *evaluation) pipeline(q *Query, matched bitset) (SpanSet, bool) {
	var (
		aggregates []KeyValue
		selected   []Field
	)
	for _, s := range q.stages {
		switch s := s.(type) {
		case *aggregateFilter:
			v, ok := ev.aggregate(s, matched)
			if !ok || !compareValues(v, s.op, &s.lit, nil) {
				return SpanSet{}, false
			}
			aggregates = append(aggregates, KeyValue{Key: s.name(), Value: v})
		case *selectStage:
			selected = appendNew(selected, s.fields)
		}
	}
	set := SpanSet{Spans: make([]Span, 0, matched.count()), Attributes: aggregates}
	for i := matched.next(0); i >= 0; i = matched.next(i + 1) {
		set.Spans = append(set.Spans, Span{Row: &ev.trace[i]})
	}
	if len(selected) > 0 {
		ev.attachSelected(set.Spans, matched, selected)
	}
	return set, true
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
// array. A span without a field gets no entry for it, as in Tempo.
func (ev *evaluation) attachSelected(spans []Span, matched bitset, fields []Field) {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.String()
	}
	backing := make([]KeyValue, 0, len(spans)*len(fields))
	for i, k := 0, matched.next(0); i < len(spans); i, k = i+1, matched.next(k+1) {
		ev.info.span = k
		start := len(backing)
		for j := range fields {
			if v := fieldValue(&fields[j], spans[i].Row, &ev.info); v.typ != TypeNil {
				backing = append(backing, KeyValue{Key: keys[j], Value: v})
			}
		}
		spans[i].Attributes = backing[start:len(backing):len(backing)]
	}
}

// aggregate computes an aggregate over the matched spans. Spans without a
// numeric value of the field are left out, as missing values are
// everywhere else; with no values at all there is no aggregate, and the
// spanset does not match. Aggregates of attributes are floats; of
// durations, durations.
func (ev *evaluation) aggregate(a *aggregateFilter, matched bitset) (Value, bool) {
	if a.fn == aggregateCount {
		return IntValue(int64(matched.count())), true
	}
	isDuration := a.field.typ() == TypeDuration
	var (
		n      int
		sum    float64
		lo, hi = math.Inf(1), math.Inf(-1)
	)
	for i := matched.next(0); i >= 0; i = matched.next(i + 1) {
		ev.info.span = i
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
