package querier

import (
	"bytes"
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
	// block, if not nil, stands for the candidates of a block not read
	// yet, and start is the block's latest span end: no part in it
	// starts later. Reading blocks as they come up, most recent first,
	// a search with a limit reads only the blocks that can hold a trace
	// of the answer. after, if set, is the last candidate of the block
	// queued when it was read before: it stands for those after it.
	block *schema.BlockMeta
	after *candidate
}

// before reports whether c is taken from the queue before d.
func (c *candidate) before(d candidate) bool {
	if c.start != d.start {
		return c.start > d.start
	}
	return bytes.Compare(c.id[:], d.id[:]) < 0
}

// unreadBlock returns the candidate that stands for block m until it is
// read.
func unreadBlock(m *schema.BlockMeta) candidate {
	return candidate{start: uint64(max(m.MaxEnd.UnixNano(), 0)), block: m}
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
	// column, if set, is the search column that judges the condition
	// in place of the attribute lists (see searchColumnOf).
	column string
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
		if fieldColumns(c.Field)&block.Whole != 0 {
			// A scan reads no events, links or scope, nor does the
			// live tail's index hold them: the conditions on them
			// are judged when the candidates are read whole.
			continue
		}
		f := byFilter[c.Filter]
		if f == nil {
			f = &candidateFilter{}
			byFilter[c.Filter] = f
			order = append(order, c.Filter)
		}
		cc := candidateCondition{Condition: c, column: searchColumnOf(c)}
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

// searchColumnOf returns the search column that can judge c alone, or "".
// A string search column holds its attribute when that is a non-empty
// string, and is empty (null) otherwise, so the two agree on every span
// for a condition that the empty string fails; values of other types fail
// a comparison with a string. Reading one column of a span costs a
// fraction of reading its attribute list.
func searchColumnOf(c traceql.Condition) string {
	if c.Field.Intrinsic != traceql.IntrinsicNone || c.Op == traceql.OpExists ||
		c.Value.Type() != traceql.TypeString || c.Matches(traceql.StringValue("")) {
		return ""
	}
	switch c.Field.Scope {
	case traceql.ScopeResource:
		return schema.StringSearchColumn(true, c.Field.Name)
	case traceql.ScopeSpan:
		return schema.StringSearchColumn(false, c.Field.Name)
	}
	return ""
}

// columns returns the columns the condition reads.
func (c candidateCondition) columns() block.Columns {
	if c.column != "" {
		return block.ColumnFlag(c.column)
	}
	return fieldColumns(c.Field)
}

// fieldColumns returns the columns that hold field f of a span: Whole
// for the fields of its events, links and instrumentation scope, which
// only a whole row holds.
func fieldColumns(f traceql.Field) block.Columns {
	if f.Element() != traceql.ElementNone || f.Scope == traceql.ScopeInstrumentation ||
		f.Intrinsic == traceql.IntrinsicInstrumentationName || f.Intrinsic == traceql.IntrinsicInstrumentationVersion {
		return block.Whole
	}
	switch f.Intrinsic {
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
	case traceql.IntrinsicTraceRootName, traceql.IntrinsicTraceDuration:
		return block.SpanIDs | block.Name | block.Duration
	case traceql.IntrinsicTraceRootService:
		// The root's service.name, whatever its type.
		return block.SpanIDs | block.ResourceAttrs
	default:
		return 0 // trace:id; every scan reads it
	}
	switch f.Scope {
	case traceql.ScopeSpan:
		return block.SpanAttrs
	case traceql.ScopeResource:
		return block.ResourceAttrs
	}
	return block.SpanAttrs | block.ResourceAttrs
}

// hitColumns are the columns phase 2 of a search for q reads of its
// candidates: what a hit says of a trace (its root and bounds, its spans
// and errors per service, each matched span's ID, name and duration),
// and every field q reads. The attribute lists, most of a block's bytes,
// are read only for a query that tests or selects an attribute.
//
// Of the lists, only the attributes hitKeys names are read.
func hitColumns(q *traceql.Query) block.Columns {
	cols := block.SpanIDs | block.Name | block.Duration | block.Status | block.ServiceName
	if q != nil {
		for _, f := range q.Fields() {
			cols |= fieldColumns(f)
		}
	}
	return cols
}

// hitKeys returns the attributes a search for q reads of its candidates'
// attribute lists (see hitColumns): those q names, and the root's
// service.name for rootServiceName.
func hitKeys(q *traceql.Query) []string {
	keys := []string{}
	if q == nil {
		return keys
	}
	for _, f := range q.Fields() {
		switch f.Intrinsic {
		case traceql.IntrinsicNone:
			keys = append(keys, f.Name)
		case traceql.IntrinsicTraceRootService:
			keys = append(keys, schema.KeyServiceName)
		}
	}
	return keys
}

// matches reports whether row passes every condition. row needs only the
// fields of f.cols.
func (f *candidateFilter) matches(row *schema.SpanRow) bool {
	for i := range f.conds {
		if !f.conds[i].matches(row) {
			return false
		}
	}
	return true
}

// rowTests returns the tests of single columns and single attributes a
// scan runs first, one after the other (block.ScanOptions.Where), with
// the columns the rest of the conditions read and a test of those: a scan
// reads the rest only of the spans that pass the tests.
func (f *candidateFilter) rowTests() (tests []block.RowTest, restCols block.Columns, rest func(*schema.SpanRow) bool) {
	var others []*candidateCondition
	for i := range f.conds {
		c := &f.conds[i]
		if column, key := c.tested(); column != "" {
			tests = append(tests, block.RowTest{Column: column, Key: key, Values: c.valueTypes(), Keep: c.matches})
			continue
		}
		others = append(others, c)
		restCols |= c.columns()
	}
	return tests, restCols, func(row *schema.SpanRow) bool {
		for _, c := range others {
			if !c.matches(row) {
				return false
			}
		}
		return true
	}
}

// valueTypes returns the types of attribute value the condition can pass:
// TraceQL compares strings with strings, numbers with numbers, booleans
// with booleans, and tests existence on any type. Zero means all.
func (c *candidateCondition) valueTypes() block.AttrValues {
	if c.Op == traceql.OpExists {
		return 0
	}
	switch c.Value.Type() {
	case traceql.TypeString:
		return block.AttrStr
	case traceql.TypeInt, traceql.TypeFloat:
		return block.AttrInt | block.AttrDouble
	case traceql.TypeBool:
		return block.AttrBool
	}
	return 0
}

// tested returns the one column the condition reads, with the key of the
// attribute when that is an attribute list; "" if it reads two columns
// (span IDs), or both lists.
func (c *candidateCondition) tested() (column, key string) {
	if c.column != "" {
		return c.column, ""
	}
	switch c.Field.Intrinsic {
	case traceql.IntrinsicNone:
		switch c.Field.Scope {
		case traceql.ScopeSpan:
			return schema.ColumnAttrs, c.Field.Name
		case traceql.ScopeResource:
			return schema.ColumnResourceAttrs, c.Field.Name
		}
		return "", ""
	case traceql.IntrinsicName:
		return schema.ColumnName, ""
	case traceql.IntrinsicStatus:
		return schema.ColumnStatusCode, ""
	case traceql.IntrinsicStatusMessage:
		return schema.ColumnStatusMessage, ""
	case traceql.IntrinsicKind:
		return schema.ColumnKind, ""
	case traceql.IntrinsicDuration:
		return schema.ColumnDuration, ""
	}
	return "", ""
}

// matches reports whether row passes the condition.
func (c *candidateCondition) matches(row *schema.SpanRow) bool {
	if c.column != "" {
		v := row.StringSearchValue(c.column)
		return v != "" && c.Matches(traceql.StringValue(v))
	}
	return c.MatchesSpan(row)
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
		case c.column != "":
			lo, hi, ok = stringBounds(s, c.column)
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
