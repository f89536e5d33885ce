package querier

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"slices"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// part is what phase 1 of a search learns of a trace from one source (a
// block, or the live tail): the summary of the trace's spans there, and
// whether one of them may pass the scan's span filter (matched), or
// certainly does (verified). The two differ only for a block's parts in a
// lazy search, which does not scan the filter's columns up front.
type part struct {
	schema.TraceSummary
	matched, verified bool
}

// partsPlan says what phase 1 reads of each source.
type partsPlan struct {
	// filter is the span filter; nil passes every span.
	filter *candidateFilter
	// traceConds are the query's conditions on the whole trace (its root,
	// its duration), which only the summaries of all its parts together
	// can judge.
	traceConds []traceql.Condition
	// fields are the fields of the summaries the trace-level conditions
	// read.
	fields block.SummaryFields
	// key names the query in the search cache: the canonical TraceQL
	// the filter and the trace-level conditions come from.
	key string
	// lazy says the blocks' spans are not scanned for the span filter up
	// front: every trace whose summary passes is a candidate, and phase 2
	// judges them, most recent first, until the limit is reached, or until
	// the share that match says a scan costs less (see tenantScan.narrow).
	// A search with a limit whose query matches many traces reads a few of
	// them instead of a column of every block.
	lazy bool
}

func newPartsPlan(q *traceql.Query) partsPlan {
	if q == nil {
		return partsPlan{}
	}
	p := partsPlan{filter: newCandidateFilter(q), key: q.String()}
	for _, c := range q.Conditions() {
		if !c.WholeTrace() {
			continue
		}
		p.traceConds = append(p.traceConds, c)
		if c.Field.Intrinsic == traceql.IntrinsicTraceDuration {
			p.fields |= block.SummaryEnd
		} else {
			p.fields |= block.SummaryRoot
		}
	}
	return p
}

// everyPart says whether phase 1 needs the parts of traces none of whose
// spans in that source passes the filter: to judge the trace-level
// conditions of a trace matched in another source, all its parts count.
func (p partsPlan) everyPart() bool { return len(p.traceConds) > 0 }

// summaryParts returns a part for each trace the block r reads holds, in
// trace ID order, with the summary fields p's trace-level conditions
// read. Each is matched, as the parts of a search without a span filter,
// or of a lazy one, are: candidateOf knows which of the two it is.
func (p partsPlan) summaryParts(ctx context.Context, r *block.Reader, traces int64) ([]part, error) {
	out := make([]part, 0, traces)
	err := r.Summaries(ctx, p.fields, func(s schema.TraceSummary) error {
		out = append(out, part{TraceSummary: s, matched: true})
		return nil
	})
	return out, err
}

// tracesWhere returns, in trace ID order, the parts of the traces of the
// block r reads with a span that passes the filter, each with the start
// of its summary in summaries (the block's), when the filter's conditions
// are all tests of single columns and the block stores its summaries; ok
// is false otherwise, and nothing is read.
func (p partsPlan) tracesWhere(ctx context.Context, r *block.Reader, summaries *partList) (out []part, ok bool, err error) {
	tests, rest, _ := p.filter.rowTests()
	if rest != 0 || len(tests) == 0 {
		return nil, false, nil
	}
	next := 0
	ok, err = r.TracesWhere(ctx, tests, p.filter.rulesOut, func(id [16]byte) error {
		next = summaryOf(summaries, next, id)
		if next == summaries.len() || summaries.id(next) != id {
			return fmt.Errorf("trace %x has no summary", id)
		}
		out = append(out, part{TraceSummary: schema.TraceSummary{ID: id, Start: summaries.start(next)}, matched: true, verified: true})
		return nil
	})
	return out, ok, err
}

// summaryOf returns the index of the first of summaries from from on
// whose ID is not below id.
func summaryOf(summaries *partList, from int, id [16]byte) int {
	for from < summaries.len() {
		if s := summaries.id(from); bytes.Compare(s[:], id[:]) >= 0 {
			break
		}
		from++
	}
	return from
}

// startsFromSummaries sets the start of each of matched to its
// summary's, the earliest of all the trace's spans in the block, which is
// never later. Both are in trace ID order.
func startsFromSummaries(matched []part, summaries *partList) {
	next := 0
	for i := range matched {
		next = summaryOf(summaries, next, matched[i].ID)
		if next < summaries.len() && summaries.id(next) == matched[i].ID {
			matched[i].Start = min(matched[i].Start, summaries.start(next))
		}
	}
}

// joinParts returns the parts of an eager search with trace-level
// conditions, which needs every part: each summary, matched and verified
// if its trace is in matched. Both are in trace ID order.
func joinParts(summaries, matched []part) []part {
	out := make([]part, 0, len(summaries))
	for _, s := range summaries {
		pt := part{TraceSummary: s.TraceSummary}
		for len(matched) > 0 && bytes.Compare(matched[0].ID[:], s.ID[:]) < 0 {
			matched = matched[1:]
		}
		if len(matched) > 0 && matched[0].ID == s.ID {
			pt.matched, pt.verified, matched = true, true, matched[1:]
		}
		out = append(out, pt)
	}
	return out
}

