// Package querytest holds what the tests of the querier's packages share:
// traces to put in live tails and blocks, blocks, and tenant limits. It is
// for tests only.
package querytest

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TraceID returns the trace ID whose last byte is b, the rest zero.
func TraceID(b byte) pcommon.TraceID { return pcommon.TraceID{15: b} }

// Spans returns a Traces with one span per (trace, span) pair.
func Spans(pairs ...[2]byte) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for _, p := range pairs {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(TraceID(p[0]))
		s.SetSpanID(pcommon.SpanID{7: p[1]})
	}
	return td
}
