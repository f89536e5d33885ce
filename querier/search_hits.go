package querier

import (
	"bytes"
	"cmp"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// TraceHit is a trace a search matched, in the terms of Tempo's response.
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

	hasRoot bool
	matched map[[8]byte]int // index in Spans
	counted map[[8]byte]struct{}
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

// hitSet gathers the hits of one search from every source.
type hitSet struct {
	mu        sync.Mutex
	byID      map[[16]byte]*TraceHit
	inspected SearchMetrics
}

func newHitSet() *hitSet { return &hitSet{byID: make(map[[16]byte]*TraceHit)} }

// evaluateTrace evaluates req over the rows of one trace from one source
// and records a match. The rows may be reused once it returns.
func (h *hitSet) evaluateTrace(req SearchRequest, trace []schema.SpanRow) {
	set, ok := req.Query.Evaluate(trace)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inspected.InspectedTraces++
	h.inspected.InspectedSpans += int64(len(trace))
	if !ok {
		return
	}
	hit := h.byID[trace[0].TraceID]
	if hit == nil {
		hit = &TraceHit{
			TraceID:       trace[0].TraceID,
			StartUnixNano: trace[0].StartUnixNano,
			ServiceStats:  make(map[string]*ServiceStats),
			matched:       make(map[[8]byte]int),
			counted:       make(map[[8]byte]struct{}),
		}
		h.byID[hit.TraceID] = hit
	}
	hit.merge(trace, set)
}

// metrics returns what the hit set inspected.
func (h *hitSet) metrics() SearchMetrics {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inspected
}

// merge adds one source's part of the trace and what the query selected
// from it. A span seen in two sources (the live tail and a block) counts
// once.
func (hit *TraceHit) merge(trace []schema.SpanRow, set traceql.SpanSet) {
	start, end := traceql.Bounds(trace)
	hit.StartUnixNano = min(hit.StartUnixNano, start)
	hit.EndUnixNano = max(hit.EndUnixNano, end)
	// The same root rule as TraceQL's rootName and rootServiceName; a part
	// without the real root names the trace only until the root shows up.
	if root := traceql.Root(trace); !hit.hasRoot {
		hit.hasRoot = root.ParentSpanID == [8]byte{}
		hit.RootServiceName, hit.RootTraceName = root.ServiceName, root.Name
	}
	for i := range trace {
		r := &trace[i]
		if _, dup := hit.counted[r.SpanID]; dup {
			continue
		}
		hit.counted[r.SpanID] = struct{}{}
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
	for _, s := range set.Spans {
		if _, dup := hit.matched[s.Row.SpanID]; dup {
			continue
		}
		hit.matched[s.Row.SpanID] = len(hit.Spans)
		hit.Spans = append(hit.Spans, MatchedSpan{
			SpanID:        s.Row.SpanID,
			Name:          s.Row.Name,
			StartUnixNano: s.Row.StartUnixNano,
			DurationNanos: s.Row.DurationNano,
			Attributes:    s.Attributes,
		})
	}
	if len(set.Attributes) > 0 {
		hit.Attributes = set.Attributes
	}
}

// DurationNanos is the trace's duration as far as the search saw it.
func (hit *TraceHit) DurationNanos() uint64 {
	return hit.EndUnixNano - min(hit.StartUnixNano, hit.EndUnixNano)
}

// top returns the hits that pass req's duration bounds, most recent first,
// at most req.Limit, each with its spans in start order.
func (h *hitSet) top(req SearchRequest) []*TraceHit {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*TraceHit, 0, len(h.byID))
	for _, hit := range h.byID {
		d := hit.DurationNanos()
		if (req.MinDuration > 0 && d < uint64(req.MinDuration)) || (req.MaxDuration > 0 && d > uint64(req.MaxDuration)) {
			continue
		}
		out = append(out, hit)
	}
	slices.SortFunc(out, func(a, b *TraceHit) int {
		if c := cmp.Compare(b.StartUnixNano, a.StartUnixNano); c != 0 {
			return c
		}
		return bytes.Compare(a.TraceID[:], b.TraceID[:])
	})
	if req.Limit > 0 && len(out) > req.Limit {
		out = out[:req.Limit]
	}
	for _, hit := range out {
		slices.SortFunc(hit.Spans, func(a, b MatchedSpan) int { return cmp.Compare(a.StartUnixNano, b.StartUnixNano) })
	}
	return out
}
