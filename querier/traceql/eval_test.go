package traceql

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spanlog/spanlog/schema"
)

var all = []string{"GET /", "call-db", "query", "disk", "get"}

// matchedNames evaluates query over trace and returns the names of the
// matched spans, or nil when the trace does not match.
func matchedNames(t *testing.T, query string, trace []schema.SpanRow) []string {
	t.Helper()
	q, err := Parse(query)
	if err != nil {
		t.Fatalf("Parse(%q): %v", query, err)
	}
	set, ok := evaluateOne(t, q, trace)
	if !ok {
		return nil
	}
	if len(set.Spans) == 0 {
		t.Fatalf("%q: a match without spans", query)
	}
	assertConditionsHold(t, q, trace)
	names := make([]string, len(set.Spans))
	for i, s := range set.Spans {
		names[i] = s.Row.Name
	}
	return names
}

// evaluateOne evaluates a query that selects at most one spanset.
func evaluateOne(t *testing.T, q *Query, trace []schema.SpanRow) (SpanSet, bool) {
	t.Helper()
	sets, ok := q.Evaluate(trace)
	if ok != (len(sets) > 0) || len(sets) > 1 {
		t.Fatalf("%s: %d spansets, matched %v", q, len(sets), ok)
	}
	if !ok {
		return SpanSet{}, false
	}
	return sets[0], true
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		query string
		want  []string // nil: the trace does not match
	}{
		{`{}`, all},

		// Strings: every operator; regular expressions are anchored.
		{`{ name = "query" }`, []string{"query"}},
		{`{ name != "query" }`, []string{"GET /", "call-db", "disk", "get"}},
		{`{ name > "get" }`, []string{"query"}},
		{`{ name >= "get" }`, []string{"query", "get"}},
		{`{ name < "call-db" }`, []string{"GET /"}},
		{`{ name <= "call-db" }`, []string{"GET /", "call-db"}},
		{`{ name =~ "c.*" }`, []string{"call-db"}},
		{`{ name =~ "all" }`, nil},
		{`{ name =~ ".*all.*" }`, []string{"call-db"}},
		{`{ name =~ "get|disk" }`, []string{"disk", "get"}},
		{`{ name !~ "c.*" }`, []string{"GET /", "query", "disk", "get"}},
		{`{ span.http.status_code >= "400" }`, []string{"disk"}},

		// Numbers: ints and floats compare numerically; a string "500" is
		// not the number 500; a span without the attribute never matches,
		// not even for !=.
		{`{ span.http.status_code >= 500 }`, []string{"get"}},
		{`{ span.http.status_code = 200 }`, []string{"GET /"}},
		{`{ span.http.status_code != 200 }`, []string{"get"}},
		{`{ span.http.status_code > 200 && span.http.status_code < 503 }`, nil},
		{`{ span.http.status_code <= 503 }`, []string{"GET /", "get"}},
		{`{ span.http.status_code = 500 }`, nil},
		{`{ span.http.status_code = "500" }`, []string{"disk"}},
		{`{ span.rows > 1 }`, []string{"query"}},
		{`{ span.rows = 1.5 }`, []string{"query"}},
		{`{ span.retries = 2.0 }`, []string{"call-db"}},
		{`{ span.retries < 2.5 && span.retries > -1 }`, []string{"call-db"}},
		{`{ span.retries = "2" }`, nil},
		{`{ span.blob = "x" || span.blob != "x" }`, nil},

		// Booleans.
		{`{ span.cached = false }`, []string{"query"}},
		{`{ span.cached != true }`, []string{"query"}},
		{`{ span.cached = 0 }`, nil},

		// Durations.
		{`{ duration > 20ms }`, []string{"GET /", "call-db"}},
		{`{ duration >= 20ms }`, []string{"GET /", "call-db", "query"}},
		{`{ duration < 10ms }`, []string{"disk"}},
		{`{ duration <= 10ms }`, []string{"disk", "get"}},
		{`{ span:duration = 30ms }`, []string{"call-db"}},
		{`{ duration != 30ms }`, []string{"GET /", "query", "disk", "get"}},
		{`{ duration = 0.03s }`, []string{"call-db"}},

		// Status and kind.
		{`{ status = error }`, []string{"query"}},
		{`{ span:status = ok }`, []string{"disk"}},
		{`{ status = unset }`, []string{"GET /", "call-db", "get"}},
		{`{ status != unset }`, []string{"query", "disk"}},
		{`{ statusMessage = "timeout" }`, []string{"query"}},
		{`{ span:statusMessage = "" }`, []string{"GET /", "call-db", "disk", "get"}},
		{`{ kind = server }`, []string{"GET /", "query"}},
		{`{ span:kind = client }`, []string{"call-db", "get"}},
		{`{ kind = internal }`, []string{"disk"}},
		{`{ kind != internal }`, []string{"GET /", "call-db", "query", "get"}},
		{`{ kind = producer || kind = consumer || kind = unspecified }`, nil},

		// IDs, in hex; leading zeros may be left out.
		{`{ span:id = "0000000000000003" }`, []string{"query"}},
		{`{ span:id = "3" }`, []string{"query"}},
		{`{ span:id > "3" }`, []string{"disk", "get"}},
		{`{ span:id =~ "0+3" }`, []string{"query"}},
		{`{ span:id = "zz" }`, nil},
		{`{ span:parentID = "1" }`, []string{"call-db", "get"}},
		{`{ span:parentID != nil }`, []string{"call-db", "query", "disk", "get"}},
		{`{ span:parentID != "1" }`, []string{"query", "disk"}},
		{`{ trace:id = "AB" }`, all},
		{`{ trace:id = "000000000000000000000000000000ab" && name = "disk" }`, []string{"disk"}},
		{`{ trace:id != "ab" }`, nil},

		// Child counts and the nested set, numbered depth first from 1,
		// siblings in start order: GET / 1-10, call-db 2-7, query 3-6,
		// disk 4-5, get 8-9.
		{`{ span:childCount = 0 }`, []string{"disk", "get"}},
		{`{ span:childCount > 1 }`, []string{"GET /"}},
		{`{ span:childCount = 1 && kind = server }`, []string{"query"}},
		{`{ nestedSetLeft = 1 && nestedSetRight = 10 && nestedSetParent = -1 }`, []string{"GET /"}},
		{`{ span:nestedSetParent = 1 }`, []string{"call-db", "get"}},
		// true and false alone: every span, none.
		{`{ true }`, all},
		{`{ false }`, nil},
		{`{ nestedSetParent < 0 && true }`, []string{"GET /"}},
		{`{ false || name = "get" }`, []string{"get"}},
		{`{ nestedSetLeft > 2 && nestedSetRight < 7 }`, []string{"query", "disk"}},
		{`{ nestedSetLeft = 8 && nestedSetRight = 9 && nestedSetParent = 1 }`, []string{"get"}},
		{`{ } | max(span:childCount) = 2 | sum(span:childCount) = 4`, all},

		// Trace-level intrinsics are the same on every span.
		{`{ rootName = "GET /" }`, all},
		{`{ trace:rootName = "query" }`, nil},
		{`{ rootServiceName = "frontend" && kind = client }`, []string{"call-db", "get"}},
		{`{ trace:rootService = "db" }`, nil},
		{`{ traceDuration = 105ms }`, all},
		{`{ trace:duration > 105ms }`, nil},

		// Scopes: service.name is a resource attribute; an unscoped
		// attribute is the span's if it has one, else the resource's.
		{`{ resource.service.name = "db" }`, []string{"query", "disk"}},
		{`{ span.service.name = "db" }`, nil},
		{`{ .service.name = "db" }`, []string{"query", "disk"}},
		{`{ .env = "canary" }`, []string{"get"}},
		{`{ .env = "prod" }`, []string{"GET /", "call-db", "query", "disk"}},
		{`{ resource.env = "prod" }`, all},
		{`{ span.env = "prod" }`, nil},
		{`{ ."my attr" = "x" }`, []string{"query"}},
		{`{ span."http.status_code" = 200 }`, []string{"GET /"}},
		{`{ span.http."status_code" = 200 }`, []string{"GET /"}},

		// Existence, negation and logic within a span.
		{`{ span.db.system != nil }`, []string{"call-db"}},
		{`{ span.blob != nil }`, []string{"query"}},
		{`{ span.db.system = nil }`, []string{"GET /", "query", "disk", "get"}},
		{`{ nil = span.db.system && kind = client }`, []string{"get"}},
		{`{ span.blob = nil }`, []string{"GET /", "call-db", "disk", "get"}},
		{`{ span:parentID = nil }`, []string{"GET /"}},
		{`{ resource.env = nil }`, nil},
		{`{ .env = nil }`, nil},
		{`{ span.env = nil }`, []string{"GET /", "call-db", "query", "disk"}},
		{`{ span.nope = nil } | count() = 5`, all},
		{`{ !(span.db.system = nil) }`, []string{"call-db"}},
		{`{ !(span.db.system != nil) }`, []string{"GET /", "query", "disk", "get"}},
		{`{ !(span.http.status_code = 200) }`, []string{"call-db", "query", "disk", "get"}},
		{`{ name != nil && kind != nil && rootName != nil }`, all},
		{`{ kind = server && status = error }`, []string{"query"}},
		{`{ kind = server || status = ok }`, []string{"GET /", "query", "disk"}},
		{`{ (kind = server || status = ok) && resource.service.name = "db" }`, []string{"query", "disk"}},
		{`{ kind = server || status = ok && resource.service.name = "frontend" }`, []string{"GET /", "query"}},

		// Arithmetic: / divides as floats, by zero as IEEE 754 does; % by
		// zero has no value; an overflow becomes a float; a string
		// operand has no value.
		{`{ duration > 2 * 10ms }`, []string{"GET /", "call-db"}},
		{`{ duration > 100ms / 4 }`, []string{"GET /", "call-db"}},
		{`{ duration >= 30ms - 10ms }`, []string{"GET /", "call-db", "query"}},
		{`{ span.rows > 0.5 * 1.9 }`, []string{"query"}},
		{`{ span.http.status_code > 10 * 50 }`, []string{"get"}},
		{`{ span.http.status_code + 1 = 201 }`, []string{"GET /"}},
		{`{ span.http.status_code / 2 = 251.5 }`, []string{"get"}},
		{`{ span.http.status_code % 100 = 3 }`, []string{"get"}},
		{`{ span.http.status_code -3 = 500 }`, []string{"get"}},
		{`{ span.http.status_code % 0 = 0 || span.http.status_code % 0 != 0 }`, nil},
		{`{ span.retries / 0 > 1000 }`, []string{"call-db"}},
		{`{ span.retries % 0.0 = span.retries % 0.0 }`, nil},
		{`{ -span.retries = -2 }`, []string{"call-db"}},
		{`{ span.http.status_code - 100 * 2 = 0 }`, []string{"GET /"}},
		{`{ (span.http.status_code - 100) * 2 = 200 }`, []string{"GET /"}},
		{`{ 2 * span.retries = 4 && 1 - 2 = span.retries - 3 }`, []string{"call-db"}},
		{`{ span.http.status_code * 9223372036854775807 > 0 }`, []string{"GET /", "get"}},
		{`{ span.http.status_code * 1ms > 300ms }`, []string{"get"}},
		{`{ span.http.status_code + 0 >= 0 }`, []string{"GET /", "get"}},
		{`{ duration * 2 > traceDuration }`, []string{"GET /"}},
		{`{ duration / 10ms = 0.5 }`, []string{"disk"}},
		{`{ duration % 7ms = 2ms }`, []string{"GET /", "call-db"}},
		{`{ duration / 0.0 > 1ms }`, nil},
		{`{ -duration < -99ms }`, []string{"GET /"}},
		{`{ span.retries = minInt || span.retries < maxInt }`, []string{"call-db"}},
		// Fields compared with fields, on one span.
		{`{ span.http.status_code = span.http.status_code }`, []string{"GET /", "disk", "get"}},
		{`{ span.http.status_code > span.retries }`, nil},
		{`{ span:id != span:parentID && span.nope = span.nope }`, nil},
		{`{ name = span:name && duration >= span:duration }`, all},
		{`{ rootName != name }`, []string{"call-db", "query", "disk", "get"}},
		// An attribute alone, as an operand of && or ||, is compared
		// with true.
		{`{ span.cached || name = "disk" }`, []string{"disk"}},
		{`{ name = "query" && span.cached }`, nil},

		// Logical spanset operators keep the spans of both sides.
		{`{ name = "GET /" } && { name = "disk" }`, []string{"GET /", "disk"}},
		{`{ name = "GET /" } && { name = "nope" }`, nil},
		{`{ name = "nope" } && { name = "GET /" }`, nil},
		{`{ name = "nope" } || { name = "disk" }`, []string{"disk"}},
		{`{ name = "get" } || { name = "disk" }`, []string{"disk", "get"}},
		{`{ name = "nope" } || { name = "nada" }`, nil},

		// Structural operators keep the right-hand spans.
		{`{ name = "GET /" } >> { resource.service.name = "db" }`, []string{"query", "disk"}},
		{`{ name = "call-db" } >> { }`, []string{"query", "disk"}},
		{`{ name = "disk" } >> { }`, nil},
		{`{ } >> { name = "GET /" }`, nil},
		{`{ kind = server } >> { kind = server }`, []string{"query"}},
		{`{ name = "GET /" } > { }`, []string{"call-db", "get"}},
		{`{ name = "GET /" } > { name = "disk" }`, nil},
		{`{ name = "call-db" } > { name = "query" }`, []string{"query"}},
		{`{ } > { }`, []string{"call-db", "query", "disk", "get"}},
		{`{ name = "GET /" } > { name = "call-db" } > { name = "query" }`, []string{"query"}},
		{`{ name = "GET /" } >> { name = "query" } > { }`, []string{"disk"}},
		{`{ name = "GET /" } >> ({ name = "query" } > { })`, []string{"disk"}},
		{`({ name = "query" } || { name = "get" }) >> { }`, []string{"disk"}},
		{`{ name = "nope" } && { name = "GET /" } >> { name = "disk" }`, nil},
		{`{ name = "get" } || { name = "nope" } >> { }`, []string{"get"}},
		{`{ name = "get" } && { status = error } >> { }`, []string{"disk", "get"}},
		{`{ name = "disk" } << { }`, []string{"GET /", "call-db", "query"}},
		{`{ name = "disk" } << { kind = server }`, []string{"GET /", "query"}},
		{`{ name = "GET /" } << { }`, nil},
		{`{ name = "disk" } << { } << { }`, []string{"GET /", "call-db"}},
		{`{ name = "query" } < { }`, []string{"call-db"}},
		{`{ } < { }`, []string{"GET /", "call-db", "query"}},
		{`{ name = "GET /" } < { }`, nil},
		{`{ name = "call-db" } ~ { }`, []string{"get"}},
		{`{ } ~ { }`, []string{"call-db", "get"}},
		{`{ name = "get" } ~ { name = "get" }`, nil},
		{`{ name = "query" } ~ { }`, nil},

		// Negated structural operators keep the right-hand spans that stand
		// in the relation to no left-hand span; with no left-hand span at
		// all, every right-hand span.
		{`{ } !< { }`, []string{"disk", "get"}},
		{`{ } !< { resource.service.name = "db" }`, []string{"disk"}},
		{`{ status = error } !< { status = error }`, []string{"query"}},
		{`{ name = "GET /" } !>> { }`, []string{"GET /"}},
		{`{ name = "nope" } !>> { kind = client }`, []string{"call-db", "get"}},
		{`{ } !>> { }`, []string{"GET /"}},
		{`{ name = "call-db" } !> { }`, []string{"GET /", "call-db", "disk", "get"}},
		{`{ } !> { name = "query" }`, nil},
		{`{ name = "disk" } !<< { }`, []string{"disk", "get"}},
		{`{ name = "get" } !~ { }`, []string{"GET /", "query", "disk", "get"}},
		{`{ } !~ { name = "get" }`, nil},
		{`{ name = "nope" } !~ { name = "nada" }`, nil},

		// Union structural operators keep the spans of both sides that
		// stand in the relation.
		{`{ name = "call-db" } &>> { }`, []string{"call-db", "query", "disk"}},
		{`{ name = "GET /" } &> { kind = client }`, []string{"GET /", "call-db", "get"}},
		{`{ name = "disk" } &<< { kind = server }`, []string{"GET /", "query", "disk"}},
		{`{ name = "query" } &< { }`, []string{"call-db", "query"}},
		{`{ name = "call-db" } &~ { }`, []string{"call-db", "get"}},
		{`{ name = "nope" } &>> { }`, nil},
		{`{ name = "disk" } &>> { }`, nil},
		{`{ } &~ { name = "GET /" }`, nil},
		{`{ name = "get" } && { } !< { name = "disk" } | count() = 2`, []string{"disk", "get"}},

		// Pipelines.
		{`{ } | count() > 4`, all},
		{`{ } | count() > 5`, nil},
		{`{ } | count() = 5 | count() >= 5 | count() < 6 | count() != 4 | count() <= 5.5`, all},
		{`{ } | count() <= 4`, nil},
		{`{ kind = client } | count() = 2`, []string{"call-db", "get"}},
		{`{ kind = client } | count() > 2`, nil},
		{`{ } | avg(duration) = 33ms`, all},
		{`{ } | min(span:duration) = 5ms | max(duration) = 100ms | sum(duration) = 165ms`, all},
		{`{ } | avg(duration) > 33ms`, nil},
		{`{ } | avg(span.http.status_code) = 351.5`, all},
		{`{ } | sum(span.http.status_code) >= 703`, all},
		{`{ } | max(span.rows) = 1.5 | min(.retries) = 2`, all},
		{`{ } | sum(span.nope) > 0`, nil},
		{`{ } | sum(span.nope) != 0`, nil},
		{`{ } | avg(trace:duration) = 105ms`, all},
		{`{ kind = client } with(most_recent=true, sample=true, unknown="x")`, []string{"call-db", "get"}},
		{`{ name = "GET /" } >> { } | count() = 4 | select(span.db.system)`, []string{"call-db", "query", "disk", "get"}},
	}
	trace := testTrace()
	for _, tt := range tests {
		if got := matchedNames(t, tt.query, trace); !slices.Equal(got, tt.want) {
			t.Errorf("%s\n got %q\nwant %q", tt.query, got, tt.want)
		}
	}
}

