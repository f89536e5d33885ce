package traceql

import (
	"regexp"
	"testing"
)

// TestRegexLiteralAgreesWithTheExpression checks that the literal a
// regular expression tests first is one every string it matches holds,
// found where there is one, and that the expression matches as the
// regexp package alone does: on strings that hold the literal or not,
// that fold case, and that are not UTF-8.
func TestRegexLiteralAgreesWithTheExpression(t *testing.T) {
	for _, c := range []struct {
		expr, literal string
	}{
		{`.*/api/products/123.*`, "/api/products/123"},
		{`.*resource1[?]id=123.*`, "resource1?id=123"},
		{`GET /api/.*`, "GET /api/"},
		{`(?i)get /api/.*`, ""},
		{`a|b`, ""},
		{`ab+c`, "a"},
		{`x(ab)*yz`, "yz"},
		{`.*\x{FFFD}.*`, ""},
		{`.*é.*`, "é"},
		{``, ""},
		{`.*`, ""},
	} {
		re, err := compileRegex(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		if re.literal != c.literal {
			t.Errorf("%q: literal %q, want %q", c.expr, re.literal, c.literal)
		}
		for _, s := range []string{
			"", "/api/products/123", "http://cart:8080/api/products/1234?q=1", "/API/PRODUCTS/123",
			"resource1?id=1234", "resource1xid=123", "GET /api/orders", "get /API/x", "a", "b", "ab", "abbc",
			"xababyz", "xyz", "\xff", "x\xffy", "é", "\u00e9t\u00e9", "line\n/api/products/123",
		} {
			if got, want := re.matchString(s), re.re.MatchString(s); got != want {
				t.Errorf("%q on %q: %v, want %v as the regexp package says", c.expr, s, got, want)
			}
		}
	}
}

// FuzzRegex checks that a TraceQL regular expression, its literal first,
// answers as the anchored expression alone does.
func FuzzRegex(f *testing.F) {
	for _, seed := range [][2]string{
		{`.*/api/products/123.*`, "http://cart:8080/api/products/1234"},
		{`.*/api/products/123.*`, "http://cart:8080/api/products/12\n34"},
		{`(?i)GET`, "get"},
		{`a|b`, "b"},
		{`(?s).*x.*`, "a\nxb"},
		{`.*\x{FFFD}.*`, "x\xffy"},
		{`[a-c]+d`, "abcd"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, expr, value string) {
		r, err := compileRegex(expr)
		if err != nil {
			return
		}
		plain := regexp.MustCompile(`^(?:` + expr + `)$`)
		if got, want := r.matchString(value), plain.MatchString(value); got != want {
			t.Fatalf("%q on %q: %v, the expression alone %v (literal %q)", expr, value, got, want, r.literal)
		}
	})
}
