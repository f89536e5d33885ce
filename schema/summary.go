package schema

import (
	"bytes"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TraceSummary is what a block knows of the spans of one trace it holds,
// stored with the trace's first row (SpanRow.Trace) from format v2 on. A
// search judges a trace by its summary, which is a tenth of its spans or
// less, and reads the spans of only the traces that can make its answer:
// "{}", the trace-level intrinsics (rootName, rootServiceName,
// traceDuration) and "most recent first" need nothing else.
//
// A trace can be split across blocks (a block cut in the middle of it), so
// a summary describes a part; Merge joins the parts into the trace's.
type TraceSummary struct {
	ID [16]byte `parquet:"id,zstd"`
	// Start is the earliest start of the spans, End their latest end.
	Start uint64 `parquet:"start,zstd"`
	End   uint64 `parquet:"end,zstd"`
	// Spans is how many spans the part has, Errors how many of them have
	// status error.
	Spans  uint32 `parquet:"spans,zstd"`
	Errors uint32 `parquet:"errors,zstd"`
	// Root is the span RootIndex picks among the part's spans.
	Root RootSpan `parquet:"root"`
}

// RootSpan is what a summary says of the root span of a trace, or of the
// part of a trace a block holds.
type RootSpan struct {
	// Parentless says the span has no parent: a true root. A part without
	// one names its earliest span, as a trace whose root has not arrived
	// does.
	Parentless bool    `parquet:"parentless"`
	Start      uint64  `parquet:"start,zstd"`
	SpanID     [8]byte `parquet:"span_id,zstd"`
	Name       string  `parquet:"name,dict,zstd"`
	// Service is the span's service_name search column: the resource's
	// service.name when that is a string, else empty.
	Service string `parquet:"service,optional,dict,zstd"`
}

// SummarizeTrace returns the summary of rows, the spans of one trace. It
// does not keep rows.
func SummarizeTrace(rows []SpanRow) TraceSummary {
	if len(rows) == 0 {
		return TraceSummary{}
	}
	s := TraceSummary{ID: rows[0].TraceID, Start: rows[0].StartUnixNano, Spans: uint32(len(rows))}
	for i := range rows {
		r := &rows[i]
		s.Start = min(s.Start, r.StartUnixNano)
		s.End = max(s.End, r.EndUnixNano())
		if r.StatusCode == int32(ptrace.StatusCodeError) {
			s.Errors++
		}
	}
	root := &rows[RootIndex(rows)]
	s.Root = RootSpan{
		Parentless: root.ParentSpanID == [8]byte{},
		Start:      root.StartUnixNano,
		SpanID:     root.SpanID,
		Name:       root.Name,
		Service:    root.ServiceName,
	}
	return s
}

// RootIndex returns the index in rows, the spans of one trace, of its root
// span: the earliest-starting span without a parent, or, in a trace whose
// root has not arrived, the earliest-starting span; among spans that start
// together, the lowest span ID. So the choice does not depend on the order
// of rows, and a trace and the summaries of its parts agree on it. It
// returns -1 for no rows.
func RootIndex(rows []SpanRow) int {
	best := -1
	for i := range rows {
		if best < 0 || rootBefore(&rows[i], &rows[best]) {
			best = i
		}
	}
	return best
}

// rootBefore reports whether a is a better root than b.
func rootBefore(a, b *SpanRow) bool {
	return RootSpan{Parentless: a.ParentSpanID == [8]byte{}, Start: a.StartUnixNano, SpanID: a.SpanID}.Before(
		RootSpan{Parentless: b.ParentSpanID == [8]byte{}, Start: b.StartUnixNano, SpanID: b.SpanID})
}

// Before reports whether r is a better root than o: parentless first, then
// the earlier start, then the lower span ID.
func (r RootSpan) Before(o RootSpan) bool {
	if r.Parentless != o.Parentless {
		return r.Parentless
	}
	if r.Start != o.Start {
		return r.Start < o.Start
	}
	return bytes.Compare(r.SpanID[:], o.SpanID[:]) < 0
}

// Merge adds the part o describes to the trace s describes: the summary of
// the union of their spans, as if a span both hold were held once.
// Spans and Errors count a span both hold twice, so they are upper bounds
// once parts overlap.
func (s *TraceSummary) Merge(o *TraceSummary) {
	s.Start, s.End = min(s.Start, o.Start), max(s.End, o.End)
	s.Spans += o.Spans
	s.Errors += o.Errors
	if o.Root.Before(s.Root) {
		s.Root = o.Root
	}
}
