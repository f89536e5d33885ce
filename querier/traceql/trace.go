package traceql

import (
	"time"

	"github.com/spanlog/spanlog/schema"
)

// Root returns the root span of a trace, which the trace-level intrinsics
// (trace:rootName, trace:rootService) and a search result's root name and
// service read, as schema.RootIndex picks it: the earliest-starting span
// without a parent, or, in a trace whose root has not arrived, the
// earliest-starting span. It returns nil for an empty trace.
func Root(trace []schema.SpanRow) *schema.SpanRow {
	if i := schema.RootIndex(trace); i >= 0 {
		return &trace[i]
	}
	return nil
}

// Bounds returns the earliest start and the latest end of a trace's spans;
// trace:duration is end - start.
func Bounds(trace []schema.SpanRow) (start, end uint64) {
	for i := range trace {
		s, e := trace[i].StartUnixNano, trace[i].EndUnixNano()
		if i == 0 || s < start {
			start = s
		}
		if e > end {
			end = e
		}
	}
	return start, end
}

// traceInfo holds what the trace-level intrinsics read, computed once per
// trace.
type traceInfo struct {
	root       *schema.SpanRow
	start, end uint64
	// tree, if set, holds the child counts and nested set, and span is
	// the index of the span being evaluated, which they are read at.
	tree *tree
	span int
	// bound says event and link are the event and the link of the span
	// that the fields of events and links read (nil for none): a
	// spanset filter judges a span on each of them (see Field.Element).
	// Unbound, such a field reads the first event or link that has it.
	bound bool
	event *schema.Event
	link  *schema.Link
}

func newTraceInfo(trace []schema.SpanRow) traceInfo {
	t := traceInfo{root: Root(trace)}
	t.start, t.end = Bounds(trace)
	return t
}

// TraceFacts are the values of a whole trace that its trace-level
// intrinsics read, as a summary of its spans tells them, without the
// spans (see schema.TraceSummary).
type TraceFacts struct {
	// Start and End are the earliest start and latest end of the spans.
	Start, End uint64
	// RootName is the root span's name (see Root).
	RootName string
	// RootService is the root span's service.name when that is a
	// non-empty string; empty when it is absent, empty or of another
	// type, which a summary does not tell apart.
	RootService string
}

// MayMatchTrace reports whether a trace with facts f can pass c, a
// WholeTrace condition: false only when it certainly fails. Conditions
// that are not WholeTrace pass.
func (c Condition) MayMatchTrace(f TraceFacts) bool {
	var v Value
	switch c.Field.Intrinsic {
	case IntrinsicTraceRootName:
		v = StringValue(f.RootName)
	case IntrinsicTraceRootService:
		if f.RootService == "" {
			return true
		}
		v = StringValue(f.RootService)
	case IntrinsicTraceDuration:
		v = DurationValue(time.Duration(f.End - f.Start))
	default:
		return true
	}
	return c.Matches(v)
}
