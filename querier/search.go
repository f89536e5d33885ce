package querier

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// SearchRequest is a search over one or more tenants' traces.
type SearchRequest struct {
	Query *traceql.Query
	// Limit caps the traces returned, most recent first.
	Limit int
	// SpansPerSpanSet caps the spans listed per spanset (spss).
	SpansPerSpanSet int
	// Range limits the blocks read; a zero bound is open.
	Range TimeRange
	// MinDuration and MaxDuration filter traces by duration; zero is open.
	MinDuration, MaxDuration time.Duration
	// Found, if not nil, is called with hits before the search ends, as
	// soon as they are certain: each is a trace of the answer, whole,
	// that no trace still unread can precede. So the hits of all calls
	// are a prefix of the answer's, in its order, each once; the rest
	// comes with the answer. Only a search of one tenant calls it: one of
	// several learns of each tenant's traces in turn. Its error ends the
	// search. It is called from the search's goroutine, and may keep the
	// hits.
	Found func([]*TraceHit) error
}

// SearchResult is what Search found.
type SearchResult struct {
	Traces  []*TraceHit
	Metrics SearchMetrics
	// Partial says why matching traces, or spans of them, may be
	// missing, if they may.
	Partial Partial
}

// SearchMetrics say how much was read.
type SearchMetrics struct {
	InspectedTraces, InspectedSpans, InspectedBytes int64
	TotalBlocks, TotalBlockBytes                    int64
}

// Search evaluates req.Query over the tenants' traces in the live tail and
// in the blocks overlapping req.Range, and returns the matching traces,
// most recent first.
//
// The query is evaluated once over each whole trace: all of its spans in
// the live tail and in those blocks, wherever a block cut split it (see
// scanTraces). So the answer, and every field of a hit, is that of the
// whole trace. Only the traces with a span that passes one of the query's
// filters (its candidates) are read whole; and once req.Limit hits are
// certain, what starts before all of them is left unread.
func (q *Querier) Search(ctx context.Context, tenants []string, req SearchRequest) (*SearchResult, error) {
	hits := newHitSet(req)
	s := traceScan{
		tenants: tenants,
		tr:      req.Range,
		query:   req.Query,
		columns: hitColumns(req.Query),
		keys:    hitKeys(req.Query),
		visit:   hits.evaluateTrace,
	}
	if req.Found != nil && len(tenants) == 1 {
		s.settled = hits.settle
	}
	if req.Limit > 0 {
		s.floor, s.limit = hits.floor, req.Limit
	}
	read, err := q.scanTraces(ctx, s)
	if err != nil {
		return nil, err
	}
	m := hits.metrics()
	m.TotalBlocks, m.TotalBlockBytes, m.InspectedBytes = read.blocks, read.blockBytes, read.readBytes
	return &SearchResult{Traces: hits.top(), Metrics: m, Partial: read.partial}, nil
}

// hitSet gathers the hits of one search. It keeps the starts of the best
// req.Limit hits so far, most recent first, so that a scan can leave out
// what could not make the answer any more.
type hitSet struct {
	req       SearchRequest
	mu        sync.Mutex
	byID      map[[16]byte]*TraceHit
	best      startHeap
	inspected SearchMetrics
	// found is how many of the answer's first hits went to req.Found.
	found int
}

func newHitSet(req SearchRequest) *hitSet {
	return &hitSet{req: req, byID: make(map[[16]byte]*TraceHit)}
}

// evaluateTrace evaluates the query over one whole trace, each span once,
// and records a match that passes the duration bounds, reporting whether
// it did. The rows may be reused once it returns.
func (h *hitSet) evaluateTrace(trace []schema.SpanRow) bool {
	sets, ok := h.req.Query.Evaluate(trace)
	var hit *TraceHit
	if ok {
		hit = newTraceHit(trace, sets)
		d := hit.DurationNanos()
		if (h.req.MinDuration > 0 && d < uint64(h.req.MinDuration)) || (h.req.MaxDuration > 0 && d > uint64(h.req.MaxDuration)) {
			hit = nil
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inspected.InspectedTraces++
	h.inspected.InspectedSpans += int64(len(trace))
	if hit == nil {
		return false
	}
	h.byID[hit.TraceID] = hit
	if h.req.Limit > 0 {
		h.best.add(hit.StartUnixNano, h.req.Limit)
	}
	return true
}

// floor returns the start of the last of the best req.Limit hits once
// there are that many: a trace that starts earlier cannot be among them.
func (h *hitSet) floor() (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.req.Limit <= 0 || len(h.best) < h.req.Limit {
		return 0, false
	}
	return h.best[0], true
}

// metrics returns what the hit set inspected.
func (h *hitSet) metrics() SearchMetrics {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inspected
}

// top returns the hits, most recent first, at most req.Limit, each with
// its spans in start order.
func (h *hitSet) top() []*TraceHit {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ranked()
}

// ranked is top, with h.mu held.
func (h *hitSet) ranked() []*TraceHit {
	out := make([]*TraceHit, 0, len(h.byID))
	for _, hit := range h.byID {
		out = append(out, hit)
	}
	slices.SortFunc(out, func(a, b *TraceHit) int {
		if c := cmp.Compare(b.StartUnixNano, a.StartUnixNano); c != 0 {
			return c
		}
		return bytes.Compare(a.TraceID[:], b.TraceID[:])
	})
	if h.req.Limit > 0 && len(out) > h.req.Limit {
		out = out[:h.req.Limit]
	}
	for _, hit := range out {
		for _, set := range hit.SpanSets {
			slices.SortFunc(set.Spans, func(a, b MatchedSpan) int { return cmp.Compare(a.StartUnixNano, b.StartUnixNano) })
		}
	}
	return out
}

// settle passes to req.Found the hits that have become certain now that
// every trace still unread starts at bound at the latest: those among
// the best req.Limit that start after it, which none of those traces can
// precede, and that were not passed yet. Being sorted, they follow the
// ones passed before.
func (h *hitSet) settle(bound uint64) error {
	h.mu.Lock()
	ranked := h.ranked()
	end := h.found
	for end < len(ranked) && ranked[end].StartUnixNano > bound {
		end++
	}
	certain := ranked[h.found:end]
	h.found = end
	h.mu.Unlock()
	if len(certain) == 0 {
		return nil
	}
	return h.req.Found(certain)
}

// startHeap is a min-heap of trace starts.
type startHeap []uint64

// add adds start, keeping only the n largest.
func (h *startHeap) add(start uint64, n int) {
	if len(*h) < n {
		heap.Push(h, start)
		return
	}
	if start > (*h)[0] {
		(*h)[0] = start
		heap.Fix(h, 0)
	}
}

func (h startHeap) Len() int           { return len(h) }
func (h startHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h startHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *startHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *startHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
