package producer

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spanlog/spanlog/schema"
)

// Splitting a request into records.
//
// Each record holds spans of one partition and keeps the request's
// resource/scope structure, so a resource shared by many traces is stored
// once per record, not once per trace. Records are filled trace by trace and
// a trace is never split. To know a record's size without encoding it again
// after each added trace, the encoded size is computed from the parts: a
// record's size is the sum of its resource entries, a resource entry's size
// is its fixed part (resource, schema URL) plus its scope entries, and so
// on down to the spans. Every entry is a length-prefixed field with a
// one-byte tag, so the sums are exact.

// layout is the index of a request that splitting works from.
type layout struct {
	// resourceFixed is, per ResourceSpans, the encoded size of everything
	// in it but its ScopeSpans.
	resourceFixed []int
	// scopeFixed is, per ScopeSpans numbered across the request, the
	// encoded size of everything in it but its spans.
	scopeFixed []int
	// scopeResource is the index of each ScopeSpans' ResourceSpans.
	scopeResource []int
	traces        []trace
	// spanTrace is the index in traces of each span, numbered across the
	// request.
	spanTrace []int32
	// size is the encoded size of the request, in bytes.
	size int
}

// trace is one trace's part of a request.
type trace struct {
	id        pcommon.TraceID
	partition int32
	// runs are the trace's spans per ScopeSpans, in request order.
	runs []scopeRun
	// record is the index of the record the trace goes to.
	record int
}

// scopeRun is the encoded size of a trace's spans in one ScopeSpans.
type scopeRun struct {
	scope int
	bytes int
}

// recordSize tracks the encoded size of a record being filled.
type recordSize struct {
	partition int32
	// scopeBytes and resourceBytes are the encoded size of the record's
	// spans per ScopeSpans and of its ScopeSpans per ResourceSpans; an
	// absent key means the record has none there.
	scopeBytes    map[int]int
	resourceBytes map[int]int
	total         int
}

// field is the encoded size of a length-prefixed field (tags of fields 1 to
// 15 take one byte) holding size bytes.
func field(size int) int { return 1 + protowire.SizeBytes(size) }

// nested is the encoded size of a message entry with fixed bytes of its own
// and children bytes of entries below it; an entry without children is left
// out of a record, so it costs nothing.
func nested(fixed, children int) int {
	if children == 0 {
		return 0
	}
	return field(fixed + children)
}

// indexRequest validates td's spans, groups them by trace and measures the
// parts of the request. On an invalid span it returns the first problem
// found, with the layout's size still set for metrics.
func indexRequest(td ptrace.Traces, tenant string, partitions int32) (*layout, error) {
	var m ptrace.ProtoMarshaler
	l := &layout{}
	byID := make(map[pcommon.TraceID]int32)
	var invalid *InvalidSpanError
	for i, rs := range td.ResourceSpans().All() {
		rsSize := m.ResourceSpansSize(rs)
		l.size += field(rsSize)
		resourceFixed := rsSize
		for j, ss := range rs.ScopeSpans().All() {
			ssSize := m.ScopeSpansSize(ss)
			resourceFixed -= field(ssSize)
			scope := len(l.scopeFixed)
			scopeFixed := ssSize
			for k, span := range ss.Spans().All() {
				size := field(m.SpanSize(span))
				scopeFixed -= size
				if problem := spanProblem(span); problem != "" {
					if invalid == nil {
						invalid = &InvalidSpanError{Resource: i, Scope: j, Span: k, Name: span.Name(),
							TraceID: span.TraceID(), SpanID: span.SpanID(), Problem: problem}
					}
					continue
				}
				id := span.TraceID()
				t, ok := byID[id]
				if !ok {
					t = int32(len(l.traces))
					byID[id] = t
					l.traces = append(l.traces, trace{id: id, partition: schema.Partition(tenant, id, partitions)})
				}
				l.traces[t].add(scope, size)
				l.spanTrace = append(l.spanTrace, t)
			}
			l.scopeFixed = append(l.scopeFixed, scopeFixed)
			l.scopeResource = append(l.scopeResource, i)
		}
		l.resourceFixed = append(l.resourceFixed, resourceFixed)
	}
	if invalid != nil {
		return l, invalid
	}
	return l, nil
}

