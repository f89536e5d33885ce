package traceql

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/schema"
)

// scopesTrace is testTrace's frontend, database and disk spans with
// events, links and instrumentation scopes:
//
//	GET /  scope net/http 1.2.0 {language=go}
//	       events start@1ms {phase=a}, exception@5ms {exception.message=boom, exception.type=IOError}
//	       link   trace 01 span 02 {opentracing.ref_type=follows_from}
//	query  scope database/sql, no version
//	       event  exception@2ms {exception.message=timeout, retry=3}
//	       links  trace 03 span 04 {kind=a}, trace 05 span 06 {kind=b}
//	disk   no scope, events or links
func scopesTrace() []schema.SpanRow {
	rows := buildTrace(
		spec{id: 1, name: "GET /", service: "frontend", kind: kindServer, dur: 100 * time.Millisecond},
		spec{id: 3, parent: 1, name: "query", service: "db", kind: kindServer, start: 15 * time.Millisecond, dur: 20 * time.Millisecond},
		spec{id: 4, parent: 3, name: "disk", service: "db", kind: kindInternal, start: 20 * time.Millisecond, dur: 5 * time.Millisecond},
	)
	event := func(r *schema.SpanRow, name string, at time.Duration, attrs ...schema.Attribute) schema.Event {
		return schema.Event{Name: name, TimeUnixNano: r.StartUnixNano + uint64(at), Attrs: attrs}
	}
	link := func(trace, span byte, attrs ...schema.Attribute) schema.Link {
		l := schema.Link{Attrs: attrs}
		l.TraceID[15], l.SpanID[7] = trace, span
		return l
	}
	get, query := &rows[0], &rows[1]
	get.ScopeName, get.ScopeVersion = "net/http", "1.2.0"
	get.ScopeAttrs = []schema.Attribute{strAttr("language", "go")}
	get.Events = []schema.Event{
		event(get, "start", time.Millisecond, strAttr("phase", "a")),
		event(get, "exception", 5*time.Millisecond, strAttr("exception.message", "boom"), strAttr("exception.type", "IOError")),
	}
	get.Links = []schema.Link{link(1, 2, strAttr("opentracing.ref_type", "follows_from"))}
	query.ScopeName = "database/sql"
	query.Events = []schema.Event{event(query, "exception", 2*time.Millisecond, strAttr("exception.message", "timeout"), intAttr("retry", 3))}
	query.Links = []schema.Link{link(3, 4, strAttr("kind", "a")), link(5, 6, strAttr("kind", "b"))}
	return rows
}