func TestEvaluateResultAttributes(t *testing.T) {
	q, err := Parse(`{ kind = client || status = error } | count() = 3 | avg(duration) > 1ms | max(span.retries) > 1 ` +
		`| select(span.http.status_code, resource.service.name, duration, trace:rootName, span.nope) | select(duration, kind)`)
	if err != nil {
		t.Fatal(err)
	}
	set, ok := evaluateOne(t, q, testTrace())
	if !ok {
		t.Fatal("no match")
	}
	wantAggregates := []KeyValue{
		{"count()", IntValue(3)},
		{"avg(span:duration)", DurationValue(20 * time.Millisecond)},
		{"max(span.retries)", FloatValue(2)},
	}
	if !slices.Equal(set.Attributes, wantAggregates) {
		t.Errorf("aggregates\n got %v\nwant %v", set.Attributes, wantAggregates)
	}
	// Keyed as Tempo keys them, without scopes; the span's duration and
	// the trace's root name are in the result already.
	want := map[string][]KeyValue{
		"call-db": {{"service.name", StringValue("frontend")}, {"kind", KindValue(kindClient)}},
		"query":   {{"service.name", StringValue("db")}, {"kind", KindValue(kindServer)}},
		"get":     {{"http.status_code", IntValue(503)}, {"service.name", StringValue("cache")}, {"kind", KindValue(kindClient)}},
	}
	if len(set.Spans) != len(want) {
		t.Fatalf("matched %d spans, want %d", len(set.Spans), len(want))
	}
	for _, s := range set.Spans {
		if !slices.Equal(s.Attributes, want[s.Row.Name]) {
			t.Errorf("%s: selected\n got %v\nwant %v", s.Row.Name, s.Attributes, want[s.Row.Name])
		}
	}
}

