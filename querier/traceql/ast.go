package traceql

import (
	"sync"
)

// Query is a parsed TraceQL query: a spanset expression and the pipeline
// stages after it. It is immutable and safe for concurrent use.
type Query struct {
	spansets spansetExpr
	stages   []stage
	hints    []Hint

	// sets is the number of bitsets of the trace's spans an evaluation
	// needs: each spanset node has one, shared with the nodes that are
	// not being evaluated while it holds a result, so that their number
	// grows with the query's depth, not its length.
	sets int
	// needsTrace is set when a field reads the trace's root or bounds,
	// needsTree when a structural operator or a field reads parent links,
	// and needsNestedSet when a field reads child counts or the nested
	// set; evaluation skips that work otherwise.
	needsTrace, needsTree, needsNestedSet bool
	// fields are the fields the query reads (see Fields).
	fields []Field

	scratch sync.Pool // of *evaluation, reused across traces
}

// spansetExpr is a node that selects a set of spans from a trace.
type spansetExpr interface {
	// slot is the node's bitset index in an evaluation.
	slot() int
	// depth is the number of levels from the node down to its deepest
	// leaf, itself included (see MaxDepth).
	depth() int
}

// spansetFilter is { cond }; a nil cond matches every span.
type spansetFilter struct {
	cond expr
	set  int
	// elems are the elements (events, links) cond reads, each of which
	// a span is judged on.
	elems elements
}

type spansetOperator uint8

const (
	spansetOr spansetOperator = iota
	spansetAnd
	spansetStructural // rel and mode say which
)

// relation is what a structural operator tests between a left-hand span l
// and a right-hand span r.
type relation uint8

const (
	relChild      relation = iota // >: r is a child of l
	relDescendant                 // >>: r is a descendant of l
	relParent                     // <: r is the parent of l
	relAncestor                   // <<: r is an ancestor of l
	relSibling                    // ~: r and l are distinct and share a parent
)

// inverse is the relation with the sides swapped: r is a child of l when
// l is the parent of r.
func (r relation) inverse() relation {
	switch r {
	case relChild:
		return relParent
	case relDescendant:
		return relAncestor
	case relParent:
		return relChild
	case relAncestor:
		return relDescendant
	}
	return r
}

// structuralMode says which spans a structural operator keeps.
type structuralMode uint8

const (
	// modeRight keeps the right-hand spans in the relation to some
	// left-hand span (>, >>, <, <<, ~).
	modeRight structuralMode = iota
	// modeNot keeps the right-hand spans in the relation to no left-hand
	// span (!>, !>>, !<, !<<, !~), all of them when the left side is
	// empty.
	modeNot
	// modeUnion keeps the spans of both sides that stand in the relation
	// to a span of the other (&>, &>>, &<, &<<, &~).
	modeUnion
)

// spansetOp combines two spansets. The logical operators keep the spans of
// both sides; the structural ones select by rel and mode.
type spansetOp struct {
	op       spansetOperator
	rel      relation
	mode     structuralMode
	lhs, rhs spansetExpr
	set      int
	levels   int
}

func (f *spansetFilter) slot() int { return f.set }
func (o *spansetOp) slot() int     { return o.set }

func (f *spansetFilter) depth() int {
	if f.cond == nil {
		return 1
	}
	return 1 + f.cond.depth()
}
func (o *spansetOp) depth() int { return o.levels }

// expr is a condition on one span, inside braces.
type expr interface {
	// depth is as spansetExpr's.
	depth() int
}

// logicalExpr is lhs && rhs or lhs || rhs.
type logicalExpr struct {
	and      bool
	lhs, rhs expr
	levels   int
}

// notExpr is !(x).
type notExpr struct {
	x      expr
	levels int
}

// comparison is field op lit; OpExists and OpNotExists have no literal.
type comparison struct {
	field Field
	op    Op
	lit   Value
	// re is the compiled, anchored regular expression of =~ and !~.
	re *regex
	// id is the literal decoded to bytes for span:id, span:parentID and
	// trace:id, so that comparing IDs needs no hex encoding per span; nil
	// when the literal is not hex of the ID's size.
	id []byte
}

// staticExpr is true or false alone: every span or none.
type staticExpr struct {
	v bool
}

func (l *logicalExpr) depth() int { return l.levels }
func (n *notExpr) depth() int     { return n.levels }
func (*comparison) depth() int    { return 1 }
func (*staticExpr) depth() int    { return 1 }

// Hint is a query hint, name=value in with(...) at the end of a query. A
// hint tunes how a query runs, never what it answers, so spanlog accepts
// any, as Tempo does, and reads those it knows.
type Hint struct {
	Name  string
	Value Value
}

// Hint returns the value of the last hint of that name, and whether the
// query has one.
func (q *Query) Hint(name string) (Value, bool) {
	for i := len(q.hints) - 1; i >= 0; i-- {
		if q.hints[i].Name == name {
			return q.hints[i].Value, true
		}
	}
	return Value{}, false
}

// stage is one pipeline stage after the spanset expression.
type stage interface {
	isStage()
}

type aggregateFunc uint8

const (
	aggregateCount aggregateFunc = iota
	aggregateAvg
	aggregateMin
	aggregateMax
	aggregateSum
)

var aggregateNames = [...]string{
	aggregateCount: "count", aggregateAvg: "avg", aggregateMin: "min",
	aggregateMax: "max", aggregateSum: "sum",
}

// aggregateFilter is, say, avg(span:duration) > 20ms: it keeps a spanset
// whose aggregate satisfies the comparison. field is unused for count().
type aggregateFilter struct {
	fn    aggregateFunc
	field Field
	op    Op
	lit   Value
}

// selectStage is select(fields...): it attaches the fields' values to
// every span of the spanset.
type selectStage struct {
	fields []Field
}

// byStage is by(field): it splits each spanset by the field's value.
type byStage struct {
	field Field
}

// coalesceStage is coalesce(): it merges the spansets into one.
type coalesceStage struct{}

func (*aggregateFilter) isStage() {}
func (*selectStage) isStage()     {}
func (*byStage) isStage()         {}
func (*coalesceStage) isStage()   {}
