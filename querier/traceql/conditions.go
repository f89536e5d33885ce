package traceql

import (
	"github.com/spanlog/spanlog/schema"
)

// Condition is a test that, in every trace the query matches, at least one
// span passes. A storage layer may skip any data (a block, a row group, a
// page) in which it can show that no span passes one of the conditions,
// for example from a column's min/max statistics or its dictionary.
type Condition struct {
	Field Field
	Op    Op
	// Value is the literal compared with; unused for OpExists.
	Value Value
	// Filter numbers the spanset filter the condition comes from, from 0,
	// counting only filters with conditions: the conditions of one filter
	// hold on one span together.
	Filter int

	re  *regex
	cmp *comparison
}

// Matches reports whether a span on which Field has value v passes; v has
// TypeNil when the span lacks the field. It applies the query's own
// comparison rules, so pruning can never disagree with evaluation.
//
// An unscoped attribute (ScopeAny) is the span attribute if present, else
// the resource attribute: data may be skipped only if neither passes. A
// field of events or links (Field.Element) has a value on each of them:
// a span passes if one of its values does, so data may be skipped only
// if none of its events' (links') values passes. For
// OpExists, Matches reports whether v is present; an attribute holding
// bytes, an array or a map also exists, though it reads as TypeNil.
func (c Condition) Matches(v Value) bool {
	if c.Op == OpExists {
		return v.typ != TypeNil
	}
	return compareValues(v, c.Op, &c.Value, c.re)
}

// WholeTrace reports whether the condition reads a value of the whole
// trace, its root or its bounds, which a part of the trace read alone can
// get wrong.
func (c Condition) WholeTrace() bool {
	return c.Field.Intrinsic.traceLevel() && c.Field.Intrinsic != IntrinsicTraceID
}

// MatchesSpan reports whether row passes, judged by the same code as
// evaluation. A WholeTrace condition cannot be judged on one span, and
// passes.
func (c Condition) MatchesSpan(row *schema.SpanRow) bool {
	if c.WholeTrace() {
		return true
	}
	return matchesSpan(c.cmp, elementsOf(c.cmp), row, &traceInfo{})
}

// MayMatchRange reports whether a span whose value of Field lies within
// [lo, hi] may pass; false means none can. lo and hi must have the type
// the field's values have.
func (c Condition) MayMatchRange(lo, hi Value) bool {
	switch c.Op {
	case OpEqual:
		return compareValues(lo, OpLessEqual, &c.Value, nil) && compareValues(hi, OpGreaterEqual, &c.Value, nil)
	case OpGreater, OpGreaterEqual:
		return compareValues(hi, c.Op, &c.Value, nil)
	case OpLess, OpLessEqual:
		return compareValues(lo, c.Op, &c.Value, nil)
	}
	return true
}

func (c Condition) String() string {
	return (&comparison{field: c.Field, op: c.Op, lit: c.Value}).String()
}

// Conditions returns conditions that every matching trace satisfies: the
// comparisons joined by && inside a filter, from every filter that must
// select spans for the query to match (both sides of && and of the
// structural operators, the right side of the negated ones; not the sides
// of ||, nor comparisons under !, nor = nil, nor of childCount and the
// nested set, which only a whole trace tells). Each condition holds on some span,
// and the conditions of one filter (equal Filter) on one span together. An
// empty list means nothing can be pruned.
func (q *Query) Conditions() []Condition {
	var out []Condition
	filters := 0
	var spansets func(e spansetExpr)
	spansets = func(e spansetExpr) {
		switch e := e.(type) {
		case *spansetFilter:
			n := len(out)
			out = appendConjuncts(out, e.cond)
			for i := n; i < len(out); i++ {
				out[i].Filter = filters
			}
			if len(out) > n {
				filters++
			}
		case *spansetOp:
			switch {
			case e.op == spansetOr:
			case e.op == spansetStructural && e.mode == modeNot:
				// A negated operator matches when no left-hand span
				// stands in the relation, none at all included.
				spansets(e.rhs)
			default:
				spansets(e.lhs)
				spansets(e.rhs)
			}
		}
	}
	spansets(q.spansets)
	return out
}

func appendConjuncts(out []Condition, e expr) []Condition {
	switch e := e.(type) {
	case *comparison:
		if e.op == OpNotExists || e.field.Intrinsic.treeLevel() {
			// Data in which every span has the field could be
			// skipped, but no statistic tells that; and the tree's
			// numbers are known only of a whole trace.
			return out
		}
		return append(out, Condition{Field: e.field, Op: e.op, Value: e.lit, re: e.re, cmp: e})
	case *logicalExpr:
		if e.and {
			return appendConjuncts(appendConjuncts(out, e.lhs), e.rhs)
		}
	}
	return out
}
