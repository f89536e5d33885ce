package producer

import (
	"fmt"
	"math"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// maxTimestamp is the latest span time accepted, 2262-04-11T23:47:16Z: OTLP
// times are unsigned nanoseconds, but time.Time and the signed nanoseconds
// that blocks, searches and durations use end there. A later time is a
// broken clock or a hostile client, never a real span.
const maxTimestamp = math.MaxInt64

// spanProblem says why span cannot be stored, or "" if it can. The IDs are
// checked because they partition, index and deduplicate spans (pdata has
// already refused IDs of the wrong length while decoding); the times
// because blocks index them as signed nanoseconds. An end before the start
// is stored as it came.
func spanProblem(span ptrace.Span) string {
	switch {
	case span.TraceID().IsEmpty():
		return "trace ID is missing or all zero; it must be 16 bytes, not all zero"
	case span.SpanID().IsEmpty():
		return "span ID is missing or all zero; it must be 8 bytes, not all zero"
	case span.StartTimestamp() > maxTimestamp:
		return fmt.Sprintf("start time %d ns is past 2^63-1 ns (year 2262), the latest time spanlog stores", span.StartTimestamp())
	case span.EndTimestamp() > maxTimestamp:
		return fmt.Sprintf("end time %d ns is past 2^63-1 ns (year 2262), the latest time spanlog stores", span.EndTimestamp())
	}
	return ""
}
