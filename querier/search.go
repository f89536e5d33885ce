package querier

import (
	"context"
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
}

// SearchResult is what Search found.
type SearchResult struct {
	Traces  []*TraceHit
	Metrics SearchMetrics
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
// The query is evaluated over each source's part of a trace, a block or
// the live tail, as a span can only be judged with its trace's other spans
// at hand: a trace whose spans are split across blocks is found when one
// part matches on its own, and structural conditions (>>, >) across the
// split are not seen until compaction merges the parts.
func (q *Querier) Search(ctx context.Context, tenants []string, req SearchRequest) (*SearchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, q.cfg.QueryTimeout)
	defer cancel()
	hits := newHitSet()
	read, err := q.scanTraces(ctx, tenants, req.Range, func(trace []schema.SpanRow) {
		hits.evaluateTrace(req, trace)
	})
	if err != nil {
		return nil, err
	}
	m := hits.metrics()
	m.TotalBlocks, m.TotalBlockBytes, m.InspectedBytes = read.blocks, read.blockBytes, read.blockBytes
	return &SearchResult{Traces: hits.top(req), Metrics: m}, nil
}