// matchedParts returns, in trace ID order, the traces of the block with a
// span that passes the filter, reading only the columns the filter needs,
// and its attribute lists only of the spans that pass its conditions on
// other columns. Each part's start is the earliest of its spans read, an
// upper bound of the trace's; nothing else of the summary is filled in.
func (p partsPlan) matchedParts(ctx context.Context, r *block.Reader) ([]part, error) {
	var (
		out     []part
		current part
	)
	flush := func() {
		if current.matched {
			current.verified = true
			// Spans only told the trace's first row: a bare part.
			current.Spans = 0
			out = append(out, current)
		}
	}
	f := p.filter
	// The conditions on single columns are tested first, a column at a
	// time; the attribute lists, and the trace ID and start, are read
	// only of the spans that pass them.
	tests, cols, matches := f.rowTests()
	opts := block.ScanOptions{Columns: cols, AttributeKeys: f.keys, Skip: f.rulesOut, Where: tests, Transient: true}
	err := r.Scan(ctx, opts, func(row *schema.SpanRow) error {
		if row.TraceID != current.ID || current.Spans == 0 {
			flush()
			current = part{TraceSummary: schema.TraceSummary{ID: row.TraceID, Start: row.StartUnixNano}}
		}
		current.Spans++
		current.Start = min(current.Start, row.StartUnixNano)
		current.matched = current.matched || matches(row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	flush()
	return out, nil
}

// mergeParts joins the parts of each trace from sources, each in trace ID
// order, and calls emit with every trace's summary over all its parts
// (see schema.TraceSummary.Merge) and whether any part matched. It reads
// each source once, holding one part of each.
func mergeParts(sources [][]part, emit func(p part)) {
	h := make(partHeap, 0, len(sources))
	for _, s := range sources {
		if len(s) > 0 {
			h = append(h, s)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		merged := h[0][0]
		h.advance()
		for len(h) > 0 && h[0][0].ID == merged.ID {
			merged.Merge(&h[0][0].TraceSummary)
			merged.matched = merged.matched || h[0][0].matched
			merged.verified = merged.verified || h[0][0].verified
			h.advance()
		}
		emit(merged)
	}
}

// partHeap holds sources by the trace ID of their next part.
type partHeap [][]part

func (h partHeap) Len() int { return len(h) }
func (h partHeap) Less(i, j int) bool {
	return bytes.Compare(h[i][0].ID[:], h[j][0].ID[:]) < 0
}
func (h partHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *partHeap) Push(x any)   { *h = append(*h, x.([]part)) }
func (h *partHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// advance moves the first source past its next part.
func (h *partHeap) advance() {
	if (*h)[0] = (*h)[0][1:]; len((*h)[0]) == 0 {
		heap.Pop(h)
		return
	}
	heap.Fix(h, 0)
}

// candidateOf returns the candidate of a trace whose parts merged into p,
// and false when the trace cannot match: no span of it passes the filter,
// or its summary fails a trace-level condition.
func (p partsPlan) candidateOf(merged part) (candidate, bool) {
	if !merged.matched {
		return candidate{}, false
	}
	facts := traceql.TraceFacts{
		Start: merged.Start, End: merged.End,
		RootName: merged.Root.Name, RootService: merged.Root.Service,
	}
	for _, c := range p.traceConds {
		if !c.MayMatchTrace(facts) {
			return candidate{}, false
		}
	}
	return candidate{id: merged.ID, start: merged.Start, verified: merged.verified || p.filter == nil}, true
}

// candidateQueue hands out candidates most recent first. It orders them
// as they are taken, not all at once: a search with a limit takes few.
type candidateQueue []candidate

func newCandidateQueue(cands []candidate) *candidateQueue {
	q := candidateQueue(cands)
	heap.Init(&q)
	return &q
}

func (q candidateQueue) Len() int { return len(q) }
func (q candidateQueue) Less(i, j int) bool {
	if q[i].start != q[j].start {
		return q[i].start > q[j].start
	}
	// An unread block before candidates of equal start: the order is
	// the same whatever the order blocks were read in.
	if (q[i].block == nil) != (q[j].block == nil) {
		return q[i].block != nil
	}
	return bytes.Compare(q[i].id[:], q[j].id[:]) < 0
}
func (q candidateQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *candidateQueue) Push(x any)   { *q = append(*q, x.(candidate)) }
func (q *candidateQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// keep drops the candidates keep rejects.
func (q *candidateQueue) keep(keep func(candidate) bool) {
	*q = slices.DeleteFunc(*q, func(c candidate) bool { return !keep(c) })
	heap.Init(q)
}

// peek returns the most recent candidate left; ok is false when none is.
func (q *candidateQueue) peek() (c candidate, ok bool) {
	if len(*q) == 0 {
		return c, false
	}
	return (*q)[0], true
}

// push adds candidates: one by one into a large queue, all at once and
// reordered into a small one, whichever costs less.
func (q *candidateQueue) push(cands ...candidate) {
	if len(cands) < len(*q)/8 {
		for _, c := range cands {
			heap.Push(q, c)
		}
		return
	}
	*q = append(*q, cands...)
	heap.Init(q)
}

// take removes and returns up to n of the most recent candidates, most
// recent first, up to the first unread block.
func (q *candidateQueue) take(n int) []candidate {
	out := make([]candidate, 0, min(n, len(*q)))
	for len(out) < n && len(*q) > 0 && (*q)[0].block == nil {
		out = append(out, heap.Pop(q).(candidate))
	}
	return slices.Clip(out)
}

// takeBlocks removes and returns the unread block at the front of the
// queue, with those after it that overlap its time range, up to n in all,
// most recent first: blocks of one time cut across partitions, likely to
// be needed together, are read at once, older ones only once they come
// up.
func (q *candidateQueue) takeBlocks(n int) []candidate {
	var out []candidate
	for len(out) < n && len(*q) > 0 && (*q)[0].block != nil {
		if len(out) > 0 && (*q)[0].block.MaxEnd.Before(out[0].block.MinStart) {
			break
		}
		out = append(out, heap.Pop(q).(candidate))
	}
	return out
}