// The nested set does not depend on the order of a trace's rows, and
// select() shows it.
func TestEvaluateNestedSetIgnoresRowOrder(t *testing.T) {
	q, err := Parse(`{ } | select(nestedSetLeft, span:nestedSetRight, span:nestedSetParent, span:childCount)`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][4]int64{
		"GET /": {1, 10, -1, 2}, "call-db": {2, 7, 1, 1}, "query": {3, 6, 2, 1}, "disk": {4, 5, 3, 0}, "get": {8, 9, 1, 0},
	}
	trace := testTrace()
	reversed := slices.Clone(trace)
	slices.Reverse(reversed)
	for _, tr := range [][]schema.SpanRow{trace, reversed} {
		set, ok := evaluateOne(t, q, tr)
		if !ok || len(set.Spans) != len(want) {
			t.Fatalf("got %v, %v", set, ok)
		}
		for _, s := range set.Spans {
			var got [4]int64
			for i, kv := range s.Attributes {
				got[i] = kv.Value.Int()
			}
			keys := []string{s.Attributes[0].Key, s.Attributes[1].Key, s.Attributes[2].Key, s.Attributes[3].Key}
			if got != want[s.Row.Name] || !slices.Equal(keys, []string{"nestedSetLeft", "nestedSetRight", "nestedSetParent", "childCount"}) {
				t.Errorf("%s: got %v, want %v", s.Row.Name, s.Attributes, want[s.Row.Name])
			}
		}
	}
}

