package traceql

import (
	"fmt"
	"math"
	"time"

	"github.com/spanlog/spanlog/schema"
)

// valueExpr is an operand of a comparison that is more than a field
// compared with a literal: a field, a literal, or arithmetic on them.
type valueExpr interface {
	// depth is as spansetExpr's.
	depth() int
}

type fieldRef struct{ field Field }

type literal struct{ v Value }

type arithOp uint8

const (
	arithAdd arithOp = iota
	arithSub
	arithMul
	arithDiv
	arithMod
	arithNeg // unary minus; rhs is nil
)

var arithNames = [...]string{arithAdd: "+", arithSub: "-", arithMul: "*", arithDiv: "/", arithMod: "%", arithNeg: "-"}

// arithExpr is lhs op rhs, or -lhs. Two literals never meet in one: the
// parser folds them into a literal.
type arithExpr struct {
	op       arithOp
	lhs, rhs valueExpr
	cat      category
	levels   int
}

// valueComparison is lhs op rhs where a side is arithmetic, or both are
// fields; a field compared with a literal is a comparison.
type valueComparison struct {
	op       Op
	lhs, rhs valueExpr
	levels   int
}

func (*fieldRef) depth() int          { return 1 }
func (*literal) depth() int           { return 1 }
func (a *arithExpr) depth() int       { return a.levels }
func (c *valueComparison) depth() int { return c.levels }

// category is what the parser knows of a value's type: an attribute's
// type is known only per span.
type category uint8

const (
	catAttribute category = iota
	catNumber
	catDuration
	catString
	catBool
	catStatus
	catKind
)

var categoryNames = [...]string{
	catAttribute: "an attribute", catNumber: "a number", catDuration: "a duration", catString: "a string",
	catBool: "a bool", catStatus: "a status", catKind: "a kind",
}

func categoryOfType(t Type) category {
	switch t {
	case TypeInt, TypeFloat:
		return catNumber
	case TypeDuration:
		return catDuration
	case TypeString:
		return catString
	case TypeBool:
		return catBool
	case TypeStatus:
		return catStatus
	case TypeKind:
		return catKind
	}
	return catAttribute
}

func categoryOf(v valueExpr) category {
	switch v := v.(type) {
	case *fieldRef:
		return categoryOfType(v.field.typ())
	case *literal:
		return categoryOfType(v.v.typ)
	case *arithExpr:
		return v.cat
	}
	return catAttribute
}

// arithCategory returns the category of lhs op rhs, or an error message.
// Attributes count as numbers: they hold no durations. Numbers and
// durations combine as quantities do: a duration times a number, a
// duration divided by a duration, never a duration plus a number.
func arithCategory(op arithOp, lhs, rhs category) (category, string) {
	if lhs == catAttribute {
		lhs = catNumber
	}
	if rhs == catAttribute {
		rhs = catNumber
	}
	switch {
	case op == arithNeg:
		return lhs, ""
	case lhs == catNumber && rhs == catNumber:
		return catNumber, ""
	case lhs == catDuration && rhs == catDuration:
		switch op {
		case arithAdd, arithSub, arithMod:
			return catDuration, ""
		case arithDiv:
			return catNumber, ""
		}
	case lhs == catDuration && (op == arithMul || op == arithDiv),
		rhs == catDuration && op == arithMul:
		return catDuration, ""
	}
	return 0, fmt.Sprintf("%s %s %s is not defined", categoryNames[lhs], arithNames[op], categoryNames[rhs])
}

// incomparable returns why values of categories lhs and rhs cannot be
// compared with op, or "".
func incomparable(lhs, rhs category, op Op) string {
	if lhs == catAttribute {
		lhs, rhs = rhs, lhs
	}
	switch {
	case lhs == catAttribute:
	case rhs == catAttribute && (lhs == catDuration || lhs == catStatus || lhs == catKind):
		return fmt.Sprintf("attributes hold strings, numbers and booleans, not %s", categoryNames[lhs])
	case rhs != catAttribute && lhs != rhs:
		return fmt.Sprintf("%s does not compare with %s", categoryNames[lhs], categoryNames[rhs])
	case op != OpEqual && op != OpNotEqual && (lhs == catBool || lhs == catStatus || lhs == catKind):
		return fmt.Sprintf("%s compares only with = and !=, not %s", categoryNames[lhs], op)
	}
	return ""
}

// matches reports whether the comparison holds on a span. A side without
// a value (a missing field, arithmetic on a string) matches nothing.
func (c *valueComparison) matches(row *schema.SpanRow, t *traceInfo) bool {
	lhs := evalValue(c.lhs, row, t)
	if lhs.typ == TypeNil {
		return false
	}
	rhs := evalValue(c.rhs, row, t)
	if rhs.typ == TypeNil {
		return false
	}
	return compareValues(lhs, c.op, &rhs, nil)
}

