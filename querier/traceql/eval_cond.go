package traceql

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"strings"
	"time"

	"github.com/spanlog/spanlog/schema"
)

// matches reports whether a span satisfies a condition.
func matches(e expr, row *schema.SpanRow, t *traceInfo) bool {
	switch e := e.(type) {
	case *comparison:
		return e.matches(row, t)
	case *valueComparison:
		return e.matches(row, t)
	case *logicalExpr:
		if e.and {
			return matches(e.lhs, row, t) && matches(e.rhs, row, t)
		}
		return matches(e.lhs, row, t) || matches(e.rhs, row, t)
	case *notExpr:
		return !matches(e.x, row, t)
	case *staticExpr:
		return e.v
	}
	return false
}

func (c *comparison) matches(row *schema.SpanRow, t *traceInfo) bool {
	switch c.op {
	case OpExists:
		return fieldExists(&c.field, row, t)
	case OpNotExists:
		return !fieldExists(&c.field, row, t)
	}
	if c.id != nil {
		id := idBytes(c.field.Intrinsic, row)
		return id != nil && c.op.holds(bytes.Compare(id, c.id))
	}
	if c.field.Intrinsic == IntrinsicNone {
		return compareValues(attributeValue(lookupAttribute(&c.field, row)), c.op, &c.lit, c.re)
	}
	return compareValues(fieldValue(&c.field, row, t), c.op, &c.lit, c.re)
}

// compareValues reports whether v op lit holds, following Tempo: a missing
// value never matches, not even with != (Tempo's engine and storage agree
// on this since grafana/tempo#5007); ints and floats compare as numbers;
// any other mix of types does not match, so the string "500" is not equal
// to the number 500. Strings order bytewise.
func compareValues(v Value, op Op, lit *Value, re *regex) bool {
	switch {
	case v.typ == TypeNil:
		return false
	case op == OpRegex || op == OpNotRegex:
		return v.typ == TypeString && re.matchString(v.s) == (op == OpRegex)
	case v.typ == TypeInt && lit.typ == TypeInt:
		return op.holds(cmp.Compare(v.n, lit.n))
	case v.typ.numeric() && lit.typ.numeric():
		return compareFloats(v.Float(), op, lit.Float())
	case v.typ != lit.typ:
		return false
	case v.typ == TypeString:
		return op.holds(strings.Compare(v.s, lit.s))
	}
	return op.holds(cmp.Compare(v.n, lit.n))
}

// compareFloats follows IEEE 754, where NaN is unequal to everything.
func compareFloats(a float64, op Op, b float64) bool {
	switch op {
	case OpEqual:
		return a == b
	case OpNotEqual:
		return a != b
	case OpGreater:
		return a > b
	case OpGreaterEqual:
		return a >= b
	case OpLess:
		return a < b
	case OpLessEqual:
		return a <= b
	}
	return false
}

// fieldValue returns a field's value on a span; TypeNil when the span does
// not have it.
func fieldValue(f *Field, row *schema.SpanRow, t *traceInfo) Value {
	switch f.Intrinsic {
	case IntrinsicNone:
		return attributeValue(lookupAttribute(f, row))
	case IntrinsicName:
		return StringValue(row.Name)
	case IntrinsicStatus:
		return StatusValue(row.StatusCode)
	case IntrinsicStatusMessage:
		return StringValue(row.StatusMessage)
	case IntrinsicKind:
		return KindValue(row.Kind)
	case IntrinsicDuration:
		return DurationValue(time.Duration(row.DurationNano))
	case IntrinsicTraceRootName:
		if t.root == nil {
			return Value{}
		}
		return StringValue(t.root.Name)
	case IntrinsicTraceRootService:
		if t.root == nil {
			return Value{}
		}
		return attributeValue(findAttribute(t.root.ResourceAttrs, schema.KeyServiceName))
	case IntrinsicTraceDuration:
		return DurationValue(time.Duration(t.end - t.start))
	case IntrinsicChildCount, IntrinsicNestedSetLeft, IntrinsicNestedSetRight, IntrinsicNestedSetParent:
		if t.tree == nil {
			return Value{}
		}
		return IntValue(t.tree.numbered(f.Intrinsic, t.span))
	}
	if id := idBytes(f.Intrinsic, row); id != nil {
		return StringValue(hex.EncodeToString(id))
	}
	return Value{}
}

// idBytes returns the ID an ID intrinsic reads; nil for a root span's
// parent ID, which the span does not have.
func idBytes(in Intrinsic, row *schema.SpanRow) []byte {
	switch in {
	case IntrinsicSpanID:
		return row.SpanID[:]
	case IntrinsicParentID:
		if row.ParentSpanID == ([8]byte{}) {
			return nil
		}
		return row.ParentSpanID[:]
	case IntrinsicTraceID:
		return row.TraceID[:]
	}
	return nil
}

// fieldExists reports whether the span has the field, for field != nil
// and field = nil.
// An attribute exists even when its value is of a type TraceQL cannot
// compare, such as an array.
func fieldExists(f *Field, row *schema.SpanRow, t *traceInfo) bool {
	if f.Intrinsic == IntrinsicNone {
		return lookupAttribute(f, row) != nil
	}
	return fieldValue(f, row, t).typ != TypeNil
}

// lookupAttribute finds an attribute in its scope. An unscoped attribute is
// the span's if the span has it, else the resource's.
func lookupAttribute(f *Field, row *schema.SpanRow) *schema.Attribute {
	switch f.Scope {
	case ScopeSpan:
		return findAttribute(row.Attrs, f.Name)
	case ScopeResource:
		return findAttribute(row.ResourceAttrs, f.Name)
	}
	if a := findAttribute(row.Attrs, f.Name); a != nil {
		return a
	}
	return findAttribute(row.ResourceAttrs, f.Name)
}

// findAttribute scans linearly: spans carry few attributes, and a scan
// over contiguous keys beats building an index per span.
func findAttribute(attrs []schema.Attribute, key string) *schema.Attribute {
	for i := range attrs {
		if attrs[i].Key == key {
			return &attrs[i]
		}
	}
	return nil
}

// attributeValue converts a stored attribute. Bytes, arrays and maps have
// no TraceQL type, and read as missing.
func attributeValue(a *schema.Attribute) Value {
	switch {
	case a == nil:
		return Value{}
	case a.Str != nil:
		return StringValue(*a.Str)
	case a.Int != nil:
		return IntValue(*a.Int)
	case a.Double != nil:
		return FloatValue(*a.Double)
	case a.Bool != nil:
		return BoolValue(*a.Bool)
	}
	return Value{}
}
