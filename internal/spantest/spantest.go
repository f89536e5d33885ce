// Package spantest compares spans in tests whatever their grouping into
// resources and scopes, and whatever their order.
package spantest

import (
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// ByTrace returns each trace's spans as the OTLP JSON of a Traces holding
// the span alone with its resource and scope, sorted: equal for equal spans
// however they were grouped and ordered.
func ByTrace(t testing.TB, td ptrace.Traces) map[pcommon.TraceID][]string {
	t.Helper()
	out := make(map[pcommon.TraceID][]string)
	Each(t, td, func(id pcommon.TraceID, span string) { out[id] = append(out[id], span) })
	for _, spans := range out {
		slices.Sort(spans)
	}
	return out
}

// Each calls fn with every span of td, in td's order, with its trace ID
// and rendered as ByTrace renders it.
func Each(t testing.TB, td ptrace.Traces, fn func(traceID pcommon.TraceID, span string)) {
	t.Helper()
	var m ptrace.JSONMarshaler
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				one := ptrace.NewTraces()
				ors := one.ResourceSpans().AppendEmpty()
				ors.SetSchemaUrl(rs.SchemaUrl())
				rs.Resource().CopyTo(ors.Resource())
				oss := ors.ScopeSpans().AppendEmpty()
				oss.SetSchemaUrl(ss.SchemaUrl())
				ss.Scope().CopyTo(oss.Scope())
				span.CopyTo(oss.Spans().AppendEmpty())
				b, err := m.MarshalTraces(one)
				if err != nil {
					t.Fatal(err)
				}
				fn(span.TraceID(), string(b))
			}
		}
	}
}

// All returns every span of td as ByTrace renders it, sorted.
func All(t testing.TB, td ptrace.Traces) []string {
	t.Helper()
	var out []string
	for _, spans := range ByTrace(t, td) {
		out = append(out, spans...)
	}
	slices.Sort(out)
	return out
}

// Spans returns the spans of td, in td's order.
func Spans(td ptrace.Traces) []ptrace.Span {
	var out []ptrace.Span
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				out = append(out, span)
			}
		}
	}
	return out
}
