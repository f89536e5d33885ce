package traceql

import (
	"errors"

	"github.com/spanlog/spanlog/schema"
)

// MetricsFunc is the function of a metrics query, which turns the spans its
// spanset expression selects into time series.
type MetricsFunc uint8

// The metrics functions.
const (
	// MetricsRate is rate(): spans per second of each step.
	MetricsRate MetricsFunc = iota
	// MetricsCount is count_over_time(): spans of each step.
	MetricsCount
	// MetricsSum, MetricsAvg, MetricsMin and MetricsMax aggregate a
	// numeric field of the spans of each step (durations in seconds).
	MetricsSum
	MetricsAvg
	MetricsMin
	MetricsMax
	// MetricsQuantile is quantile_over_time(field, q...): one series per
	// quantile, labelled p.
	MetricsQuantile
	// MetricsHistogram is histogram_over_time(field): the spans of each
	// step counted per power-of-two bucket of the field, labelled
	// __bucket.
	MetricsHistogram
	// MetricsCompare is compare({selection}, ...): the values of the
	// selected and the other spans' attributes, side by side.
	MetricsCompare
)

var metricsFuncNames = [...]string{
	MetricsRate: "rate", MetricsCount: "count_over_time", MetricsSum: "sum_over_time",
	MetricsAvg: "avg_over_time", MetricsMin: "min_over_time", MetricsMax: "max_over_time",
	MetricsQuantile: "quantile_over_time", MetricsHistogram: "histogram_over_time",
	MetricsCompare: "compare",
}

func (f MetricsFunc) String() string { return metricsFuncNames[f] }

// metricsFuncByName maps a name to its function.
func metricsFuncByName(name string) (MetricsFunc, bool) {
	for i, n := range metricsFuncNames {
		if n == name {
			return MetricsFunc(i), true
		}
	}
	return 0, false
}

// readsField reports whether the function takes a field argument.
func (f MetricsFunc) readsField() bool {
	return f != MetricsRate && f != MetricsCount && f != MetricsCompare
}

// ErrNotMetrics is what ParseMetrics's error wraps for a query without a
// metrics function: a search, which /api/search answers.
var ErrNotMetrics = errors.New("not a metrics query")

// ErrMetrics is what Parse's error wraps for a metrics query, which the
// metrics API answers, not a search.
var ErrMetrics = errors.New("a metrics query")

// MetricsQuery is a parsed TraceQL metrics query: a search query whose
// selected spans a function turns into time series, grouped by the values
// of some fields, optionally cut to the top or bottom series. It is
// immutable and safe for concurrent use.
type MetricsQuery struct {
	// Spans selects the spans the function reads: every span of the
	// spanset Spans.Evaluate returns for a trace. Its Fields include the
	// function's field and those of By.
	Spans *Query
	// Func is the function.
	Func MetricsFunc
	// Field is the field the function reads, for those that read one.
	Field Field
	// Quantiles are quantile_over_time's quantiles, each in [0, 1].
	Quantiles []float64
	// By are the fields that group the spans into series, in order.
	By []Field
	// Top, when not nil, keeps only some series (topk, bottomk).
	Top *TopSeries
	// Compare holds compare()'s arguments when Func is MetricsCompare.
	Compare *Compare

	text string // as written
}

// String returns the query as it was written, which ParseMetrics parses
// to the same query.
func (m *MetricsQuery) String() string { return m.text }

// TopSeries is a second stage that keeps the N series with the largest
// (or, Bottom, smallest) values at each step.
type TopSeries struct {
	N      int
	Bottom bool
}

// Compare is compare({selection}, topN, start, end): for each attribute of
// the spans, the counts of each of its values among the spans the
// selection picks (within [Start, End] when set) and among the others.
type Compare struct {
	// Selection picks the spans compared with the rest.
	Selection *Query
	// TopN is how many values of each attribute are kept, those of most
	// spans; 10 unless the query says.
	TopN int
	// Start and End, in unix nanoseconds, bound the selection in time
	// when not 0.
	Start, End int64
}

// SpanLocal reports whether the query judges each span alone: a filter,
// or filters joined by ||, that read no trace-level field, and no
// pipeline stage. Such a query selects a span of a trace whatever the
// trace's other spans, so that its spans can be counted where they are
// stored, without joining the parts of their traces.
func (q *Query) SpanLocal() bool {
	if len(q.stages) > 0 || q.needsTrace || q.needsTree {
		return false
	}
	var local func(e spansetExpr) bool
	local = func(e spansetExpr) bool {
		switch e := e.(type) {
		case *spansetFilter:
			return true
		case *spansetOp:
			return e.op == spansetOr && local(e.lhs) && local(e.rhs)
		}
		return false
	}
	return local(q.spansets)
}

// LabelName is the field as a metrics series' label names it, as Tempo
// does: an intrinsic by its unscoped name where it has one (name,
// status, kind, rootName, ...), else scoped (span:id); an attribute with
// its scope, unquoted (resource.service.name, span.http.route, .x).
func (f Field) LabelName() string {
	if f.Intrinsic == IntrinsicNone {
		return scopePrefixes[f.Scope] + f.Name
	}
	for name, in := range unscopedIntrinsics {
		if in == f.Intrinsic {
			return name
		}
	}
	return f.String()
}

// AttributeValue returns an attribute's value as TraceQL reads it: nil
// for bytes, arrays and maps.
func AttributeValue(a *schema.Attribute) Value { return attributeValue(a) }
