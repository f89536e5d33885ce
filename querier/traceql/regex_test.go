package traceql

import (
	"regexp"
	"slices"
	"testing"
)

// The literals a regular expression needs are what each match contains,
// and only that: looking for them first never changes an answer.
func TestRegexNeeds(t *testing.T) {
	for expr, want := range map[string][]string{
		`.*/api/products/123.*`: {"/api/products/123"},
		`GET`:                   {"GET"},
		`(?i)get`:               nil,   // either case
		`.*(cart|checkout).*`:   {"c"}, // factored: c(?:art|heckout)
		`a+b`:                   {"b"},
		`(ab)c?`:                {"ab"},
		`x.*y.*z`:               {"x", "y", "z"},
	} {
		r, err := compileAnchored(expr)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.needs, want) {
			t.Errorf("%s needs %q, want %q", expr, r.needs, want)
		}
	}
}

// FuzzRegex checks that a TraceQL regular expression, literals first,
// answers as the anchored expression alone does.
func FuzzRegex(f *testing.F) {
	for _, seed := range [][2]string{
		{`.*/api/products/123.*`, "http://cart:8080/api/products/1234"},
		{`.*/api/products/123.*`, "http://cart:8080/api/products/12\n34"},
		{`(?i)GET`, "get"},
		{`a|b`, "b"},
		{`(?s).*x.*`, "a\nxb"},
		{`[a-c]+d`, "abcd"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, expr, value string) {
		r, err := compileAnchored(expr)
		if err != nil {
			return
		}
		plain := regexp.MustCompile(`^(?:` + expr + `)$`)
		if got, want := r.MatchString(value), plain.MatchString(value); got != want {
			t.Fatalf("%q on %q: %v, the expression alone %v (needs %q)", expr, value, got, want, r.needs)
		}
	})
}