// by() splits a spanset by a field's value, in the order of each value's
// first span, the spans without the field in a group of their own; the
// stages after it judge each group; coalesce() merges them again.
func TestEvaluateGroups(t *testing.T) {
	type set struct {
		names string
		attrs string
	}
	tests := []struct {
		query string
		want  []set // nil: the trace does not match
	}{
		{`{ } | by(resource.service.name)`, []set{
			{"GET /,call-db", `by(resource.service.name)="frontend"`},
			{"query,disk", `by(resource.service.name)="db"`},
			{"get", `by(resource.service.name)="cache"`},
		}},
		{`{ } | by(resource.service.name) | count() > 1`, []set{
			{"GET /,call-db", `by(resource.service.name)="frontend" count()=2`},
			{"query,disk", `by(resource.service.name)="db" count()=2`},
		}},
		{`{ status = error || status = ok } | by(resource.service.name) | count() > 1`, []set{
			{"query,disk", `by(resource.service.name)="db" count()=2`},
		}},
		{`{ } | by(resource.service.name) | count() > 2`, nil},
		{`{ } | by(span.http.status_code)`, []set{
			{"GET /", `by(span.http.status_code)=200`},
			{"call-db,query", `by(span.http.status_code)=nil`},
			{"disk", `by(span.http.status_code)="500"`},
			{"get", `by(span.http.status_code)=503`},
		}},
		{`{ } | by(span:nestedSetParent)`, []set{
			{"GET /", `by(span:nestedSetParent)=-1`},
			{"call-db,get", `by(span:nestedSetParent)=1`},
			{"query", `by(span:nestedSetParent)=2`},
			{"disk", `by(span:nestedSetParent)=3`},
		}},
		{`{ } | by(resource.service.name) | avg(duration) > 20ms`, []set{
			{"GET /,call-db", `by(resource.service.name)="frontend" avg(span:duration)=65ms`},
		}},
		{`{ } | by(resource.service.name) | count() > 1 | coalesce()`, []set{{"GET /,call-db,query,disk", ""}}},
		{`{ } | by(resource.service.name) | coalesce() | count() = 5`, []set{{"GET /,call-db,query,disk,get", "count()=5"}}},
		{`{ } | count() > 1 | coalesce()`, []set{{"GET /,call-db,query,disk,get", ""}}},
		{`{ kind = client } | by(kind) | by(resource.service.name)`, []set{
			{"call-db", `by(span:kind)=client by(resource.service.name)="frontend"`},
			{"get", `by(span:kind)=client by(resource.service.name)="cache"`},
		}},
	}
	trace := testTrace()
	for _, tt := range tests {
		q, err := Parse(tt.query)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.query, err)
		}
		sets, ok := q.Evaluate(trace)
		if ok != (len(sets) > 0) {
			t.Errorf("%s: %d spansets, matched %v", tt.query, len(sets), ok)
		}
		var got []set
		for _, ss := range sets {
			var names, attrs []string
			for _, s := range ss.Spans {
				names = append(names, s.Row.Name)
			}
			for _, kv := range ss.Attributes {
				attrs = append(attrs, kv.Key+"="+kv.Value.String())
			}
			got = append(got, set{strings.Join(names, ","), strings.Join(attrs, " ")})
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s\n got %q\nwant %q", tt.query, got, tt.want)
		}
	}
}