// evalValue computes a value on a span. Arithmetic recurses as deep as the
// query nests, which Parse bounds.
func evalValue(v valueExpr, row *schema.SpanRow, t *traceInfo) Value {
	switch v := v.(type) {
	case *fieldRef:
		return fieldValue(&v.field, row, t)
	case *literal:
		return v.v
	case *arithExpr:
		lhs := evalValue(v.lhs, row, t)
		if lhs.typ == TypeNil {
			return lhs
		}
		if v.op == arithNeg {
			return negate(lhs)
		}
		return arithmetic(v.op, lhs, evalValue(v.rhs, row, t))
	}
	return Value{}
}

// negate returns -v; nil when v is not a number or duration, or when -v
// is out of range.
func negate(v Value) Value {
	switch v.typ {
	case TypeInt:
		if v.n == math.MinInt64 {
			return FloatValue(-float64(v.n))
		}
		return IntValue(-v.n)
	case TypeFloat:
		return FloatValue(-v.f)
	case TypeDuration:
		if v.n == math.MinInt64 {
			return Value{}
		}
		return DurationValue(-time.Duration(v.n))
	}
	return Value{}
}

// arithmetic computes a op b. Integers stay integers, and become floats
// where the result would overflow; / divides as floats, as in Tempo, so
// 7 / 2 is 3.5. Division by zero follows IEEE 754 for numbers (x / 0 is
// ±Inf, 0 / 0 and x % 0 NaN, which equals nothing), and has no value
// for durations and the integer %. Any other mix of types, such as a
// string operand, has no value: nil, which no comparison matches.
func arithmetic(op arithOp, a, b Value) Value {
	switch {
	case a.typ == TypeDuration && b.typ == TypeDuration:
		return durationArithmetic(op, a.n, b.n)
	case a.typ == TypeDuration && b.typ.numeric():
		switch op {
		case arithMul:
			return scaleDuration(float64(a.n) * b.Float())
		case arithDiv:
			if b.Float() == 0 {
				return Value{}
			}
			return scaleDuration(float64(a.n) / b.Float())
		}
	case a.typ.numeric() && b.typ == TypeDuration:
		if op == arithMul {
			return scaleDuration(a.Float() * float64(b.n))
		}
	case a.typ == TypeInt && b.typ == TypeInt:
		if v, ok := intArithmetic(op, a.n, b.n); ok {
			return v
		}
		return floatArithmetic(op, float64(a.n), float64(b.n))
	case a.typ.numeric() && b.typ.numeric():
		return floatArithmetic(op, a.Float(), b.Float())
	}
	return Value{}
}

// intArithmetic is false when the result is not an int: a quotient, or
// an overflow.
func intArithmetic(op arithOp, a, b int64) (Value, bool) {
	switch op {
	case arithAdd:
		s := a + b
		return IntValue(s), (s > a) == (b > 0)
	case arithSub:
		d := a - b
		return IntValue(d), (d < a) == (b > 0)
	case arithMul:
		if a == 0 || b == 0 {
			return IntValue(0), true
		}
		p := a * b
		return IntValue(p), p/b == a && !(a == -1 && b == math.MinInt64) && !(b == -1 && a == math.MinInt64)
	case arithMod:
		if b == 0 {
			return Value{}, true
		}
		return IntValue(a % b), true
	}
	return Value{}, false
}

func floatArithmetic(op arithOp, a, b float64) Value {
	switch op {
	case arithAdd:
		return FloatValue(a + b)
	case arithSub:
		return FloatValue(a - b)
	case arithMul:
		return FloatValue(a * b)
	case arithDiv:
		return FloatValue(a / b)
	}
	return FloatValue(math.Mod(a, b))
}

func durationArithmetic(op arithOp, a, b int64) Value {
	switch op {
	case arithAdd, arithSub:
		if v, ok := intArithmetic(op, a, b); ok {
			return DurationValue(time.Duration(v.n))
		}
	case arithDiv:
		return FloatValue(float64(a) / float64(b))
	case arithMod:
		if b != 0 {
			v, _ := intArithmetic(op, a, b)
			return DurationValue(time.Duration(v.n))
		}
	}
	return Value{}
}

// scaleDuration rounds d to nanoseconds; nil when it is out of range.
func scaleDuration(d float64) Value {
	d = math.Round(d)
	if math.IsNaN(d) || d >= math.MaxInt64 || d < math.MinInt64 {
		return Value{}
	}
	return DurationValue(time.Duration(d))
}
