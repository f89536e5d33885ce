package querier

import (
	"time"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// candidate is a trace that may match: one with a span that passes the
// scan's filter and whose summary passes its trace-level conditions; and
// an upper bound of its start, the earliest start of its spans that phase
// 1 read.
type candidate struct {
	id    [16]byte
	start uint64
	// verified says a span of it is known to pass the filter; a lazy
	// search has not scanned for the spans of the others (see partsPlan).
	verified bool
}

// candidateFilter is a test on single spans that every trace a query
// matches passes on at least one span: the conditions of one of the
// query's filters, as far as a span can be judged alone. A trace none of
// whose spans passes, in any source, cannot match, so a search reads whole
// only the traces with a span that passes: its candidates.
type candidateFilter struct {
	conds []candidateCondition
	// cols are the columns the conditions read, and keys the attributes.
	cols block.Columns
	keys []string
}

type candidateCondition struct {
	traceql.Condition
	// serviceName is set when the condition is on resource.service.name
	// and can be judged from SpanRow.ServiceName, the search column that
	// copies it (see usesServiceNameColumn).
	serviceName bool
}

// newCandidateFilter returns the filter of q that reads the least, or nil
// when q has none (such as {} or { traceDuration > 1s }): then every trace
// is a candidate.
func newCandidateFilter(q *traceql.Query) *candidateFilter {
	byFilter := map[int]*candidateFilter{}
	var order []int
	for _, c := range q.Conditions() {
		if c.WholeTrace() {
			continue // a part of a trace may judge it wrong
		}
		f := byFilter[c.Filter]
		if f == nil {
			f = &candidateFilter{}
			byFilter[c.Filter] = f
			order = append(order, c.Filter)
		}
		cc := candidateCondition{Condition: c, serviceName: usesServiceNameColumn(c)}
		f.conds = append(f.conds, cc)
		f.cols |= cc.columns()
		if cc.columns()&(block.SpanAttrs|block.ResourceAttrs) != 0 {
			f.keys = append(f.keys, c.Field.Name)
		}
	}
	var best *candidateFilter
	for _, i := range order {
		f := byFilter[i]
		// Fewer columns read first; among equals, more
		// conditions on one span, which is likely fewer candidates.
		if best == nil || columnCost(f.cols) < columnCost(best.cols) ||
			columnCost(f.cols) == columnCost(best.cols) && len(f.conds) > len(best.conds) {
			best = f
		}
	}
	return best
}

// columnCost weighs what reading cols costs: an attribute list costs
// many times a column of the span's own.
func columnCost(c block.Columns) int {
	n := 0
	for ; c != 0; c &= c - 1 {
		if c&-c&(block.SpanAttrs|block.ResourceAttrs) != 0 {
			n += 10
		} else {
			n++
		}
	}
	return n
}

// usesServiceNameColumn reports whether c can be judged from the
// service_name search column alone. The column holds the resource's
// service.name when that is a string, and is empty (null) otherwise, so
// the two agree on every span, except one whose service.name is the empty
// string: safe only for conditions that the empty string fails.
func usesServiceNameColumn(c traceql.Condition) bool {
	return c.Field.Intrinsic == traceql.IntrinsicNone && c.Field.Scope == traceql.ScopeResource &&
		c.Field.Name == schema.KeyServiceName && c.Op != traceql.OpExists &&
		c.Value.Type() == traceql.TypeString && !c.Matches(traceql.StringValue(""))
}

// columns returns the columns the condition reads.
func (c candidateCondition) columns() block.Columns {
	if c.serviceName {
		return block.ServiceName
	}
	switch c.Field.Intrinsic {
	case traceql.IntrinsicNone:
	case traceql.IntrinsicName:
		return block.Name
	case traceql.IntrinsicStatus, traceql.IntrinsicStatusMessage:
		return block.Status
	case traceql.IntrinsicKind:
		return block.Kind
	case traceql.IntrinsicDuration:
		return block.Duration
	case traceql.IntrinsicSpanID, traceql.IntrinsicParentID:
		return block.SpanIDs
	default:
		return 0 // trace:id; every scan reads it
	}
	switch c.Field.Scope {
	case traceql.ScopeSpan:
		return block.SpanAttrs
	case traceql.ScopeResource:
		return block.ResourceAttrs
	}
	return block.SpanAttrs | block.ResourceAttrs
}

// matches reports whether row passes every condition. row needs only the
// fields of f.cols.
func (f *candidateFilter) matches(row *schema.SpanRow) bool {
	for i := range f.conds {
		c := &f.conds[i]
		if c.serviceName {
			if row.ServiceName == "" || !c.Matches(traceql.StringValue(row.ServiceName)) {
				return false
			}
		} else if !c.MatchesSpan(row) {
			return false
		}
	}
	return true
}

// anyMatches reports whether a span of trace passes.
func (f *candidateFilter) anyMatches(trace []schema.SpanRow) bool {
	for i := range trace {
		if f.matches(&trace[i]) {
			return true
		}
	}
	return false
}

// rulesOut reports whether the statistics of a row group show that none of
// its spans passes.
func (f *candidateFilter) rulesOut(s block.GroupStats) bool {
	for i := range f.conds {
		c := &f.conds[i]
		var lo, hi traceql.Value
		var ok bool
		switch {
		case c.serviceName:
			lo, hi, ok = stringBounds(s, schema.ColumnServiceName)
		case c.Field.Intrinsic == traceql.IntrinsicName:
			lo, hi, ok = stringBounds(s, schema.ColumnName)
		case c.Field.Intrinsic == traceql.IntrinsicStatus:
			lo, hi, ok = intBounds(s, schema.ColumnStatusCode, func(n int64) traceql.Value { return traceql.StatusValue(int32(n)) })
		case c.Field.Intrinsic == traceql.IntrinsicKind:
			lo, hi, ok = intBounds(s, schema.ColumnKind, func(n int64) traceql.Value { return traceql.KindValue(int32(n)) })
		case c.Field.Intrinsic == traceql.IntrinsicDuration:
			lo, hi, ok = intBounds(s, schema.ColumnDuration, func(n int64) traceql.Value { return traceql.DurationValue(time.Duration(n)) })
		}
		if ok && !c.MayMatchRange(lo, hi) {
			return true
		}
	}
	return false
}

func stringBounds(s block.GroupStats, column string) (lo, hi traceql.Value, ok bool) {
	l, h, ok := s.StringBounds(column)
	return traceql.StringValue(l), traceql.StringValue(h), ok
}

func intBounds(s block.GroupStats, column string, value func(int64) traceql.Value) (lo, hi traceql.Value, ok bool) {
	l, h, ok := s.Int64Bounds(column)
	return value(l), value(h), ok
}
