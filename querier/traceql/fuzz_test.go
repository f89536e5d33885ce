package traceql

import (
	"strings"
	"testing"
)

// FuzzParse checks that parsing never panics, that the canonical form of
// any query parses back to itself, and that evaluating it never panics.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{ resource.service.name = "x" && span.http.status_code >= 500 }`,
		`{ .a = 1 || .b = 2.5 && !(.c =~ "x.*") }`,
		`{ span."http.request.method" = "GET" && ."my attr" != nil && span.http."x y".z <= -3 }`,
		`{ duration > 1.5s && kind = server && status != error && statusMessage = "m\n" }`,
		`{ rootName = "r" && rootServiceName = "s" && traceDuration < 1h30m && trace:id = "ab" && span:parentID = "1" }`,
		`{ .a = 1 } && { .b = true } || { .c = "x" } >> { .d = 2 } > { }`,
		`({ .a = 1 } || { .b = 2 }) >> ({ } > { .c = 3 })`,
		`{ } | count() > 2 | avg(duration) > 20ms | min(span.x) = 1 | select(span.a, resource."b c", span:id)`,
		"{ .a = `raw\\d` }",
		`{ .a = 1 } << { .b = 2 } !< { } &~ ({ } !>> { .c = nil })`,
		`{ duration > 2 * 100ms && span.x - 1 = -(span.y % 3) / 2.5 && span.a = span.b && span:childCount > nestedSetLeft }`,
		`{ duration > trace:duration * .3 && ."3" = true && span.3 = .5 } | select(."0")`,
		`{ .a = 1 } | rate()`, `{ .a = 1 } ~ { .b = 2 }`, `{ .a ^ 2 = 2 }`, `{ .a = 1 -2 }`, `{ .a = "\d" }`, "{ .ü = 1 &&\n x }",
		// At the depth bound and past it, where the parser used to recurse
		// until its stack overflowed.
		nest("(", MaxDepth, "{ }", ")"),
		strings.Repeat("(", MaxQueryBytes),
		"{ " + strings.Repeat("!", MaxDepth+1) + "(.a = 1) }",
		"{ " + chain(".a=1", "&&", MaxDepth) + " }",
		chain("{}", ">>", MaxDepth+1),
		"{ .a = " + chain("1", "+", MaxDepth+1) + " }",
		"{ " + chain(".a", "*", MaxDepth+1) + " = 1 }",
		"{ .a = " + strings.Repeat("-", MaxDepth+1) + "1 }",
	} {
		f.Add(seed)
	}
	trace := testTrace()
	f.Fuzz(func(t *testing.T, query string) {
		q, err := Parse(query)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("Parse(%q) returned %T, not a *ParseError", query, err)
			}
			return
		}
		canonical := q.String()
		again, err := Parse(canonical)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canonical, query, err)
		}
		if s := again.String(); s != canonical {
			t.Fatalf("canonical form of %q is unstable:\n%s\n%s", query, canonical, s)
		}
		if _, ok := q.Evaluate(trace); ok {
			assertConditionsHold(t, q, trace)
		}
	})
}
