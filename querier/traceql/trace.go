package traceql

import "github.com/spanlog/spanlog/schema"

// Root returns the root span of a trace, which the trace-level intrinsics
// (trace:rootName, trace:rootService) and a search result's root name and
// service read: the earliest-starting span without a parent, or, in a
// trace whose root has not arrived, the earliest-starting span. It returns
// nil for an empty trace.
func Root(trace []schema.SpanRow) *schema.SpanRow {
	var root, earliest *schema.SpanRow
	for i := range trace {
		r := &trace[i]
		if earliest == nil || r.StartUnixNano < earliest.StartUnixNano {
			earliest = r
		}
		if r.ParentSpanID == ([8]byte{}) && (root == nil || r.StartUnixNano < root.StartUnixNano) {
			root = r
		}
	}
	if root == nil {
		return earliest
	}
	return root
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
}

func newTraceInfo(trace []schema.SpanRow) traceInfo {
	t := traceInfo{root: Root(trace)}
	t.start, t.end = Bounds(trace)
	return t
}
