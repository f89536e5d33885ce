package traceql

import "github.com/spanlog/spanlog/schema"

// SpanSet is what a query selects from one trace: the shape of an entry of
// spanSets in Tempo's search response.
type SpanSet struct {
	// Spans are the matched spans in the order of the trace's rows. Tempo's
	// "matched" is len(Spans); a response lists only the first few.
	Spans []Span
	// Attributes holds the values of the pipeline's aggregates, keyed as
	// written in canonical form: "count()", "avg(span:duration)".
	Attributes []KeyValue
}

// Span is one matched span.
type Span struct {
	// Row points into the trace passed to Evaluate.
	Row *schema.SpanRow
	// Attributes holds the values of the fields of select() that the span
	// has, in the order selected, keyed by the field in canonical form
	// ("span.http.url", "span:duration").
	Attributes []KeyValue
}

// KeyValue is a named value in a SpanSet.
type KeyValue struct {
	Key   string
	Value Value
}

// evaluation is the scratch state of evaluating a query over one trace.
// Queries keep evaluations in a pool, so that evaluating trace after trace
// reuses their buffers.
type evaluation struct {
	trace []schema.SpanRow
	info  traceInfo
	// words holds one bitset per spanset node, stride words each.
	words  []uint64
	stride int
	tree   tree
	// indexes and groups are the pipeline's scratch.
	indexes []int32
	groups  []group
}

// Evaluate runs the query over one trace: all rows of one trace ID, in any
// order. It returns the selected spansets, or false when the trace does
// not match: one spanset, or several once by() splits it, none of them
// empty. Once its reused buffers have grown to the size of the traces,
// Evaluate allocates only for the result of a matching trace, and for
// by(). It is safe to call concurrently.
func (q *Query) Evaluate(trace []schema.SpanRow) ([]SpanSet, bool) {
	if len(trace) == 0 {
		return nil, false
	}
	ev, _ := q.scratch.Get().(*evaluation)
	if ev == nil {
		ev = &evaluation{}
	}
	defer func() {
		ev.trace, ev.info = nil, traceInfo{}
		q.scratch.Put(ev)
	}()
	ev.reset(q, trace)
	matched := ev.spanset(q.spansets)
	if matched.empty() {
		return nil, false
	}
	return ev.pipeline(q, matched)
}

func (ev *evaluation) reset(q *Query, trace []schema.SpanRow) {
	ev.trace = trace
	ev.stride = wordsFor(len(trace))
	n := q.sets * ev.stride
	if cap(ev.words) < n {
		ev.words = make([]uint64, n)
	}
	ev.words = ev.words[:n]
	if q.needsTrace {
		ev.info = newTraceInfo(trace)
	}
	if q.needsTree {
		ev.tree.build(trace)
	}
	if q.needsNestedSet {
		ev.tree.number(trace)
		ev.info.tree = &ev.tree
	}
}

// set returns the cleared bitset of a spanset node.
func (ev *evaluation) set(slot int) bitset {
	b := bitset(ev.words[slot*ev.stride : (slot+1)*ev.stride])
	clear(b)
	return b
}

// spanset evaluates a spanset node. A binary operator whose left side is
// empty cannot select anything, and skips its right side.
func (ev *evaluation) spanset(e spansetExpr) bitset {
	out := ev.set(e.slot())
	switch e := e.(type) {
	case *spansetFilter:
		for i := range ev.trace {
			ev.info.span = i
			if e.cond == nil || matchesSpan(e.cond, e.elems, &ev.trace[i], &ev.info) {
				out.add(i)
			}
		}
	case *spansetOp:
		lhs := ev.spanset(e.lhs)
		if lhs.empty() && e.op != spansetOr && e.mode != modeNot {
			return out
		}
		rhs := ev.spanset(e.rhs)
		switch e.op {
		case spansetOr:
			out.union(lhs, rhs)
		case spansetAnd:
			if !rhs.empty() {
				out.union(lhs, rhs)
			}
		case spansetStructural:
			ev.structural(e, out, lhs, rhs)
		}
	}
	return out
}

// structural sets out to what a structural operator keeps of lhs and rhs.
func (ev *evaluation) structural(e *spansetOp, out, lhs, rhs bitset) {
	if rhs.empty() {
		return
	}
	ev.tree.relate(e.rel, out, lhs, rhs)
	switch e.mode {
	case modeNot:
		out.complement(rhs)
	case modeUnion:
		if !out.empty() {
			ev.tree.relate(e.rel.inverse(), out, rhs, lhs)
		}
	}
}
