package producer

import "go.opentelemetry.io/collector/pdata/ptrace"

// spanProblem says why span cannot be stored, or "" if it can. Only the IDs
// are checked: they are what partitions, indexes and deduplicates spans;
// pdata has already refused IDs of the wrong length while decoding.
func spanProblem(span ptrace.Span) string {
	switch {
	case span.TraceID().IsEmpty():
		return "trace ID is missing or all zero; it must be 16 bytes, not all zero"
	case span.SpanID().IsEmpty():
		return "span ID is missing or all zero; it must be 8 bytes, not all zero"
	}
	return ""
}
