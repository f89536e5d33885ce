package traceql

import "regexp"

// Condition is a test that, in every trace the query matches, at least one
// span passes. A storage layer may skip any data (a block, a row group, a
// page) in which it can show that no span passes one of the conditions,
// for example from a column's min/max statistics or its dictionary.
type Condition struct {
	Field Field
	Op    Op
	// Value is the literal compared with; unused for OpExists.
	Value Value

	re *regexp.Regexp
}

// Matches reports whether a span on which Field has value v passes; v has
// TypeNil when the span lacks the field. It applies the query's own
// comparison rules, so pruning can never disagree with evaluation.
//
// An unscoped attribute (ScopeAny) is the span attribute if present, else
// the resource attribute: data may be skipped only if neither passes. For
// OpExists, Matches reports whether v is present; an attribute holding
// bytes, an array or a map also exists, though it reads as TypeNil.
func (c Condition) Matches(v Value) bool {
	if c.Op == OpExists {
		return v.typ != TypeNil
	}
	return compareValues(v, c.Op, &c.Value, c.re)
}

func (c Condition) String() string {
	return (&comparison{field: c.Field, op: c.Op, lit: c.Value}).String()
}

// Conditions returns conditions that every matching trace satisfies: the
// comparisons joined by && inside a filter, from every filter that must
// select spans for the query to match (both sides of &&, >> and >; not the
// sides of ||, nor comparisons under !). Each condition holds on some span;
// conditions of one filter hold on the same span, but the list does not
// say which belong together. An empty list means nothing can be pruned.
func (q *Query) Conditions() []Condition {
	var out []Condition
	var spansets func(e spansetExpr)
	spansets = func(e spansetExpr) {
		switch e := e.(type) {
		case *spansetFilter:
			out = appendConjuncts(out, e.cond)
		case *spansetOp:
			if e.op != spansetOr {
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
		return append(out, Condition{Field: e.field, Op: e.op, Value: e.lit, re: e.re})
	case *logicalExpr:
		if e.and {
			return appendConjuncts(appendConjuncts(out, e.lhs), e.rhs)
		}
	}
	return out
}
