package schema

import "bytes"

// Decoding a range of a record's spans straight into rows.
//
// A block-builder decodes a large block in parts, each a range of trace
// IDs (see ScanRecordSpans), so each record once per part it holds spans
// of. AppendRange decodes a record's spans of one range from its value as
// it is: it reads the spans' trace IDs ahead of each resource spans (or
// takes them, and how many each resource spans holds, from the caller's
// scan), leaves out the resources without spans in the range and the
// spans outside it, and decodes the rest as Append does. What it
// decodes, and where it fails, is what decoding
// spanFilter's copy of the range would give; a value its direct path does
// not read goes down that way, through the copy and Append.

// A SpanRange is the spans of a record's value that AppendRange decodes.
type SpanRange struct {
	// Lo and Hi are the lowest and highest trace IDs of the range.
	Lo, Hi [16]byte
	// First says no range of the value was decoded before: the value's
	// resources without spans are read too (they give no rows), so that
	// the ranges of a partition of the trace IDs, the first one with
	// First set, read every byte of a value once, and one of them fails
	// exactly when Append of the value fails.
	First bool
	// TraceIDs are the trace IDs of the value's spans in order, as
	// ScanRecordSpans reports them, which spares reading those of the
	// spans outside the range; nil reads them from the value.
	TraceIDs [][16]byte
	// ResourceSpans are, with TraceIDs, the number of spans of each of
	// the value's resource spans, in order, as ScanRecordSpans reports
	// them, which spares counting them in each resource spans ahead of
	// its decode; nil counts them. A resource spans without spans in the
	// range is then not read at all: where it does not read, the range
	// would not have read it either (spanFilter leaves it out).
	ResourceSpans []int32
}

// contains reports whether id lies in the range.
func (r *SpanRange) contains(id *[16]byte) bool {
	return bytes.Compare(id[:], r.Lo[:]) >= 0 && bytes.Compare(id[:], r.Hi[:]) <= 0
}

// AppendRange appends to rows one row per span of value, a record's
// value, whose trace ID lies in r: the rows Append gives of value, less
// those outside r. It fails, with rows returned as they were, where
// ScanRecordSpans fails on value, or where Append fails on value's spans
// in r, their resources and scopes, and, if r.First, on the rest of value
// but its other spans.
func (d *RowDecoder) AppendRange(rows []SpanRow, value []byte, r SpanRange) ([]SpanRow, error) {
	n := len(rows)
	d.rng = rangeRead{SpanRange: r, on: true, read: d.rng.read[:0]}
	out, ok := d.appendRangeWire(rows, value)
	d.rng.on = false
	if ok {
		return out, nil
	}
	clear(rows[n:cap(rows)])
	rows = rows[:n]
	filtered, err := d.filter.filter(value, r.Lo, r.Hi, r.First)
	if err != nil {
		return rows, err
	}
	return d.Append(rows, filtered)
}

// rangeRead is where AppendRange's direct path is in its value.
type rangeRead struct {
	SpanRange
	on bool
	// spans is how many spans of the value were planned, of how many
	// resource spans.
	spans, resourceSpans int
	// rs are the trace IDs of the spans of the resource spans being
	// decoded, next the next one's index.
	rs   [][16]byte
	next int
	read [][16]byte // the trace IDs read from the value, when not given
}

// appendRangeWire is AppendRange's direct path; ok false sends the value
// to spanFilter's copy.
func (d *RowDecoder) appendRangeWire(rows []SpanRow, value []byte) ([]SpanRow, bool) {
	ok := fieldsOf(value, requestField, func(f wireField) bool {
		decode, ok := d.rng.plan(f.val)
		if !ok || !decode {
			return ok
		}
		rows, ok = d.resourceSpans(rows, f.val)
		// Every span planned was decoded or passed over, as when
		// counted: a number given is checked where it matters.
		return ok && d.rng.next == len(d.rng.rs)
	})
	r := &d.rng
	return rows, ok && (r.TraceIDs == nil || r.spans == len(r.TraceIDs) &&
		(r.ResourceSpans == nil || r.resourceSpans == len(r.ResourceSpans)))
}

// plan reads the spans of msg, a ResourceSpans, ahead of its decode, and
// reports whether it is decoded: when one of its spans lies in the range,
// or, on the first range, when it holds none, as spanFilter keeps it.
func (r *rangeRead) plan(msg []byte) (decode, ok bool) {
	n, ok := r.count(msg)
	if !ok {
		return false, false
	}
	if r.TraceIDs == nil {
		r.rs = r.read
	} else if r.spans+n <= len(r.TraceIDs) {
		r.rs = r.TraceIDs[r.spans : r.spans+n]
	} else {
		return false, false
	}
	r.spans += n
	r.next = 0
	for i := range r.rs {
		if r.contains(&r.rs[i]) {
			return true, true
		}
	}
	return n == 0 && r.First, true
}

// count returns the number of spans of msg, a ResourceSpans, given or
// counted, their trace IDs read into r.read if not given.
func (r *rangeRead) count(msg []byte) (n int, ok bool) {
	if r.TraceIDs != nil && r.ResourceSpans != nil {
		if r.resourceSpans >= len(r.ResourceSpans) {
			return 0, false
		}
		r.resourceSpans++
		n = int(r.ResourceSpans[r.resourceSpans-1])
		return n, n >= 0
	}
	r.read = r.read[:0]
	ok = fieldsOf(msg, resourceSpansField, func(f wireField) bool {
		if f.num != rsScopeSpans {
			return true
		}
		return fieldsOf(f.val, scopeSpansField, func(f wireField) bool {
			if f.num != ssSpans {
				return true
			}
			n++
			if r.TraceIDs != nil {
				return true
			}
			id, err := spanTraceID(field{num: f.num, typ: f.typ, val: f.val})
			r.read = append(r.read, id)
			return err == nil
		})
	})
	return n, ok
}

// take returns the trace ID of the next span of the resource spans being
// decoded, and whether it lies in the range.
func (r *rangeRead) take() (id [16]byte, in, ok bool) {
	if r.next >= len(r.rs) {
		return id, false, false
	}
	id = r.rs[r.next]
	r.next++
	return id, r.contains(&id), true
}
