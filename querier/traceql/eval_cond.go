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
		id := idBytes(&c.field, row, t)
		return id != nil && c.op.holds(bytes.Compare(id, c.id))
	}
	if c.field.Intrinsic == IntrinsicNone {
		return compareValues(attributeValue(lookupAttribute(&c.field, row, t)), c.op, &c.lit, c.re)
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
		return attributeValue(lookupAttribute(f, row, t))
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
	case IntrinsicEventName:
		if e := eventOf(f, row, t); e != nil {
			return StringValue(e.Name)
		}
		return Value{}
	case IntrinsicEventTimeSinceStart:
		if e := eventOf(f, row, t); e != nil {
			// Wrapping as the span's duration does, so an event
			// before the start reads as a negative duration.
			return DurationValue(time.Duration(e.TimeUnixNano - row.StartUnixNano))
		}
		return Value{}
	case IntrinsicInstrumentationName:
		return nonEmptyString(row.ScopeName)
	case IntrinsicInstrumentationVersion:
		return nonEmptyString(row.ScopeVersion)
	}
	if id := idBytes(f, row, t); id != nil {
		return StringValue(hex.EncodeToString(id))
	}
	return Value{}
}

// nonEmptyString reads a string that OTLP leaves empty when it is unset,
// as the instrumentation scope's name and version are: empty, it is
// missing, as it is stored (a null in a block).
func nonEmptyString(s string) Value {
	if s == "" {
		return Value{}
	}
	return StringValue(s)
}

// idBytes returns the ID an ID intrinsic reads; nil for a root span's
// parent ID, which the span does not have, and for a link's IDs when
// there is no link.
func idBytes(f *Field, row *schema.SpanRow, t *traceInfo) []byte {
	switch f.Intrinsic {
	case IntrinsicLinkTraceID:
		if l := linkOf(f, row, t); l != nil {
			return l.TraceID[:]
		}
	case IntrinsicLinkSpanID:
		if l := linkOf(f, row, t); l != nil {
			return l.SpanID[:]
		}
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
		return lookupAttribute(f, row, t) != nil
	}
	return fieldValue(f, row, t).typ != TypeNil
}

// lookupAttribute finds an attribute in its scope. An unscoped attribute is
// the span's if the span has it, else the resource's.
func lookupAttribute(f *Field, row *schema.SpanRow, t *traceInfo) *schema.Attribute {
	switch f.Scope {
	case ScopeSpan:
		return findAttribute(row.Attrs, f.Name)
	case ScopeResource:
		return findAttribute(row.ResourceAttrs, f.Name)
	case ScopeInstrumentation:
		return findAttribute(row.ScopeAttrs, f.Name)
	case ScopeEvent:
		if e := eventOf(f, row, t); e != nil {
			return findAttribute(e.Attrs, f.Name)
		}
		return nil
	case ScopeLink:
		if l := linkOf(f, row, t); l != nil {
			return findAttribute(l.Attrs, f.Name)
		}
		return nil
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

// eventOf returns the event an event field reads: the bound one, or,
// unbound, the first of the span's events that has the field; nil for
// none.
func eventOf(f *Field, row *schema.SpanRow, t *traceInfo) *schema.Event {
	if t != nil && t.bound {
		return t.event
	}
	for i := range row.Events {
		if f.Intrinsic != IntrinsicNone || findAttribute(row.Events[i].Attrs, f.Name) != nil {
			return &row.Events[i]
		}
	}
	return nil
}

// linkOf is eventOf for a link field.
func linkOf(f *Field, row *schema.SpanRow, t *traceInfo) *schema.Link {
	if t != nil && t.bound {
		return t.link
	}
	for i := range row.Links {
		if f.Intrinsic != IntrinsicNone || findAttribute(row.Links[i].Attrs, f.Name) != nil {
			return &row.Links[i]
		}
	}
	return nil
}

// matchesSpan reports whether a span satisfies the condition of a spanset
// filter, which reads the elements elems: on one of the span's events
// together with one of its links, for the elements it reads (see
// Field.Element).
func matchesSpan(e expr, elems elements, row *schema.SpanRow, t *traceInfo) bool {
	if elems == 0 {
		return matches(e, row, t)
	}
	t.bound = true
	defer func() { t.bound, t.event, t.link = false, nil, nil }()
	events, links := max(len(row.Events), 1), max(len(row.Links), 1)
	if elems&elementsEvents == 0 {
		events = 1
	}
	if elems&elementsLinks == 0 {
		links = 1
	}
	for i := range events {
		t.event = nil
		if elems&elementsEvents != 0 && i < len(row.Events) {
			t.event = &row.Events[i]
		}
		for j := range links {
			t.link = nil
			if elems&elementsLinks != 0 && j < len(row.Links) {
				t.link = &row.Links[j]
			}
			if matches(e, row, t) {
				return true
			}
		}
	}
	return false
}

// elements is a set of the Elements a condition reads.
type elements uint8

const (
	elementsEvents elements = 1 << iota
	elementsLinks
)

// elementsOf returns the elements the fields of e read.
func elementsOf(e expr) elements {
	var out elements
	forEachField(e, func(f Field) {
		switch f.Element() {
		case ElementEvent:
			out |= elementsEvents
		case ElementLink:
			out |= elementsLinks
		}
	})
	return out
}