// The event, link and instrumentation scopes, as Tempo's documentation
// defines them: a condition on events or links holds on a span when it
// holds on one of its events (and links); within one filter, the
// comparisons on events read the same event, and those on links the same
// link.
func TestEvaluateScopes(t *testing.T) {
	tests := []struct {
		query string
		want  []string // nil: the trace does not match
	}{
		{`{ event:name = "exception" }`, []string{"GET /", "query"}},
		{`{ event:name = "start" }`, []string{"GET /"}},
		{`{ event:name =~ "exc.*" }`, []string{"GET /", "query"}},
		{`{ event.exception.message =~ ".*" }`, []string{"GET /", "query"}},
		{`{ event.exception.message = "boom" }`, []string{"GET /"}},
		{`{ event.retry >= 3 }`, []string{"query"}},
		{`{ event.phase = "b" }`, nil},
		// One filter's comparisons on events read one event; two
		// filters' may read two.
		{`{ event:name = "start" && event.exception.message = "boom" }`, nil},
		{`{ event:name = "exception" && event.exception.message = "boom" }`, []string{"GET /"}},
		{`{ event:name = "start" || event.exception.message = "timeout" }`, []string{"GET /", "query"}},
		{`{ event:name = "start" } && { event.exception.message = "boom" }`, []string{"GET /"}},
		{`{ !(event:name = "exception") }`, []string{"GET /", "disk"}},
		// nil: a span without events has no event field; one whose
		// events lack the attribute neither.
		{`{ event.exception.message = nil }`, []string{"GET /", "disk"}},
		{`{ event.exception.message != nil }`, []string{"GET /", "query"}},
		{`{ event:name != nil }`, []string{"GET /", "query"}},
		{`{ event:name = nil }`, []string{"disk"}},
		// The time of an event since its span's start.
		{`{ event:timeSinceStart > 3ms }`, []string{"GET /"}},
		{`{ event:timeSinceStart >= 1ms && event:timeSinceStart < 3ms }`, []string{"GET /", "query"}},
		{`{ event:timeSinceStart > 2ms && event:name = "start" }`, nil},
		{`{ event:timeSinceStart < 0s }`, nil},
		// Links, their IDs written as trace and span IDs are.
		{`{ link:traceID = "1" }`, []string{"GET /"}},
		{`{ link:traceID = "00000000000000000000000000000005" }`, []string{"query"}},
		{`{ link:traceID =~ "0+[13]" }`, []string{"GET /", "query"}},
		{`{ link:spanID = "0000000000000006" }`, []string{"query"}},
		{`{ link:spanID = "6" && link:traceID = "3" }`, nil},
		{`{ link.opentracing.ref_type = "follows_from" }`, []string{"GET /"}},
		{`{ link.kind = "a" && link.kind = "b" }`, nil},
		{`{ link.kind = "a" && link:spanID = "4" }`, []string{"query"}},
		{`{ link.kind = "a" && link:spanID = "6" }`, nil},
		{`{ link:traceID = nil }`, []string{"disk"}},
		{`{ link.kind != nil }`, []string{"query"}},
		// An event and a link: any event with any link.
		{`{ event:name = "exception" && link.kind = "b" }`, []string{"query"}},
		{`{ event:name = "start" && link:spanID = "2" }`, []string{"GET /"}},
		// The instrumentation scope; an empty name or version is none.
		{`{ instrumentation:name = "net/http" }`, []string{"GET /"}},
		{`{ instrumentation:name =~ ".*sql" && instrumentation:version = nil }`, []string{"query"}},
		{`{ instrumentation:version = "1.2.0" }`, []string{"GET /"}},
		{`{ instrumentation:version = nil }`, []string{"query", "disk"}},
		{`{ instrumentation:name != nil }`, []string{"GET /", "query"}},
		{`{ instrumentation.language = "go" }`, []string{"GET /"}},
		{`{ instrumentation.language = nil }`, []string{"query", "disk"}},
		// An unscoped attribute reads neither of these scopes.
		{`{ .language = "go" || .exception.message = "boom" || .kind = "a" }`, nil},
		// With the other scopes and the structure.
		{`{ event:name = "exception" } > { link.kind = "b" }`, []string{"query"}},
		{`{ instrumentation:name = "net/http" && span:kind = server && event:name = "start" } >> { }`, []string{"query", "disk"}},
		{`{ event:name = "exception" } | count() = 2`, []string{"GET /", "query"}},
		{`{ } | max(event:timeSinceStart) = 1ms`, nil},
	}
	trace := scopesTrace()
	for _, tt := range tests {
		if got := matchedNames(t, tt.query, trace); !slices.Equal(got, tt.want) {
			t.Errorf("%s\n got %q\nwant %q", tt.query, got, tt.want)
		}
	}
}

// select(), by() and the aggregates read a span's first event or link
// that has the field.
func TestEvaluateScopesSelected(t *testing.T) {
	q, err := Parse(`{ event:name != nil } | select(event.exception.message, event:name, link:spanID, link.kind, instrumentation:name, instrumentation.language)`)
	if err != nil {
		t.Fatal(err)
	}
	set, ok := evaluateOne(t, q, scopesTrace())
	if !ok {
		t.Fatal("no match")
	}
	// Keyed as Tempo keys them: attributes without their scope.
	want := map[string][]KeyValue{
		"GET /": {
			{"exception.message", StringValue("boom")}, {"event:name", StringValue("start")},
			{"link:spanID", StringValue("0000000000000002")}, {"instrumentation:name", StringValue("net/http")},
			{"language", StringValue("go")},
		},
		"query": {
			{"exception.message", StringValue("timeout")}, {"event:name", StringValue("exception")},
			{"link:spanID", StringValue("0000000000000004")}, {"kind", StringValue("a")},
			{"instrumentation:name", StringValue("database/sql")},
		},
	}
	if len(set.Spans) != len(want) {
		t.Fatalf("matched %d spans, want %d", len(set.Spans), len(want))
	}
	for _, s := range set.Spans {
		if !slices.Equal(s.Attributes, want[s.Row.Name]) {
			t.Errorf("%s: selected\n got %v\nwant %v", s.Row.Name, s.Attributes, want[s.Row.Name])
		}
	}

	q, err = Parse(`{ } | by(instrumentation:name) | count() = 1`)
	if err != nil {
		t.Fatal(err)
	}
	sets, _ := q.Evaluate(scopesTrace())
	var got []string
	for _, s := range sets {
		got = append(got, s.Spans[0].Row.Name+" "+s.Attributes[0].Value.String())
	}
	if want := []string{`GET / "net/http"`, `query "database/sql"`, `disk nil`}; !slices.Equal(got, want) {
		t.Errorf("by(instrumentation:name): got %q, want %q", got, want)
	}
}

