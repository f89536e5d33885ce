package traceql

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spanlog/spanlog/schema"
)

// A query being typed is narrowed to its complete comparisons, as the
// parser reads them: a quoted string holding an operator, or an attribute
// name quoted because it holds one, stays one operand.
func TestParseLenient(t *testing.T) {
	for _, tc := range []struct {
		q, want string // want "": every span
	}{
		{"", ""},
		{"{}", ""},
		{`{ span.a = "x" }`, `{ span.a = "x" }`},
		{`{ span.a = "x" && span.b = }`, `{ span.a = "x" }`},
		{`{ name = "a = b" && span.x = }`, `{ name = "a = b" }`},
		{`{ span."x = 1" = 2 && `, `{ span."x = 1" = 2 }`},
		{`{ 200 = span.code && kind = `, `{ span.code = 200 }`},
		{`{ span:status = error && resource.`, `{ status = error }`},
		{`{ .a = 1 } >> { .b = `, `{ .a = 1 }`},
		{`{ .a = "unterminated`, ""},
		{`not traceql at all`, ""},
	} {
		got, err := ParseLenient(tc.q)
		if err != nil {
			t.Errorf("ParseLenient(%q): %v", tc.q, err)
			continue
		}
		var want *Query
		if tc.want != "" {
			if want, err = Parse(tc.want); err != nil {
				t.Fatalf("want %q: %v", tc.want, err)
			}
		}
		switch {
		case got == nil && want == nil:
		case got == nil || want == nil || got.String() != want.String():
			t.Errorf("ParseLenient(%q) = %v, want %v", tc.q, got, want)
		}
	}
	if _, err := ParseLenient(strings.Repeat("(", MaxQueryBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a query over the bounds: %v, want ErrTooLarge", err)
	}
}

// The intrinsics a query builder offers are those TraceQL reads unscoped,
// and each names a field.
func TestIntrinsics(t *testing.T) {
	want := []string{"duration", "kind", "name", "rootName", "rootServiceName", "status", "statusMessage", "traceDuration"}
	if got := Intrinsics(); !slices.Equal(got, want) {
		t.Fatalf("Intrinsics() = %v, want %v", got, want)
	}
	for _, name := range want {
		if f, ok := IntrinsicField(name); !ok || f.Intrinsic == IntrinsicNone {
			t.Errorf("IntrinsicField(%q) = %v, %v", name, f, ok)
		}
	}
	if _, ok := IntrinsicField("id"); ok {
		t.Error(`IntrinsicField("id"): only span:id names the span's ID`)
	}
}

// A field's value on one span is what a comparison reads, as plain text;
// what only the whole trace tells is no value of a span.
func TestSpanValue(t *testing.T) {
	row := buildTrace(spec{id: 1, name: "GET /", kind: 2, status: 2,
		attrs: []schema.Attribute{strAttr("s", "a b"), intAttr("i", 7), fltAttr("f", 1.5), fltAttr("g", 2), boolAttr("b", true)}})[0]
	field := func(name string) Field { f, _ := IntrinsicField(name); return f }
	for _, tc := range []struct {
		f    Field
		typ  Type
		text string
	}{
		{field("name"), TypeString, "GET /"},
		{field("status"), TypeStatus, "error"},
		{field("kind"), TypeKind, "server"},
		{field("rootName"), TypeNil, "nil"},
		{Field{Scope: ScopeSpan, Name: "s"}, TypeString, "a b"},
		{Field{Scope: ScopeSpan, Name: "i"}, TypeInt, "7"},
		{Field{Scope: ScopeSpan, Name: "f"}, TypeFloat, "1.5"},
		{Field{Scope: ScopeSpan, Name: "g"}, TypeFloat, "2"},
		{Field{Scope: ScopeSpan, Name: "b"}, TypeBool, "true"},
		{Field{Scope: ScopeResource, Name: "s"}, TypeNil, "nil"},
	} {
		v := tc.f.SpanValue(&row)
		if v.Type() != tc.typ || v.Text() != tc.text {
			t.Errorf("%v: %v %q, want %v %q", tc.f, v.Type(), v.Text(), tc.typ, tc.text)
		}
	}
}
