package querier

import (
	"context"
	"time"

	"github.com/spanlog/spanlog/querier/traceql"
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
		visit:   hits.evaluateTrace,
	}
	if req.Limit > 0 {
		s.floor, s.limit = hits.floor, req.Limit
	}
	read, err := q.scanTraces(ctx, s)
	if err != nil {
		return nil, err
	}
	m := hits.metrics()
	m.TotalBlocks, m.TotalBlockBytes, m.InspectedBytes = read.blocks, read.blockBytes, read.blockBytes
	return &SearchResult{Traces: hits.top(), Metrics: m, Partial: read.partial}, nil
}
