package traceql

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Type is the type of a Value.
type Type uint8

// The types of TraceQL values. TypeNil is the type of a missing value; it
// also stands for attribute values TraceQL cannot compare (bytes, arrays,
// maps, the empty value).
const (
	TypeNil Type = iota
	TypeString
	TypeInt
	TypeFloat
	TypeBool
	TypeDuration
	TypeStatus
	TypeKind
)

var typeNames = [...]string{
	TypeNil:      "nil",
	TypeString:   "string",
	TypeInt:      "int",
	TypeFloat:    "float",
	TypeBool:     "bool",
	TypeDuration: "duration",
	TypeStatus:   "status",
	TypeKind:     "kind",
}

func (t Type) String() string { return typeNames[t] }

// withArticle is the type's name after "a" or "an", for messages.
func (t Type) withArticle() string {
	if t == TypeInt {
		return "an int"
	}
	return "a " + t.String()
}

func (t Type) numeric() bool { return t == TypeInt || t == TypeFloat }

// Value is a typed TraceQL value: a literal of a query, a field's value on
// a span, or an aggregate's result. It is a small value type so that
// evaluation reads fields without allocating.
type Value struct {
	typ Type
	s   string
	// n holds ints, durations in nanoseconds, booleans as 0 or 1, and the
	// OTLP codes of statuses and kinds.
	n int64
	f float64
}

// StringValue returns a string value.
func StringValue(s string) Value { return Value{typ: TypeString, s: s} }

// IntValue returns an integer value.
func IntValue(i int64) Value { return Value{typ: TypeInt, n: i} }

// FloatValue returns a floating-point value.
func FloatValue(f float64) Value { return Value{typ: TypeFloat, f: f} }

// BoolValue returns a boolean value.
func BoolValue(b bool) Value {
	v := Value{typ: TypeBool}
	if b {
		v.n = 1
	}
	return v
}

// DurationValue returns a duration value.
func DurationValue(d time.Duration) Value { return Value{typ: TypeDuration, n: int64(d)} }

// StatusValue returns a span status value from its OTLP status code
// (0 unset, 1 ok, 2 error).
func StatusValue(code int32) Value { return Value{typ: TypeStatus, n: int64(code)} }

// KindValue returns a span kind value from its OTLP span kind (0
// unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer).
func KindValue(kind int32) Value { return Value{typ: TypeKind, n: int64(kind)} }

// Type returns v's type.
func (v Value) Type() Type { return v.typ }

// Str returns a string value's string.
func (v Value) Str() string { return v.s }

// Int returns an integer value, or the OTLP code of a status or kind.
func (v Value) Int() int64 { return v.n }

// Float returns a floating-point value, or any numeric value as a float.
func (v Value) Float() float64 {
	if v.typ == TypeInt {
		return float64(v.n)
	}
	return v.f
}

// Bool returns a boolean value.
func (v Value) Bool() bool { return v.n != 0 }

// Duration returns a duration value.
func (v Value) Duration() time.Duration { return time.Duration(v.n) }

// Status and kind names as TraceQL writes them, indexed by OTLP code.
var (
	statusNames = [...]string{"unset", "ok", "error"}
	kindNames   = [...]string{"unspecified", "internal", "server", "client", "producer", "consumer"}
)

// String renders v as a TraceQL literal that parses back to v.
func (v Value) String() string {
	switch v.typ {
	case TypeString:
		return quote(v.s)
	case TypeInt:
		return strconv.FormatInt(v.n, 10)
	case TypeFloat:
		return formatFloat(v.f)
	case TypeBool:
		return strconv.FormatBool(v.Bool())
	case TypeDuration:
		return formatDuration(time.Duration(v.n))
	case TypeStatus:
		return enumName(statusNames[:], v.n)
	case TypeKind:
		return enumName(kindNames[:], v.n)
	}
	return "nil"
}

// enumName returns the name of an OTLP code; codes TraceQL has no name for
// (a newer OTLP, or a corrupt row) render as the number.
func enumName(names []string, code int64) string {
	if code >= 0 && code < int64(len(names)) {
		return names[code]
	}
	return strconv.FormatInt(code, 10)
}

// formatFloat keeps a decimal point or exponent so that the literal lexes
// as a float again, not as an int.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// durationUnits are the units a duration literal may end in, largest first.
var durationUnits = [...]struct {
	name string
	d    time.Duration
}{
	{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second},
	{"ms", time.Millisecond}, {"us", time.Microsecond}, {"ns", time.Nanosecond},
}

// formatDuration writes d as an integer in the largest unit that holds it
// exactly: 1500ms rather than time.Duration's 1.5s, and us rather than µs
// so that the canonical form stays ASCII.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	u := durationUnits[len(durationUnits)-1]
	for _, c := range durationUnits {
		if d%c.d == 0 {
			u = c
			break
		}
	}
	return strconv.FormatInt(int64(d/u.d), 10) + u.name
}

// quote writes s as a double-quoted TraceQL string, escaping only what the
// lexer decodes (see lexer.scanString).
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Text renders v as plain text, as a list of values shows it: a string as
// it is, unquoted, a float in its shortest form, and any other value as
// String does.
func (v Value) Text() string {
	switch v.typ {
	case TypeString:
		return v.s
	case TypeFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	}
	return v.String()
}
