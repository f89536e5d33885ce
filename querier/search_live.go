package querier

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// liveCandidates is the kind of live request that asks an owner for the
// search candidates of its tail: the ID and start of each trace whose part
// in the tail has a span that passes the query's filter. Only their IDs
// travel between queriers.
const liveCandidates = "candidates"

// candidatesArgs are the arguments of a request for candidates.
type candidatesArgs struct {
	// Query is TraceQL; empty makes every trace a candidate.
	Query string `json:"query,omitempty"`
}

// candidateJSON is a candidate on the wire between queriers.
type candidateJSON struct {
	ID    string `json:"id"`
	Start uint64 `json:"start,string"`
}

// digestCandidates is the digester of liveCandidates: each tenant's
// candidates among the spans of a slice.
func digestCandidates(args json.RawMessage) (func(live.Slice) any, error) {
	var a candidatesArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, fmt.Errorf("live request candidates: %w", err)
	}
	var filter *candidateFilter
	if a.Query != "" {
		query, err := traceql.Parse(a.Query)
		if err != nil {
			return nil, fmt.Errorf("live request query: %w", err)
		}
		filter = newCandidateFilter(query)
	}
	return func(s live.Slice) any { return sliceCandidates(s, filter) }, nil
}

// sliceCandidates returns each tenant's traces in s with a span that
// passes filter (every trace when nil), and their starts.
func sliceCandidates(s live.Slice, filter *candidateFilter) map[string][]candidateJSON {
	out := make(map[string][]candidateJSON, len(s.Traces))
	for tenant, parts := range s.Traces {
		var rows []schema.SpanRow
		for _, td := range parts {
			rows = schema.AppendRows(rows, td)
		}
		eachTrace(rows, func(trace []schema.SpanRow) {
			if filter == nil || filter.anyMatches(trace) {
				start, _ := traceql.Bounds(trace)
				out[tenant] = append(out[tenant], candidateJSON{ID: hex.EncodeToString(trace[0].TraceID[:]), Start: start})
			}
		})
	}
	return out
}

// eachTrace sorts rows by trace ID and calls fn with each trace's rows.
func eachTrace(rows []schema.SpanRow, fn func([]schema.SpanRow)) {
	slices.SortFunc(rows, func(a, b schema.SpanRow) int { return slices.Compare(a.TraceID[:], b.TraceID[:]) })
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && rows[end].TraceID == rows[start].TraceID {
			end++
		}
		fn(rows[start:end])
		start = end
	}
}
