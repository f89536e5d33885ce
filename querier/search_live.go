package querier

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// liveCandidates is the kind of live request that asks an owner for what
// phase 1 of a search needs of its tail: the summary of each trace's part
// in the tail that has a span passing the query's filter, or of every
// part when the query has trace-level conditions (see partsPlan). Only
// summaries travel between queriers, never spans.
const liveCandidates = "candidates"

// candidatesArgs are the arguments of a request for candidates.
type candidatesArgs struct {
	// Query is TraceQL; empty makes every trace a candidate.
	Query string `json:"query,omitempty"`
}

// partJSON is a part on the wire between queriers.
type partJSON struct {
	ID      string   `json:"id"`
	Start   uint64   `json:"start,string"`
	End     uint64   `json:"end,string"`
	Spans   uint32   `json:"spans"`
	Errors  uint32   `json:"errors,omitempty"`
	Matched bool     `json:"matched,omitempty"`
	Root    rootJSON `json:"root"`
}

type rootJSON struct {
	Parentless bool   `json:"parentless,omitempty"`
	Start      uint64 `json:"start,string"`
	SpanID     string `json:"spanID"`
	Name       string `json:"name"`
	Service    string `json:"service,omitempty"`
}

// digestCandidates is the digester of liveCandidates: each tenant's parts
// among the spans of a slice.
func digestCandidates(args json.RawMessage) (func(live.Slice) (any, error), error) {
	var a candidatesArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, fmt.Errorf("live request candidates: %w", err)
	}
	var plan partsPlan
	if a.Query != "" {
		query, err := traceql.Parse(a.Query)
		if err != nil {
			return nil, fmt.Errorf("live request query: %w", err)
		}
		plan = newPartsPlan(query)
	}
	return func(s live.Slice) (any, error) { return sliceParts(s, plan) }, nil
}

// sliceParts returns the parts of each tenant's traces in s that plan
// needs.
func sliceParts(s live.Slice, plan partsPlan) (map[string][]partJSON, error) {
	tenants := s.Tenants()
	out := make(map[string][]partJSON, len(tenants))
	for _, tenant := range tenants {
		if plan.filter == nil {
			// Every trace is a candidate, judged by its summary.
			for _, sum := range s.Summaries(tenant) {
				out[tenant] = append(out[tenant], partOf(sum, true))
			}
			continue
		}
		var rows []schema.SpanRow
		if err := s.Decode(tenant, func(td ptrace.Traces) { rows = schema.AppendRows(rows, td) }); err != nil {
			return nil, err
		}
		eachTrace(rows, func(trace []schema.SpanRow) {
			matched := plan.filter.anyMatches(trace)
			if !matched && !plan.everyPart() {
				return
			}
			out[tenant] = append(out[tenant], partOf(schema.SummarizeTrace(trace), matched))
		})
	}
	return out, nil
}

// partOf is the part sum describes on the wire.
func partOf(sum schema.TraceSummary, matched bool) partJSON {
	return partJSON{
		ID: hex.EncodeToString(sum.ID[:]), Start: sum.Start, End: sum.End,
		Spans: sum.Spans, Errors: sum.Errors, Matched: matched,
		Root: rootJSON{
			Parentless: sum.Root.Parentless, Start: sum.Root.Start,
			SpanID: hex.EncodeToString(sum.Root.SpanID[:]),
			Name:   sum.Root.Name, Service: sum.Root.Service,
		},
	}
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

func (c *partJSON) part() (part, error) {
	id, err := hex.DecodeString(c.ID)
	if err != nil || len(id) != 16 {
		return part{}, fmt.Errorf("trace ID %q is not 32 hex digits", c.ID)
	}
	var spanID [8]byte
	if len(c.Root.SpanID) != hex.EncodedLen(len(spanID)) {
		return part{}, fmt.Errorf("root span ID %q is not 16 hex digits", c.Root.SpanID)
	}
	if _, err := hex.Decode(spanID[:], []byte(c.Root.SpanID)); err != nil {
		return part{}, fmt.Errorf("root span ID %q is not 16 hex digits", c.Root.SpanID)
	}
	return part{
		TraceSummary: schema.TraceSummary{
			ID: [16]byte(id), Start: c.Start, End: c.End, Spans: c.Spans, Errors: c.Errors,
			Root: schema.RootSpan{
				Parentless: c.Root.Parentless, Start: c.Root.Start, SpanID: spanID,
				Name: c.Root.Name, Service: c.Root.Service,
			},
		},
		matched:  c.Matched,
		verified: c.Matched,
	}, nil
}