func (t *trace) add(scope, bytes int) {
	if n := len(t.runs); n > 0 && t.runs[n-1].scope == scope {
		t.runs[n-1].bytes += bytes
		return
	}
	t.runs = append(t.runs, scopeRun{scope: scope, bytes: bytes})
}

// assign puts every trace in a record of its partition, opening a new
// record when the current one would exceed maxValue bytes, and returns the
// records. A trace that does not fit in an empty record fails the whole
// request, before anything is written; framing is what a record adds to
// its value, for the error message.
func (l *layout) assign(maxValue, framing int) ([]recordSize, error) {
	for i := range l.traces {
		t := &l.traces[i]
		if size := l.grow(&recordSize{}, t, false); size > maxValue {
			return nil, &TraceTooLargeError{TraceID: t.id, Size: size + framing, Limit: maxValue + framing}
		}
	}
	var records []recordSize
	open := make(map[int32]int) // partition -> index of its record being filled
	for i := range l.traces {
		t := &l.traces[i]
		r, ok := open[t.partition]
		if !ok || l.grow(&records[r], t, false) > maxValue {
			r = len(records)
			open[t.partition] = r
			records = append(records, recordSize{partition: t.partition, scopeBytes: map[int]int{}, resourceBytes: map[int]int{}})
		}
		l.grow(&records[r], t, true)
		t.record = r
	}
	return records, nil
}

// grow returns the encoded size r would have with t's spans added, and adds
// them if apply is set.
func (l *layout) grow(r *recordSize, t *trace, apply bool) int {
	total := r.total
	for i := 0; i < len(t.runs); {
		res := l.scopeResource[t.runs[i].scope]
		before := r.resourceBytes[res]
		after := before
		for ; i < len(t.runs) && l.scopeResource[t.runs[i].scope] == res; i++ {
			run := t.runs[i]
			fixed, old := l.scopeFixed[run.scope], r.scopeBytes[run.scope]
			after += nested(fixed, old+run.bytes) - nested(fixed, old)
			if apply {
				r.scopeBytes[run.scope] = old + run.bytes
			}
		}
		fixed := l.resourceFixed[res]
		total += nested(fixed, after) - nested(fixed, before)
		if apply {
			r.resourceBytes[res] = after
		}
	}
	if apply {
		r.total = total
	}
	return total
}

// build moves td's spans into one ptrace.Traces per record, keeping the
// order of the request; resources and scopes, shared between records, are
// copied.
func (l *layout) build(td ptrace.Traces, records []recordSize) []ptrace.Traces {
	type cursor struct {
		out             ptrace.Traces
		resource, scope int
		rs              ptrace.ResourceSpans
		ss              ptrace.ScopeSpans
	}
	cursors := make([]cursor, len(records))
	for i := range cursors {
		cursors[i] = cursor{out: ptrace.NewTraces(), resource: -1, scope: -1}
	}
	span, scope := 0, 0
	for i, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				c := &cursors[l.traces[l.spanTrace[span]].record]
				if c.resource != i {
					c.resource = i
					c.rs = c.out.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(c.rs.Resource())
					c.rs.SetSchemaUrl(rs.SchemaUrl())
				}
				if c.scope != scope {
					c.scope = scope
					c.ss = c.rs.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(c.ss.Scope())
					c.ss.SetSchemaUrl(ss.SchemaUrl())
				}
				s.MoveTo(c.ss.Spans().AppendEmpty())
				span++
			}
			scope++
		}
	}
	out := make([]ptrace.Traces, len(cursors))
	for i, c := range cursors {
		out[i] = c.out
	}
	return out
}
