package querier

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
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
	// Lean says the asker reads parts without their summary (see
	// partJSON) when the query has no trace-level conditions. A querier
	// of an older version does not say so, and gets whole parts: during
	// a rolling upgrade, old and new queriers ask each other.
	Lean bool `json:"lean,omitempty"`
}

// partJSON is a part on the wire between queriers. A search without
// trace-level conditions reads only a part's ID and start (see
// tenantScan.candidates): its parts carry no more when the asker says it
// reads them so (candidatesArgs.Lean).
type partJSON struct {
	ID      string    `json:"id"`
	Start   uint64    `json:"start,string"`
	End     uint64    `json:"end,string,omitempty"`
	Spans   uint32    `json:"spans,omitempty"`
	Errors  uint32    `json:"errors,omitempty"`
	Matched bool      `json:"matched,omitempty"`
	Root    *rootJSON `json:"root,omitempty"`
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
	return func(s live.Slice) (any, error) { return sliceParts(s, plan, a.Lean) }, nil
}

// sliceParts returns the parts of each tenant's traces in s that plan
// needs. The filter is judged from the records' indexes where they hold
// the fields it tests, decoding only the records they cannot judge; the
// parts come from the traces' summaries, which are what the spans of
// every record of the trace in s say.
func sliceParts(s live.Slice, plan partsPlan, lean bool) (map[string][]partJSON, error) {
	whole := plan.everyPart() || !lean
	tenants := s.Tenants()
	out := make(map[string][]partJSON, len(tenants))
	tests, indexed := spanTests(plan.filter)
	for _, tenant := range tenants {
		if plan.filter != nil && !indexed {
			parts, err := decodedParts(s, tenant, plan, whole)
			if err != nil {
				return nil, err
			}
			out[tenant] = parts
			continue
		}
		var matched map[[16]byte]bool
		if plan.filter != nil {
			matched = make(map[[16]byte]bool)
			err := s.Match(tenant, tests, func(id pcommon.TraceID) { matched[id] = true }, func(td ptrace.Traces) {
				eachTrace(schema.AppendRows(nil, td), func(trace []schema.SpanRow) {
					if plan.filter.anyMatches(trace) {
						matched[trace[0].TraceID] = true
					}
				})
			})
			if err != nil {
				return nil, err
			}
		}
		// Only the matched traces' parts are sent, unless trace-level
		// conditions need every part; without a filter, every trace is
		// a candidate.
		var keep func(pcommon.TraceID) bool
		if plan.filter != nil && !plan.everyPart() {
			keep = func(id pcommon.TraceID) bool { return matched[id] }
		}
		for _, sum := range s.Summaries(tenant, keep) {
			m := plan.filter == nil || matched[sum.ID]
			out[tenant] = append(out[tenant], partOf(sum, m, whole))
		}
	}
	return out, nil
}

// decodedParts returns the parts of tenant's traces in s that plan needs,
// judging the filter on every span decoded; whole parts if whole.
func decodedParts(s live.Slice, tenant string, plan partsPlan, whole bool) ([]partJSON, error) {
	var rows []schema.SpanRow
	if err := s.DecodeRows(tenant, func(r []schema.SpanRow) { rows = append(rows, r...) }); err != nil {
		return nil, err
	}
	var out []partJSON
	eachTrace(rows, func(trace []schema.SpanRow) {
		matched := plan.filter.anyMatches(trace)
		if matched || plan.everyPart() {
			out = append(out, partOf(schema.SummarizeTrace(trace), matched, whole))
		}
	})
	return out, nil
}

// spanTests returns the tests of a live tail's index that pass the spans
// f passes, judged by the same comparisons; false when f tests a field the
// index does not hold (span and trace IDs).
func spanTests(f *candidateFilter) ([]live.SpanTest, bool) {
	if f == nil {
		return nil, false
	}
	tests := make([]live.SpanTest, 0, len(f.conds))
	for _, c := range f.conds {
		// The service_name column c.serviceName allows reading agrees
		// with the attribute on every span c passes.
		t := live.SpanTest{Exists: c.Op == traceql.OpExists}
		var value func(live.Value) traceql.Value
		switch c.Field.Intrinsic {
		case traceql.IntrinsicNone:
			t.Key, value = c.Field.Name, attributeValue
			switch c.Field.Scope {
			case traceql.ScopeSpan:
				t.Scope = live.ScopeSpan
			case traceql.ScopeResource:
				t.Scope = live.ScopeResource
			default:
				t.Scope = live.ScopeSpanOrResource
			}
		case traceql.IntrinsicName:
			t.Intrinsic, value = live.IntrinsicName, attributeValue
		case traceql.IntrinsicStatusMessage:
			t.Intrinsic, value = live.IntrinsicStatusMessage, attributeValue
		case traceql.IntrinsicStatus:
			t.Intrinsic = live.IntrinsicStatus
			value = func(v live.Value) traceql.Value { return traceql.StatusValue(int32(v.Int)) }
		case traceql.IntrinsicKind:
			t.Intrinsic = live.IntrinsicKind
			value = func(v live.Value) traceql.Value { return traceql.KindValue(int32(v.Int)) }
		case traceql.IntrinsicDuration:
			t.Intrinsic = live.IntrinsicDuration
			value = func(v live.Value) traceql.Value { return traceql.DurationValue(time.Duration(v.Int)) }
		default:
			return nil, false
		}
		t.Match = func(v live.Value) bool { return c.Matches(value(v)) }
		tests = append(tests, t)
	}
	return tests, true
}

// attributeValue is v as TraceQL reads an attribute (or a string
// intrinsic) holding it: bytes, arrays and maps read as missing.
func attributeValue(v live.Value) traceql.Value {
	switch v.Type {
	case live.ValueString:
		return traceql.StringValue(v.Str)
	case live.ValueInt:
		return traceql.IntValue(v.Int)
	case live.ValueDouble:
		return traceql.FloatValue(v.Double)
	case live.ValueBool:
		return traceql.BoolValue(v.Bool)
	}
	return traceql.Value{}
}

// partOf is the part sum describes on the wire: whole, or its ID and
// start alone.
func partOf(sum schema.TraceSummary, matched, whole bool) partJSON {
	p := partJSON{ID: hex.EncodeToString(sum.ID[:]), Start: sum.Start, Matched: matched}
	if !whole {
		return p
	}
	p.End, p.Spans, p.Errors = sum.End, sum.Spans, sum.Errors
	p.Root = &rootJSON{
		Parentless: sum.Root.Parentless, Start: sum.Root.Start,
		SpanID: hex.EncodeToString(sum.Root.SpanID[:]),
		Name:   sum.Root.Name, Service: sum.Root.Service,
	}
	return p
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
	p := part{
		TraceSummary: schema.TraceSummary{ID: [16]byte(id), Start: c.Start, End: c.End, Spans: c.Spans, Errors: c.Errors},
		matched:      c.Matched,
		verified:     c.Matched,
	}
	if c.Root == nil {
		return p, nil
	}
	var spanID [8]byte
	if len(c.Root.SpanID) != hex.EncodedLen(len(spanID)) {
		return part{}, fmt.Errorf("root span ID %q is not 16 hex digits", c.Root.SpanID)
	}
	if _, err := hex.Decode(spanID[:], []byte(c.Root.SpanID)); err != nil {
		return part{}, fmt.Errorf("root span ID %q is not 16 hex digits", c.Root.SpanID)
	}
	p.Root = schema.RootSpan{
		Parentless: c.Root.Parentless, Start: c.Root.Start, SpanID: spanID,
		Name: c.Root.Name, Service: c.Root.Service,
	}
	return p, nil
}
