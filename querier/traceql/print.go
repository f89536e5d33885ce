package traceql

import (
	"strconv"
	"strings"
)

// String renders the query in canonical form: intrinsics scoped, one space
// around operators, parentheses only where precedence needs them. Parsing
// the canonical form gives the same query.
func (q *Query) String() string {
	var b strings.Builder
	writeSpanset(&b, q.spansets)
	for _, s := range q.stages {
		b.WriteString(" | ")
		writeStage(&b, s)
	}
	for i, h := range q.hints {
		if i == 0 {
			b.WriteString(" with(")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(h.Name + "=" + h.Value.String())
	}
	if len(q.hints) > 0 {
		b.WriteByte(')')
	}
	return b.String()
}

// Binding strengths of the binary operators, loosest first, at both the
// spanset and the condition level.
const (
	precOr = iota + 1
	precAnd
	precStructural
	precAtom
)

var (
	relationNames = [...]string{relChild: ">", relDescendant: ">>", relParent: "<", relAncestor: "<<", relSibling: "~"}
	modePrefixes  = [...]string{modeRight: "", modeNot: "!", modeUnion: "&"}
)

// name is the operator as written.
func (o *spansetOp) name() string {
	switch o.op {
	case spansetOr:
		return "||"
	case spansetAnd:
		return "&&"
	}
	return modePrefixes[o.mode] + relationNames[o.rel]
}

func spansetPrec(e spansetExpr) int {
	if o, ok := e.(*spansetOp); ok {
		switch o.op {
		case spansetOr:
			return precOr
		case spansetAnd:
			return precAnd
		}
		return precStructural
	}
	return precAtom
}

func writeSpanset(b *strings.Builder, e spansetExpr) {
	switch e := e.(type) {
	case *spansetFilter:
		if e.cond == nil {
			b.WriteString("{ }")
			return
		}
		b.WriteString("{ ")
		writeExpr(b, e.cond)
		b.WriteString(" }")
	case *spansetOp:
		// All binary operators associate to the left, so a right operand
		// of equal strength needs parentheses to keep its grouping.
		p := spansetPrec(e)
		writeOperand(b, writeSpanset, e.lhs, spansetPrec(e.lhs) < p)
		b.WriteString(" " + e.name() + " ")
		writeOperand(b, writeSpanset, e.rhs, spansetPrec(e.rhs) <= p)
	}
}

func exprPrec(e expr) int {
	if l, ok := e.(*logicalExpr); ok {
		if l.and {
			return precAnd
		}
		return precOr
	}
	return precAtom
}

func writeExpr(b *strings.Builder, e expr) {
	switch e := e.(type) {
	case *logicalExpr:
		p := exprPrec(e)
		writeOperand(b, writeExpr, e.lhs, exprPrec(e.lhs) < p)
		if e.and {
			b.WriteString(" && ")
		} else {
			b.WriteString(" || ")
		}
		writeOperand(b, writeExpr, e.rhs, exprPrec(e.rhs) <= p)
	case *notExpr:
		b.WriteString("!")
		writeOperand(b, writeExpr, e.x, true)
	case *comparison:
		b.WriteString(e.String())
	case *staticExpr:
		b.WriteString(strconv.FormatBool(e.v))
	case *valueComparison:
		writeValue(b, e.lhs)
		b.WriteString(" " + e.op.String() + " ")
		writeValue(b, e.rhs)
	}
}

// Binding strengths of arithmetic, loosest first.
const (
	precSum = iota + 1
	precProduct
	precNeg
	precOperand
)

func valuePrec(v valueExpr) int {
	a, ok := v.(*arithExpr)
	switch {
	case !ok:
		return precOperand
	case a.op == arithNeg:
		return precNeg
	case a.op == arithAdd || a.op == arithSub:
		return precSum
	}
	return precProduct
}

func writeValue(b *strings.Builder, v valueExpr) {
	switch v := v.(type) {
	case *fieldRef:
		b.WriteString(v.field.String())
	case *literal:
		b.WriteString(v.v.String())
	case *arithExpr:
		if v.op == arithNeg {
			b.WriteByte('-')
			writeOperand(b, writeValue, v.lhs, valuePrec(v.lhs) <= precNeg)
			return
		}
		p := valuePrec(v)
		writeOperand(b, writeValue, v.lhs, valuePrec(v.lhs) < p)
		b.WriteString(" " + arithNames[v.op] + " ")
		writeOperand(b, writeValue, v.rhs, valuePrec(v.rhs) <= p)
	}
}

// valueString renders a value for an error message.
func valueString(v valueExpr) string {
	var b strings.Builder
	writeValue(&b, v)
	return b.String()
}

func (c *comparison) String() string {
	if c.op == OpExists || c.op == OpNotExists {
		return c.field.String() + " " + c.op.String()
	}
	return c.field.String() + " " + c.op.String() + " " + c.lit.String()
}

func writeStage(b *strings.Builder, s stage) {
	switch s := s.(type) {
	case *byStage:
		b.WriteString(s.name())
	case *coalesceStage:
		b.WriteString("coalesce()")
	case *aggregateFilter:
		b.WriteString(s.name() + " " + s.op.String() + " " + s.lit.String())
	case *selectStage:
		b.WriteString("select(")
		for i, f := range s.fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.String())
		}
		b.WriteByte(')')
	}
}

// name is the stage as written, by(resource.service.name); it also keys
// the group's value in a SpanSet.
func (s *byStage) name() string { return "by(" + s.field.String() + ")" }

// name is the aggregate as written, such as avg(span:duration); it also
// keys the aggregate's value in a SpanSet.
func (a *aggregateFilter) name() string {
	if a.fn == aggregateCount {
		return "count()"
	}
	return aggregateNames[a.fn] + "(" + a.field.String() + ")"
}

// writeOperand writes x with write, in parentheses when paren: an operand
// that binds more loosely than its operator.
func writeOperand[T any](b *strings.Builder, write func(*strings.Builder, T), x T, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	write(b, x)
	if paren {
		b.WriteByte(')')
	}
}
