package traceql

import (
	"errors"
	"testing"
)

func TestParseCanonical(t *testing.T) {
	tests := []struct{ query, want string }{
		// Spanset filters and conditions.
		{`{}`, `{ }`},
		{`{ resource.service.name = "x" && span.http.status_code >= 500 }`, `{ resource.service.name = "x" && span.http.status_code >= 500 }`},
		{`{.a=1||.b=2&&!(.c=3)}`, `{ .a = 1 || .b = 2 && !(.c = 3) }`},
		{`{ (.a = 1 || .b = 2) && .c = 3 }`, `{ (.a = 1 || .b = 2) && .c = 3 }`},
		{`{ .a = 1 && (.b = 2 && .c = 3) }`, `{ .a = 1 && (.b = 2 && .c = 3) }`},
		{`{ ((.a = 1)) }`, `{ .a = 1 }`},
		{`{ !!(.a = 1) }`, `{ !(!(.a = 1)) }`},
		{"{\n  .a = 1\n}", `{ .a = 1 }`},
		// Operators and literal types.
		{`{ .a != "x" }`, `{ .a != "x" }`},
		{`{ .a > 1 && .a >= 1.5 && .a < -2 && .a <= 1e3 }`, `{ .a > 1 && .a >= 1.5 && .a < -2 && .a <= 1000.0 }`},
		{`{ .a =~ "x.*" && .b !~ ` + "`\\d+`" + ` }`, `{ .a =~ "x.*" && .b !~ "\\d+" }`},
		{`{ .a = true && .b != false }`, `{ .a = true && .b != false }`},
		{`{ .a = "q\"b\\s\n\t" }`, `{ .a = "q\"b\\s\n\t" }`},
		{`{ .a != nil }`, `{ .a != nil }`},
		{`{ .a = nil && nil = span:parentID && nil != resource.x }`, `{ .a = nil && span:parentID = nil && resource.x != nil }`},
		{`{ true }`, `{ true }`},
		{`{ duration > trace:duration * .3 }`, `{ span:duration > trace:duration * 0.3 }`},
		{`{ span.3 = 1 && .a.3 = 2 && .x > -.5 }`, `{ span.3 = 1 && .a.3 = 2 && .x > -0.5 }`},
		{`{nestedSetParent<0 && true && status!=error}`, `{ span:nestedSetParent < 0 && true && span:status != error }`},
		{`{ false || .a = 1 }`, `{ false || .a = 1 }`},
		{`{ 500 <= span.x }`, `{ span.x >= 500 }`},
		{`{ "x" = name }`, `{ span:name = "x" }`},
		// Durations, written canonically in their largest exact unit.
		{`{ duration > 100ms }`, `{ span:duration > 100ms }`},
		{`{ duration > 1.5s }`, `{ span:duration > 1500ms }`},
		{`{ duration > 2m && duration < 1h }`, `{ span:duration > 2m && span:duration < 1h }`},
		{`{ duration >= 500us && duration >= 500µs && duration >= 10ns && duration > 1h30m }`, `{ span:duration >= 500us && span:duration >= 500us && span:duration >= 10ns && span:duration > 90m }`},
		{`{ duration > 0s }`, `{ span:duration > 0s }`},
		// Intrinsics, unscoped and scoped.
		{`{ name = "a" && status = error && statusMessage = "m" && kind = server && duration > 1s }`,
			`{ span:name = "a" && span:status = error && span:statusMessage = "m" && span:kind = server && span:duration > 1s }`},
		{`{ rootName = "r" && rootServiceName = "s" && traceDuration > 1s }`, `{ trace:rootName = "r" && trace:rootService = "s" && trace:duration > 1s }`},
		{`{ span:status = ok && span:status = unset && span:kind = unspecified && span:kind = internal }`, `{ span:status = ok && span:status = unset && span:kind = unspecified && span:kind = internal }`},
		{`{ kind = client || kind = producer || kind = consumer }`, `{ span:kind = client || span:kind = producer || span:kind = consumer }`},
		{`{ nestedSetLeft = 1 && nestedSetRight > 2 && nestedSetParent = -1 && span:childCount > 0 }`, `{ span:nestedSetLeft = 1 && span:nestedSetRight > 2 && span:nestedSetParent = -1 && span:childCount > 0 }`},
		{`{ span:id = "00000000000000AB" && span:parentID = "ab" }`, `{ span:id = "00000000000000ab" && span:parentID = "00000000000000ab" }`},
		{`{ event:name = "e" && event:timeSinceStart > 1ms && event.exception.message != nil }`, `{ event:name = "e" && event:timeSinceStart > 1ms && event.exception.message != nil }`},
		{`{ link:traceID = "AB" && link:spanID = "ab" && link.opentracing.ref_type = "child_of" }`,
			`{ link:traceID = "000000000000000000000000000000ab" && link:spanID = "00000000000000ab" && link.opentracing.ref_type = "child_of" }`},
		{`{ instrumentation:name = "n" && instrumentation:version = "v" && instrumentation."my attr" = 1 }`, `{ instrumentation:name = "n" && instrumentation:version = "v" && instrumentation."my attr" = 1 }`},
		{`{ } | select(event.x, link:spanID, instrumentation:name) | by(event:name)`, `{ } | select(event.x, link:spanID, instrumentation:name) | by(event:name)`},
		{`{ trace:id = "ABC" && trace:id =~ "a.*" && trace:id = "xyz" }`, `{ trace:id = "00000000000000000000000000000abc" && trace:id =~ "a.*" && trace:id = "xyz" }`},
		// Attribute names.
		{`{ span.http.status_code = 200 }`, `{ span.http.status_code = 200 }`},
		{`{ span."http.request.method" = "GET" }`, `{ span.http.request.method = "GET" }`},
		{`{ ."my attr" = 1 && span.http."x y".z = 2 }`, `{ ."my attr" = 1 && span."http.x y.z" = 2 }`},
		{`{ resource.k8s.pod.label.app.kubernetes.io/name = "x-y" && .X-Forwarded-For = "a" }`, `{ resource.k8s.pod.label.app.kubernetes.io/name = "x-y" && .X-Forwarded-For = "a" }`},
		{`{ .ü = 1 }`, `{ .ü = 1 }`},
		// Spanset operators: structural binds tighter than &&, && than ||.
		{`{.a=1} && {.b=2} || {.c=3}`, `{ .a = 1 } && { .b = 2 } || { .c = 3 }`},
		{`{ .a = 1 } || { .b = 2 } && { .c = 3 }`, `{ .a = 1 } || { .b = 2 } && { .c = 3 }`},
		{`({ .a = 1 } || { .b = 2 }) && { .c = 3 }`, `({ .a = 1 } || { .b = 2 }) && { .c = 3 }`},
		{`{ .a = 1 } && { .b = 2 } >> { .c = 3 }`, `{ .a = 1 } && { .b = 2 } >> { .c = 3 }`},
		{`({ .a = 1 } && { .b = 2 }) > { .c = 3 }`, `({ .a = 1 } && { .b = 2 }) > { .c = 3 }`},
		{`{ .a = 1 } >> { .b = 2 } > { .c = 3 }`, `{ .a = 1 } >> { .b = 2 } > { .c = 3 }`},
		{`{ .a = 1 } >> ({ .b = 2 } > { .c = 3 })`, `{ .a = 1 } >> ({ .b = 2 } > { .c = 3 })`},
		{`{.a=1}<<{.b=2}<{.c=3}~{.d=4}`, `{ .a = 1 } << { .b = 2 } < { .c = 3 } ~ { .d = 4 }`},
		{`{.a=1}!>>{.b=2}!>{}!<<{}!<{}!~{}`, `{ .a = 1 } !>> { .b = 2 } !> { } !<< { } !< { } !~ { }`},
		{`{.a=1}&>>{.b=2}&>{}&<<{}&<{}&~{}`, `{ .a = 1 } &>> { .b = 2 } &> { } &<< { } &< { } &~ { }`},
		{`{ } && { } !~ ({ } &< { })`, `{ } && { } !~ ({ } &< { })`},
		// Arithmetic, folded where both sides are literals; a bare
		// attribute as an operand of && or || is compared with true.
		{`{ duration > 2 * 100ms }`, `{ span:duration > 200ms }`},
		{`{ span.load.ratio > 0.5 * 1.9 }`, `{ span.load.ratio > 0.95 }`},
		{`{ .a > 10 * 1024 * 1024 }`, `{ .a > 10485760 }`},
		{`{ .a+1*2 = (3) }`, `{ .a + 2 = 3 }`},
		{`{ (.a + 1) * 2 = 3 }`, `{ (.a + 1) * 2 = 3 }`},
		{`{ .a - (.b - .c) = .d / .e % 2 && .a * (.b / .c) > 1 }`, `{ .a - (.b - .c) = .d / .e % 2 && .a * (.b / .c) > 1 }`},
		{`{ - .a = 1 && -(-.a) = 1 && -(.a + 1) = 2 && --.a = 3 }`, `{ -.a = 1 && -(-.a) = 1 && -(.a + 1) = 2 && -(-.a) = 3 }`},
		{`{ .a -3 = 1 && .b - -3 = 1 }`, `{ .a - 3 = 1 && .b - -3 = 1 }`},
		{`{ 7 / 2 = .a && .b = 1 - -2 && .c = -(2) && .d = 7 % 4 }`, `{ .a = 3.5 && .b = 3 && .c = -2 && .d = 3 }`},
		{`{ .a = maxInt && .b = minInt && .c = maxInt + 1 }`, `{ .a = 9223372036854775807 && .b = -9223372036854775808 && .c = 9.223372036854776e+18 }`},
		{`{ duration > 1ms * .x && duration < 1s / 4 + 1ms && duration > 3 * (1s - 500ms) % 700ms }`, `{ span:duration > 1ms * .x && span:duration < 251ms && span:duration > 100ms }`},
		{`{ 2 * duration > traceDuration - 1ms }`, `{ 2 * span:duration > trace:duration - 1ms }`},
		{`{ .a = .b && span:id != span:parentID && (duration) > 1ms }`, `{ .a = .b && span:id != span:parentID && span:duration > 1ms }`},
		{`{ span.a || .b = 1 && .c }`, `{ span.a = true || .b = 1 && .c = true }`},
		{`{ }|by(resource.service.name)|count()>1|coalesce()|by(duration)`, `{ } | by(resource.service.name) | count() > 1 | coalesce() | by(span:duration)`},
		// Query hints: any name, as in Tempo, which reads those it knows.
		{`{} with (most_recent=true)`, `{ } with(most_recent=true)`},
		{`{ .a = 1 } >> { } | count() > 1 with(most_recent = true, sample = 0.1, exemplars=10, x="y", d=-1m)`,
			`{ .a = 1 } >> { } | count() > 1 with(most_recent=true, sample=0.1, exemplars=10, x="y", d=-1m)`},
		// Pipelines.
		{`{ } | count() > 2`, `{ } | count() > 2`},
		{`{} | count() = 1 | count() != 2 | count() >= 1 | count() < 9 | count() <= 9.5`, `{ } | count() = 1 | count() != 2 | count() >= 1 | count() < 9 | count() <= 9.5`},
		{`{ } | avg(duration) > 20ms | min(span.x) >= 1 | max(.y) < 2.5 | sum(resource.z) = 3`, `{ } | avg(span:duration) > 20ms | min(span.x) >= 1 | max(.y) < 2.5 | sum(resource.z) = 3`},
		{`{ } | avg(trace:duration) > 1s`, `{ } | avg(trace:duration) > 1s`},
		{`{ status = error } | select(span.http.url, resource."b c", duration, trace:rootService)`, `{ span:status = error } | select(span.http.url, resource."b c", span:duration, trace:rootService)`},
	}
	for _, tt := range tests {
		q, err := Parse(tt.query)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.query, err)
			continue
		}
		if got := q.String(); got != tt.want {
			t.Errorf("Parse(%q).String()\n got %s\nwant %s", tt.query, got, tt.want)
			continue
		}
		again, err := Parse(tt.want)
		if err != nil || again.String() != tt.want {
			t.Errorf("canonical form %q does not round-trip: %v, %v", tt.want, again, err)
		}
	}
}

