package traceql

import (
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
