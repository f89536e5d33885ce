package traceql

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// nest returns n copies of open, then inner, then n copies of close.
func nest(open string, n int, inner, close string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

// chain joins n copies of operand with op.
func chain(operand, op string, n int) string {
	return strings.Join(slices.Repeat([]string{operand}, n), op)
}

// rightNested is n+1 filters joined by && to the right, with the
// parentheses that grouping needs, as the canonical form writes them.
func rightNested(n int) string {
	if n == 0 {
		return "{ span:kind = server }"
	}
	return "{ span:kind = server } && (" + rightNested(n-1) + ")"
}

// The deepest queries Parse accepts, in every shape a query nests in,
// parse, print, parse again to the same canonical form, evaluate and
// give their conditions; one level more is a ParseError at the place
// that goes too deep, wrapping ErrTooLarge. Without the bound, the first
// case of the second list overflowed the goroutine stack: a fatal error
// that took the whole process down.
func TestDepthIsBounded(t *testing.T) {
	trace := testTrace()
	for _, query := range []string{
		nest("(", MaxDepth, "{ span:kind = server }", ")"),
		"{ " + nest("(", MaxDepth, "span:kind = server", ")") + " }",
		"{ " + strings.Repeat("!", MaxDepth-2) + "(span:kind = server) }", // braces, !s, comparison
		"{ " + chain("span:kind = server", " && ", MaxDepth-1) + " }",
		chain("{ span:kind = server }", " >> ", MaxDepth-1),
		rightNested(MaxDepth - 2),
		"{ " + chain("span.x", " + ", MaxDepth-2) + " = 1 }", // braces, comparison, the +s
		"{ span.x = " + nest("(", MaxDepth, "1", ")") + " }",
		"{ span.x = " + chain("1", "+", MaxQueryBytes/3) + " }", // folded as it is parsed
	} {
		name := query[:min(len(query), 40)]
		q, err := Parse(query)
		if err != nil {
			t.Errorf("%s...: %v", name, err)
			continue
		}
		canonical := q.String()
		again, err := Parse(canonical)
		if err != nil {
			t.Errorf("%s...: canonical form does not parse: %v", name, err)
			continue
		}
		if again.String() != canonical {
			t.Errorf("%s...: canonical form is unstable", name)
		}
		q.Evaluate(trace)
		q.Conditions()
	}

	for _, tc := range []struct {
		query string
		pos   int
		msg   string
	}{
		{strings.Repeat("(", MaxQueryBytes), MaxDepth, "parentheses and ! nest more than 1000 deep"},
		{nest("(", MaxDepth+1, "{ }", ")"), MaxDepth, "parentheses and ! nest more than 1000 deep"},
		{"{ " + nest("(", MaxDepth+1, ".a = 1", ")") + " }", 2 + MaxDepth, "parentheses and ! nest more than 1000 deep"},
		{"{ " + strings.Repeat("!", MaxDepth+1) + "(.a = 1) }", 2 + MaxDepth, "parentheses and ! nest more than 1000 deep"},
		{"{ " + strings.Repeat("-", MaxDepth+1) + ".a = 1 }", 2 + MaxDepth, "parentheses, ! and unary - nest more than 1000 deep"},
		{"{ .a = " + nest("(", MaxDepth+1, "1", ")") + " }", 7 + MaxDepth, "parentheses and ! nest more than 1000 deep"},
		{"{ " + chain("span.x", " + ", MaxDepth-1) + " = 1 }", 0, "query nests more than 1000 levels deep (each operator of a chain is a level)"},
		// The i-th + is at 9i.
		{"{ " + chain("span.x", " + ", MaxDepth+1) + " = 1 }", 9 * MaxDepth, "query nests more than 1000 levels deep (each operator of a chain is a level)"},
		{"{ " + strings.Repeat("!", MaxDepth-1) + "(.a = 1) }", 0, "query nests more than 1000 levels deep (each operator of a chain is a level)"},
		// The i-th && is at 10i - 1, the i-th >> at 7i - 3.
		{"{ " + chain(".a = 1", " && ", MaxDepth+5) + " }", 10*MaxDepth - 1, "query nests more than 1000 levels deep (each operator of a chain is a level)"},
		{chain("{ }", " >> ", MaxDepth+1), 7*MaxDepth - 3, "query nests more than 1000 levels deep (each operator of a chain is a level)"},
		{rightNested(MaxDepth - 1), 23, "query nests more than 1000 levels deep (each operator of a chain is a level)"},
	} {
		name := tc.query[:min(len(tc.query), 40)]
		_, err := Parse(tc.query)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s...: %v, want a ParseError wrapping ErrTooLarge", name, err)
			continue
		}
		if pe.Pos != tc.pos || pe.Msg != tc.msg {
			t.Errorf("%s...: at %d: %s\nwant at %d: %s", name, pe.Pos, pe.Msg, tc.pos, tc.msg)
		}
	}
}

// A query is at most MaxQueryBytes long, as written and in canonical form,
// which another querier parses again.
func TestLengthIsBounded(t *testing.T) {
	literal := func(query string, size int) string {
		return strings.Replace(query, "X", strings.Repeat("x", size-len(query)+1), 1)
	}
	if _, err := Parse(literal(`{ .a = "X" }`, MaxQueryBytes)); err != nil {
		t.Errorf("a query of MaxQueryBytes: %v", err)
	}
	for _, tc := range []struct {
		query string
		pos   int
		msg   string
	}{
		{literal(`{ .a = "X" }`, MaxQueryBytes+1), MaxQueryBytes, fmt.Sprintf("query is %d bytes, over the limit of %d", MaxQueryBytes+1, MaxQueryBytes)},
		{literal(`{.a="X"}`, MaxQueryBytes), 0, fmt.Sprintf("query is %d bytes in canonical form, over the limit of %d", MaxQueryBytes+4, MaxQueryBytes)},
	} {
		_, err := Parse(tc.query)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s...: %v, want a ParseError wrapping ErrTooLarge", tc.query[:20], err)
			continue
		}
		if pe.Pos != tc.pos || pe.Msg != tc.msg {
			t.Errorf("%s...: at %d: %s\nwant at %d: %s", tc.query[:20], pe.Pos, pe.Msg, tc.pos, tc.msg)
		}
	}
}

// An evaluation needs bitsets for the levels of a query, not for its every
// filter: a long query of shallow depth costs little memory per trace.
func TestEvaluationBitsetsGrowWithDepth(t *testing.T) {
	balanced := "{ span:kind = server }"
	for range 11 {
		balanced = "(" + balanced + ") && (" + balanced + ")"
	}
	q, err := Parse(balanced)
	if err != nil {
		t.Fatal(err)
	}
	if depth := q.spansets.depth(); q.sets > 2*depth+1 {
		t.Errorf("%d bitsets for a query of depth %d", q.sets, depth)
	}
	one, err := Parse("{ span:kind = server }")
	if err != nil {
		t.Fatal(err)
	}
	trace := testTrace()
	got, ok := evaluateOne(t, q, trace)
	want, wantOK := evaluateOne(t, one, trace)
	if ok != wantOK || !slices.EqualFunc(got.Spans, want.Spans, func(a, b Span) bool { return a.Row == b.Row }) {
		t.Errorf("2048 filters &&ed select %d spans, one of them %d", len(got.Spans), len(want.Spans))
	}
}