func TestParseHints(t *testing.T) {
	q, err := Parse(`{ } with(most_recent=true, sample=0.1, sample=0.2)`)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := q.Hint("most_recent"); !ok || v != BoolValue(true) {
		t.Errorf("most_recent = %v, %v", v, ok)
	}
	if v, ok := q.Hint("sample"); !ok || v != FloatValue(0.2) {
		t.Errorf("sample = %v, %v; the last one counts", v, ok)
	}
	if _, ok := q.Hint("nope"); ok {
		t.Error("a hint not given")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		query string
		pos   int
		want  string
	}{
		// Syntax.
		{"", 0, `parse error at 1:1: expected "{" but found end of query`},
		{`{ .a = 1`, 8, `parse error at 1:9: expected "}" but found end of query`},
		{`{ .a = 1 && }`, 12, `parse error at 1:13: expected a field or a value but found "}"`},
		{`{ .a 1 }`, 5, `parse error at 1:6: expected a comparison operator such as = or > but found "1"`},
		{`{ .a = 1 }}`, 10, `parse error at 1:11: expected end of query but found "}"`},
		{`{ (.a = 1 }`, 10, `parse error at 1:11: expected ")" but found "}"`},
		{`{ .a = 1 } && ({ .b = 2 }`, 25, `parse error at 1:26: expected ")" but found end of query`},
		{`{ .a = 1 } >> `, 14, `parse error at 1:15: expected "{" but found end of query`},
		{`{ .a = 1 } !< .b`, 14, `parse error at 1:15: expected "{" but found "."`},
		{`{ .a = 1 &> .b = 1 }`, 9, `parse error at 1:10: expected "}" but found "&>"`},
		{`{ .a = 1 } &&> { }`, 13, `parse error at 1:14: expected "{" but found ">"`},
		{`{ .a = $ }`, 7, `parse error at 1:8: unexpected character '$'`},
		{"{ .ü = 1 &&\n  x }", 15, `parse error at 2:3: unknown field "x": attributes need a scope, as in span.x, resource.x or .x`},
		{`{ foo.a = 1 }`, 2, `parse error at 1:3: unknown scope "foo": attributes are written span.x, resource.x, event.x, link.x, instrumentation.x or .x`},
		{`{ span. = 1 }`, 7, `parse error at 1:8: expected an attribute name but found " "`},
		{`{ span."" = 1 }`, 7, `parse error at 1:8: attribute name is empty`},
		{`{ !.a = 1 }`, 3, `parse error at 1:4: expected "(" after "!" but found ".": negate a condition as !(span.x = 1)`},
		{`{ span.x }`, 9, `parse error at 1:10: expected a comparison operator such as = or > but found "}"`},
		// Literals.
		{`{ .a = "abc }`, 7, `parse error at 1:8: unterminated string`},
		{"{ .a = `abc }", 7, `parse error at 1:8: unterminated string`},
		{`{ .a = "\d" }`, 8, "parse error at 1:9: unknown escape \"\\\\d\" in string; write \\\\ for a backslash or use a `raw string`"},
		{`{ .a = 99999999999999999999 }`, 7, `parse error at 1:8: number 99999999999999999999 is out of range`},
		{`{ .a = 1e999 }`, 7, `parse error at 1:8: number 1e999 is out of range`},
		{`{ duration > 5xs }`, 13, `parse error at 1:14: invalid duration "5xs": use a number with a unit of ns, us, ms, s, m or h, such as 100ms`},
		{`{ .a =~ "(" }`, 8, "parse error at 1:9: invalid regular expression \"(\": error parsing regexp: missing closing ): `(`"},
		// Types.
		{`{ status = 1 }`, 11, `parse error at 1:12: cannot compare span:status with 1: span:status is a status`},
		{`{ status > ok }`, 11, `parse error at 1:12: a status compares only with = and !=, not >`},
		{`{ kind = error }`, 9, `parse error at 1:10: cannot compare span:kind with error: span:kind is a kind`},
		{`{ .a = ok }`, 7, `parse error at 1:8: cannot compare .a with ok: attributes hold strings, numbers and booleans, not a status`},
		{`{ .a > true }`, 7, `parse error at 1:8: a bool compares only with = and !=, not >`},
		{`{ .a = 1s }`, 7, `parse error at 1:8: cannot compare .a with 1s: attributes hold strings, numbers and booleans, not a duration`},
		{`{ duration = 100 }`, 13, `parse error at 1:14: cannot compare span:duration with 100: span:duration is a duration`},
		{`{ name = 1 }`, 9, `parse error at 1:10: cannot compare span:name with 1: span:name is a string`},
		{`{ .a =~ 1 }`, 8, `parse error at 1:9: =~ needs a string regular expression, not 1`},
		{`{ "x" =~ .a }`, 6, `parse error at 1:7: the regular expression goes on the right of =~`},
		{`{ 1 = 2 }`, 2, `parse error at 1:3: a condition compares a field, as in span.x = 1, but this compares two values`},
		{`{ .a > nil }`, 7, `parse error at 1:8: nil compares only with = (missing) and != (present), not >`},
		{`{ .a =~ nil }`, 8, `parse error at 1:9: nil compares only with = (missing) and != (present), not =~`},
		// Arithmetic.
		{`{ .a + "x" = 1 }`, 7, `parse error at 1:8: arithmetic needs numbers or durations, and "x" is a string`},
		{`{ status + 1 = 2 }`, 2, `parse error at 1:3: arithmetic needs numbers or durations, and span:status is a status`},
		{`{ - "a" = .b }`, 4, `parse error at 1:5: arithmetic needs numbers or durations, and "a" is a string`},
		{`{ (.a = 1) + 1 = 2 }`, 2, `parse error at 1:3: arithmetic needs numbers or durations, and this is a condition`},
		{`{ .a + nil = 2 }`, 7, `parse error at 1:8: arithmetic needs numbers or durations, not nil`},
		{`{ duration + 1 > 1ms }`, 11, `parse error at 1:12: a duration + a number is not defined`},
		{`{ duration * duration > 1ms }`, 11, `parse error at 1:12: a duration * a duration is not defined`},
		{`{ 1 / 1ms = .a }`, 4, `parse error at 1:5: a number / a duration is not defined`},
		{`{ .a = 1 / 0 }`, 9, `parse error at 1:10: / has no value: a division by zero, or out of range`},
		{`{ .a = 1 % 0 }`, 9, `parse error at 1:10: % has no value: a division by zero, or out of range`},
		{`{ .a = 1 -9223372036854775808 }`, 10, `parse error at 1:11: number 9223372036854775808 is out of range`},
		{`{ duration > .a * 2 }`, 11, `parse error at 1:12: cannot compare span:duration with .a * 2: a duration does not compare with a number`},
		{`{ duration > .a }`, 11, `parse error at 1:12: cannot compare span:duration with .a: attributes hold strings, numbers and booleans, not a duration`},
		{`{ status = kind }`, 9, `parse error at 1:10: cannot compare span:status with span:kind: a status does not compare with a kind`},
		{`{ status > .a }`, 9, `parse error at 1:10: cannot compare span:status with .a: attributes hold strings, numbers and booleans, not a status`},
		{`{ .a > .b = true }`, 10, `parse error at 1:11: expected "}" but found "="`},
		{`{ name =~ .a }`, 7, `parse error at 1:8: =~ compares a field with a regular expression written as a string`},
		{`{ .a + 1 = nil }`, 2, `parse error at 1:3: nil compares with a field, as in span.x = nil, not with arithmetic`},
		{`{ (.a = 1) = true }`, 2, `parse error at 1:3: = compares values, and this is a condition`},
		{`{ .a ^ 2 = 1 }`, 5, `parse error at 1:6: "^" (power) is not supported`},
		{`{ .a = 1 } | count() > 1 + 1`, 25, `parse error at 1:26: arithmetic in a pipeline stage is not supported`},
		{`{ !(.a) }`, 8, `parse error at 1:9: expected a comparison operator such as = or > but found "}"`},
		{`{ .a + }`, 7, `parse error at 1:8: expected a field or a value but found "}"`},
		// Pipelines.
		{`{ .a = 1 } | avg(name) > 1`, 17, `parse error at 1:18: avg() needs a number or a duration, and span:name is a string`},
		{`{ } | avg(duration) > 1`, 22, `parse error at 1:23: avg(span:duration) compares with a duration such as 100ms`},
		{`{ } | sum(.x) > 1s`, 16, `parse error at 1:17: sum(.x) compares with a number`},
		{`{ } | count() > "a"`, 16, `parse error at 1:17: count() compares with a number`},
		{`{ } | count() =~ "a"`, 14, `parse error at 1:15: expected a comparison such as count() > 1 but found "=~"`},
		{`{ } | select()`, 13, `parse error at 1:14: expected an attribute or an intrinsic, such as span.x or duration but found ")"`},
		{`{ } | select(true )`, 13, `parse error at 1:14: expected an attribute or an intrinsic, such as span.x or duration but found "true"`},
		{`{ } | foo`, 6, `parse error at 1:7: unknown pipeline stage "foo"`},
		// Outside the subset.
		{"{ .a = 1 }\n| rate()", 13, `parse error at 2:3: rate() makes a metrics query, which /api/metrics/query_range answers, not a search`},
		{`{ .a = 1 } | count_over_time() by (.x)`, 13, `parse error at 1:14: count_over_time() makes a metrics query, which /api/metrics/query_range answers, not a search`},
		{`{ } | by()`, 9, `parse error at 1:10: expected an attribute or an intrinsic, such as span.x or duration but found ")"`},
		{`{ } | by(.a, .b)`, 11, `parse error at 1:12: expected ")" but found ","`},
		{`{ } | coalesce(.a)`, 15, `parse error at 1:16: expected ")" but found "."`},
		{`{ coalesce() }`, 2, `parse error at 1:3: "coalesce()" is not supported`},
		{`by(.a)`, 0, `parse error at 1:1: "by()" outside a pipeline is not supported`},
		{`count() > 1`, 0, `parse error at 1:1: "count()" outside a pipeline is not supported`},
		{`{ } with (most_recent)`, 21, `parse error at 1:22: expected "=" but found ")"`},
		{`{ } with ()`, 10, `parse error at 1:11: expected a hint such as most_recent=true but found ")"`},
		{`{ } with (a=.b)`, 12, `parse error at 1:13: a hint's value is a string, a number, a duration or a boolean`},
		{`{ } with (a=error)`, 12, `parse error at 1:13: a hint's value is a string, a number, a duration or a boolean`},
		{`{ } with (a=1) | count() > 1`, 15, `parse error at 1:16: expected end of query but found "|"`},
		{`{ } with (a=1) with (b=2)`, 15, `parse error at 1:16: expected end of query but found "with"`},
		{`{ .a = 1 } | { .b = 2 }`, 13, `parse error at 1:14: a spanset filter as a pipeline stage is not supported`},
		{`({ .a = 1 } | count() > 1)`, 12, `parse error at 1:13: a pipeline inside parentheses is not supported`},
		{`{ parent.a = 1 }`, 2, `parse error at 1:3: the "parent" scope is not supported`},
		{`{ event:time = 1 }`, 2, `parse error at 1:3: the intrinsic "event:time" is not supported`},
		{`{ event:timeSinceStart > 1 }`, 25, `parse error at 1:26: cannot compare event:timeSinceStart with 1: event:timeSinceStart is a duration`},
		{`{ instrumentation.x = 1s }`, 22, `parse error at 1:23: cannot compare instrumentation.x with 1s: attributes hold strings, numbers and booleans, not a duration`},
		{`{ childCount > 1 }`, 2, `parse error at 1:3: the intrinsic "childCount" is written span:childCount`},
		{`{ span:childCount = "a" }`, 20, `parse error at 1:21: cannot compare span:childCount with "a": span:childCount is an int`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.query)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want a *ParseError", tt.query, err)
			continue
		}
		if pe.Pos != tt.pos || pe.Error() != tt.want {
			t.Errorf("Parse(%q)\n got pos %d: %s\nwant pos %d: %s", tt.query, pe.Pos, pe.Error(), tt.pos, tt.want)
		}
	}
}
