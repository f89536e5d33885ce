package traceql

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/spanlog/spanlog/schema"
)

func TestConditions(t *testing.T) {
	tests := []struct {
		query string
		want  []string
	}{
		{`{}`, nil},
		{`{ resource.service.name = "x" && span.http.status_code >= 500 }`, []string{`resource.service.name = "x"`, `span.http.status_code >= 500`}},
		{`{ .a = 1 && (.b = 2 || .c = 3) && !(.d = 4) && .e != nil }`, []string{`.a = 1`, `.e != nil`}},
		{`{ .a = 1 } && { .b =~ "x.*" } >> { .c = 3 } > { duration > 1s }`, []string{`.a = 1`, `.b =~ "x.*"`, `.c = 3`, `span:duration > 1s`}},
		{`{ .a = 1 } || { .b = 2 }`, nil},
		{`{ .a = nil && .b = 1 } && { .c = nil }`, []string{`.b = 1`}},
		{`{ duration > 2 * 100ms && .a * 2 > 1 && .b = .c && .d }`, []string{`span:duration > 200ms`, `.d = true`}},
		{`{ span:childCount = 0 && .a = 1 } && { nestedSetParent = -1 }`, []string{`.a = 1`}},
		{`{ .a = 1 } << { .b = 2 } < { .c = 3 } ~ { .d = 4 }`, []string{`.a = 1`, `.b = 2`, `.c = 3`, `.d = 4`}},
		{`{ .a = 1 } &>> { .b = 2 } &~ { .c = 3 }`, []string{`.a = 1`, `.b = 2`, `.c = 3`}},
		{`{ .a = 1 } !>> { .b = 2 }`, []string{`.b = 2`}},
		{`{ .a = 1 } !< ({ .b = 2 } > { .c = 3 }) !~ { .d = 4 }`, []string{`.d = 4`}},
		{`({ .a = 1 } || { .b = 2 }) && { .c = 3 } | count() > 2`, []string{`.c = 3`}},
		{`{ trace:id = "ab" }`, []string{`trace:id = "000000000000000000000000000000ab"`}},
	}
	for _, tt := range tests {
		q, err := Parse(tt.query)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.query, err)
		}
		var got []string
		for _, c := range q.Conditions() {
			got = append(got, c.String())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s\n got %q\nwant %q", tt.query, got, tt.want)
		}
	}
}

func TestConditionMatches(t *testing.T) {
	q, err := Parse(`{ .a =~ "x.*" && .b > 2 && .c != nil && span:id = "3" }`)
	if err != nil {
		t.Fatal(err)
	}
	c := q.Conditions()
	checks := []struct {
		cond int
		v    Value
		want bool
	}{
		{0, StringValue("xyz"), true},
		{0, StringValue("axyz"), false},
		{0, IntValue(1), false},
		{1, IntValue(3), true},
		{1, FloatValue(2.5), true},
		{1, StringValue("3"), false},
		{1, Value{}, false},
		{2, BoolValue(false), true},
		{2, Value{}, false},
		{3, StringValue("0000000000000003"), true},
		{3, StringValue("0000000000000004"), false},
	}
	for _, ch := range checks {
		if got := c[ch.cond].Matches(ch.v); got != ch.want {
			t.Errorf("%s matches %s = %v, want %v", c[ch.cond], ch.v, got, ch.want)
		}
	}
}

// assertConditionsHold checks the promise of Conditions on a trace the
// query matched: each condition passes on some span.
func assertConditionsHold(t *testing.T, q *Query, trace []schema.SpanRow) {
	t.Helper()
	info := newTraceInfo(trace)
	for _, c := range q.Conditions() {
		held := false
		for i := range trace {
			row := &trace[i]
			if c.Op == OpExists && c.Field.Element() == ElementNone {
				held = held || fieldExists(&c.Field, row, &info)
				continue
			}
			for _, v := range elementValues(c.Field, row, &info) {
				held = held || c.Matches(v)
			}
		}
		if !held {
			t.Errorf("%s matched, but no span passes its condition %s", q, c)
		}
	}
}

func TestConditionFilters(t *testing.T) {
	q, err := Parse(`{ .a = 1 && .b = 2 } && { } >> { .c = 3 && rootName = "r" } | count() > 1`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range q.Conditions() {
		got = append(got, fmt.Sprintf("%d %s whole=%v", c.Filter, c, c.WholeTrace()))
	}
	want := []string{`0 .a = 1 whole=false`, `0 .b = 2 whole=false`, `1 .c = 3 whole=false`, `1 trace:rootName = "r" whole=true`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestConditionMatchesSpan(t *testing.T) {
	trace := buildTrace(
		spec{id: 1, name: "root", service: "front", dur: 2 * time.Second},
		spec{id: 2, parent: 1, name: "child", service: "db", status: 2, attrs: []schema.Attribute{intAttr("http.status_code", 503)}},
	)
	q, err := Parse(`{ span.http.status_code >= 500 && resource.service.name = "db" && status = error && traceDuration > 1h && span:parentID = "1" }`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range q.Conditions() {
		// Every condition holds on the child, but traceDuration, which
		// cannot be judged on one span and passes.
		if !c.MatchesSpan(&trace[1]) {
			t.Errorf("%s on the child: got false", c)
		}
		if got, want := c.MatchesSpan(&trace[0]), c.WholeTrace(); got != want {
			t.Errorf("%s on the root: got %v, want %v", c, got, want)
		}
	}
}

func TestConditionMayMatchRange(t *testing.T) {
	tests := []struct {
		query  string
		lo, hi Value
		want   bool
	}{
		{`{ duration > 100ms }`, DurationValue(time.Millisecond), DurationValue(100 * time.Millisecond), false},
		{`{ duration > 100ms }`, DurationValue(time.Millisecond), DurationValue(101 * time.Millisecond), true},
		{`{ duration >= 100ms }`, DurationValue(time.Millisecond), DurationValue(100 * time.Millisecond), true},
		{`{ duration < 1ms }`, DurationValue(time.Millisecond), DurationValue(time.Second), false},
		{`{ duration <= 1ms }`, DurationValue(time.Millisecond), DurationValue(time.Second), true},
		{`{ status = error }`, StatusValue(0), StatusValue(1), false},
		{`{ status = error }`, StatusValue(0), StatusValue(2), true},
		{`{ status != error }`, StatusValue(2), StatusValue(2), true}, // only = and order prune
		{`{ name = "b" }`, StringValue("c"), StringValue("d"), false},
		{`{ name = "b" }`, StringValue("a"), StringValue("c"), true},
		{`{ name =~ "z.*" }`, StringValue("a"), StringValue("c"), true},
	}
	for _, tt := range tests {
		q, err := Parse(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		c := q.Conditions()[0]
		if got := c.MayMatchRange(tt.lo, tt.hi); got != tt.want {
			t.Errorf("%s in [%s, %s]: got %v, want %v", tt.query, tt.lo, tt.hi, got, tt.want)
		}
	}
}