// select() attaches its fields to the spans of every group.
func TestEvaluateGroupsSelect(t *testing.T) {
	q, err := Parse(`{ kind = client } | by(resource.service.name) | select(span.http.status_code, span:childCount)`)
	if err != nil {
		t.Fatal(err)
	}
	sets, ok := q.Evaluate(testTrace())
	if !ok || len(sets) != 2 {
		t.Fatalf("got %v, %v", sets, ok)
	}
	want := [][]KeyValue{
		{{"childCount", IntValue(1)}},
		{{"http.status_code", IntValue(503)}, {"childCount", IntValue(0)}},
	}
	for i, ss := range sets {
		if len(ss.Spans) != 1 || !slices.Equal(ss.Spans[0].Attributes, want[i]) {
			t.Errorf("spanset %d: %v, want %v", i, ss.Spans, want[i])
		}
	}
}

func TestEvaluateEmptyTrace(t *testing.T) {
	q, err := Parse(`{}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := q.Evaluate(nil); ok {
		t.Error("an empty trace matched {}")
	}
}

// A trace whose root span has not arrived takes its earliest span as the
// root; parent links to spans outside the trace are no links.
func TestEvaluateWithoutRoot(t *testing.T) {
	trace := buildTrace(
		spec{id: 3, parent: 9, name: "late", service: "b", start: 5 * time.Millisecond, dur: time.Millisecond},
		spec{id: 2, parent: 9, name: "early", service: "a", start: 1 * time.Millisecond, dur: time.Millisecond},
		spec{id: 4, parent: 2, name: "child", service: "c", start: 2 * time.Millisecond, dur: 10 * time.Millisecond},
	)
	tests := []struct {
		query string
		want  []string
	}{
		{`{ rootName = "early" && rootServiceName = "a" && traceDuration = 11ms }`, []string{"late", "early", "child"}},
		{`{ } > { }`, []string{"child"}},
		{`{ } >> { }`, []string{"child"}},
		{`{ } < { }`, []string{"early"}},
		{`{ name = "child" } << { }`, []string{"early"}},
		// Spans whose parent is not in the trace are nobody's siblings.
		{`{ } ~ { }`, nil},
		{`{ } !~ { }`, []string{"late", "early", "child"}},
		{`{ span:childCount = 1 }`, []string{"early"}},
		// Without a root, no span is numbered, as in Tempo.
		{`{ nestedSetLeft = 0 && nestedSetRight = 0 && nestedSetParent = 0 }`, []string{"late", "early", "child"}},
	}
	for _, tt := range tests {
		if got := matchedNames(t, tt.query, trace); !slices.Equal(got, tt.want) {
			t.Errorf("%s\n got %q\nwant %q", tt.query, got, tt.want)
		}
	}
}

// Corrupt parent links that form a cycle must not hang a search.
func TestEvaluateParentCycle(t *testing.T) {
	trace := buildTrace(
		spec{id: 1, parent: 3, name: "a"},
		spec{id: 2, parent: 1, name: "b"},
		spec{id: 3, parent: 2, name: "c"},
		spec{id: 4, parent: 4, name: "self"},
	)
	if got := matchedNames(t, `{ name = "self" } >> { }`, trace); got != nil {
		t.Errorf("a span is its own descendant: %q", got)
	}
	// Within a cycle every span has the others as ancestors; what matters
	// is that the walk ends.
	if got := matchedNames(t, `{ name = "a" } >> { name = "c" }`, trace); !slices.Equal(got, []string{"c"}) {
		t.Errorf("got %q", got)
	}
	for _, query := range []string{`{ } << { }`, `{ name = "a" } &<< { }`, `{ } ~ { }`, `{ } !< { }`} {
		matchedNames(t, query, trace)
	}
}

// A large trace exercises bitsets of several words and deep ancestry.
func TestEvaluateDeepTrace(t *testing.T) {
	const depth = 300
	specs := make([]spec, depth)
	for i := range specs {
		specs[i] = spec{id: byte(i + 1), parent: byte(i), name: "n", service: "s"}
	}
	trace := buildTrace(specs...)
	// IDs are one byte: give spans past 255 distinct IDs.
	for i := range trace {
		trace[i].SpanID[6] = byte((i + 1) >> 8)
		trace[i].SpanID[7] = byte(i + 1)
		trace[i].ParentSpanID[6] = byte(i >> 8)
		trace[i].ParentSpanID[7] = byte(i)
	}
	trace[depth-1].Name = "leaf"
	q, err := Parse(`{ span:id = "1" } >> { name = "leaf" }`)
	if err != nil {
		t.Fatal(err)
	}
	if set, ok := evaluateOne(t, q, trace); !ok || len(set.Spans) != 1 || set.Spans[0].Row.Name != "leaf" {
		t.Errorf("leaf not found below the root: %v %v", set, ok)
	}
	q, err = Parse(`{ } >> { }`)
	if err != nil {
		t.Fatal(err)
	}
	if set, ok := evaluateOne(t, q, trace); !ok || len(set.Spans) != depth-1 {
		t.Errorf("matched %d spans, want %d", len(set.Spans), depth-1)
	}
	for query, want := range map[string]int{
		`{ name = "leaf" } << { }`:  depth - 1,
		`{ name = "leaf" } &<< { }`: depth,
		`{ } !< { }`:                1,
		`{ } < { }`:                 depth - 1,
		`{ } ~ { }`:                 0,
		`{ nestedSetLeft = 300 && nestedSetRight = 301 && span:childCount = 0 }`: 1,
		`{ nestedSetLeft = 1 && nestedSetRight = 600 && nestedSetParent = -1 }`:  1,
	} {
		q, err := Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		if set, _ := evaluateOne(t, q, trace); len(set.Spans) != want {
			t.Errorf("%s: matched %d spans, want %d", query, len(set.Spans), want)
		}
	}
}

func TestEvaluateConcurrently(t *testing.T) {
	q, err := Parse(`{ resource.service.name = "db" } >> { } | count() = 1 | select(span.http.status_code)`)
	if err != nil {
		t.Fatal(err)
	}
	trace := testTrace()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if sets, ok := q.Evaluate(trace); !ok || len(sets) != 1 || len(sets[0].Spans) != 1 || sets[0].Spans[0].Row.Name != "disk" {
					t.Errorf("got %v, %v", sets, ok)
					return
				}
			}
		})
	}
	wg.Wait()
}