// A condition on events or links holds on a span when it holds on one of
// them, which Condition.MatchesSpan judges as evaluation does.
func TestConditionMatchesSpanScopes(t *testing.T) {
	trace := scopesTrace()
	tests := []struct {
		query string
		want  []bool // per span of scopesTrace: GET /, query, disk
	}{
		{`{ event:name = "start" }`, []bool{true, false, false}},
		{`{ event.exception.message = "timeout" }`, []bool{false, true, false}},
		{`{ link.kind = "b" }`, []bool{false, true, false}},
		{`{ link:traceID = "1" }`, []bool{true, false, false}},
		{`{ event:name != nil }`, []bool{true, true, false}},
		{`{ instrumentation:version = "1.2.0" }`, []bool{true, false, false}},
	}
	for _, tt := range tests {
		q, err := Parse(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		conds := q.Conditions()
		if len(conds) != 1 {
			t.Fatalf("%s: conditions %v", tt.query, conds)
		}
		for i := range trace {
			if got := conds[0].MatchesSpan(&trace[i]); got != tt.want[i] {
				t.Errorf("%s: MatchesSpan(%s) = %v, want %v", tt.query, trace[i].Name, got, tt.want[i])
			}
		}
	}
}

// elementValues returns the values of an event or link field on each of
// a span's events or links, or its one value for another field: a
// condition holds on the span if it holds on one of them.
func elementValues(f Field, row *schema.SpanRow, info *traceInfo) []Value {
	var out []Value
	bind := func(e *schema.Event, l *schema.Link) {
		t := *info
		t.bound, t.event, t.link = true, e, l
		out = append(out, fieldValue(&f, row, &t))
	}
	switch f.Element() {
	case ElementEvent:
		for i := range row.Events {
			bind(&row.Events[i], nil)
		}
	case ElementLink:
		for i := range row.Links {
			bind(nil, &row.Links[i])
		}
	default:
		return []Value{fieldValue(&f, row, info)}
	}
	return out
}

// EachValue reads a field of events or links on each of them, and
// IntrinsicField finds their intrinsics by their scoped names.
func TestEachValue(t *testing.T) {
	trace := scopesTrace()
	tests := []struct {
		field string
		want  []string // per span of scopesTrace: GET /, query, disk
	}{
		{"event:name", []string{`"start" "exception"`, `"exception"`, ``}},
		{"event:timeSinceStart", []string{`1ms 5ms`, `2ms`, ``}},
		{"link:spanID", []string{`"0000000000000002"`, `"0000000000000004" "0000000000000006"`, ``}},
		{"instrumentation:name", []string{`"net/http"`, `"database/sql"`, `nil`}},
		{"name", []string{`"GET /"`, `"query"`, `"disk"`}},
	}
	for _, tt := range tests {
		f, ok := IntrinsicField(tt.field)
		if !ok {
			t.Fatalf("IntrinsicField(%q): not found", tt.field)
		}
		for i := range trace {
			var got []string
			f.EachValue(&trace[i], func(v Value) { got = append(got, v.String()) })
			if line := strings.Join(got, " "); line != tt.want[i] {
				t.Errorf("%s on %s: got %s, want %s", tt.field, trace[i].Name, line, tt.want[i])
			}
		}
	}
	attr := Field{Scope: ScopeEvent, Name: "exception.message"}
	var got []string
	attr.EachValue(&trace[0], func(v Value) { got = append(got, v.String()) })
	if want := []string{"nil", `"boom"`}; !slices.Equal(got, want) {
		t.Errorf("event.exception.message on GET /: got %v, want %v", got, want)
	}
}
