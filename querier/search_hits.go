package querier

import (
	"bytes"
	"cmp"
	"container/heap"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// TraceHit is a trace a search matched, in the terms of Tempo's response.
// Every field is of the whole trace.
type TraceHit struct {
	TraceID         [16]byte
	RootServiceName string
	RootTraceName   string
	StartUnixNano   uint64
	EndUnixNano     uint64
	// Spans are the matched spans, each once, earliest first.
	Spans []MatchedSpan
	// Attributes are the query's aggregates (count(), avg(...)).
	Attributes   []traceql.KeyValue
	ServiceStats map[string]*ServiceStats
}

// MatchedSpan is one span of a spanset.
type MatchedSpan struct {
	SpanID        [8]byte
	Name          string
	StartUnixNano uint64
	DurationNanos int64
	// Attributes are the values select() asked for.
	Attributes []traceql.KeyValue
}

// ServiceStats counts a trace's spans of one service.
type ServiceStats struct {
	SpanCount, ErrorCount int
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
}

func newHitSet(req SearchRequest) *hitSet {
	return &hitSet{req: req, byID: make(map[[16]byte]*TraceHit)}
}

// evaluateTrace evaluates the query over one whole trace, each span once,
// and records a match that passes the duration bounds. The rows may be
// reused once it returns.
func (h *hitSet) evaluateTrace(trace []schema.SpanRow) {
	set, ok := h.req.Query.Evaluate(trace)
	var hit *TraceHit
	if ok {
		hit = newTraceHit(trace, set)
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
		return
	}
	h.byID[hit.TraceID] = hit
	if h.req.Limit > 0 {
		h.best.add(hit.StartUnixNano, h.req.Limit)
	}
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

// newTraceHit describes a whole trace and what the query selected of it.
func newTraceHit(trace []schema.SpanRow, set traceql.SpanSet) *TraceHit {
	hit := &TraceHit{
		TraceID:      trace[0].TraceID,
		ServiceStats: make(map[string]*ServiceStats),
		Attributes:   set.Attributes,
	}
	hit.StartUnixNano, hit.EndUnixNano = traceql.Bounds(trace)
	// The same root rule as TraceQL's rootName and rootServiceName.
	root := traceql.Root(trace)
	hit.RootServiceName, hit.RootTraceName = root.ServiceName, root.Name
	for i := range trace {
		r := &trace[i]
		st := hit.ServiceStats[r.ServiceName]
		if st == nil {
			st = &ServiceStats{}
			hit.ServiceStats[r.ServiceName] = st
		}
		st.SpanCount++
		if r.StatusCode == int32(ptrace.StatusCodeError) {
			st.ErrorCount++
		}
	}
	hit.Spans = make([]MatchedSpan, len(set.Spans))
	for i, s := range set.Spans {
		hit.Spans[i] = MatchedSpan{
			SpanID:        s.Row.SpanID,
			Name:          s.Row.Name,
			StartUnixNano: s.Row.StartUnixNano,
			DurationNanos: s.Row.DurationNano,
			Attributes:    s.Attributes,
		}
	}
	return hit
}

// DurationNanos is the trace's duration.
func (hit *TraceHit) DurationNanos() uint64 {
	return hit.EndUnixNano - min(hit.StartUnixNano, hit.EndUnixNano)
}

// top returns the hits, most recent first, at most req.Limit, each with
// its spans in start order.
func (h *hitSet) top() []*TraceHit {
	h.mu.Lock()
	defer h.mu.Unlock()
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
		slices.SortFunc(hit.Spans, func(a, b MatchedSpan) int { return cmp.Compare(a.StartUnixNano, b.StartUnixNano) })
	}
	return out
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
