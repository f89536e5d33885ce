package querier

import (
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
	// Spans are the matched spans of the first spanset, each once,
	// earliest first: all of them but after by().
	Spans []MatchedSpan
	// Attributes are the first spanset's aggregates (count(), avg(...))
	// and groups (by(...)).
	Attributes []traceql.KeyValue
	// SpanSets are all the spansets, the first of them Spans and
	// Attributes; there are more only after by().
	SpanSets     []HitSpanSet
	ServiceStats map[string]*ServiceStats
}

// HitSpanSet is one spanset of a TraceHit.
type HitSpanSet struct {
	// Spans are its spans, earliest first once the search is done.
	Spans      []MatchedSpan
	Attributes []traceql.KeyValue
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

// newTraceHit describes a whole trace and what the query selected of it.
func newTraceHit(trace []schema.SpanRow, sets []traceql.SpanSet) *TraceHit {
	hit := &TraceHit{
		TraceID:      trace[0].TraceID,
		ServiceStats: make(map[string]*ServiceStats),
		SpanSets:     make([]HitSpanSet, len(sets)),
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
	for i, set := range sets {
		spans := make([]MatchedSpan, len(set.Spans))
		for j, s := range set.Spans {
			spans[j] = MatchedSpan{
				SpanID:        s.Row.SpanID,
				Name:          s.Row.Name,
				StartUnixNano: s.Row.StartUnixNano,
				DurationNanos: s.Row.DurationNano,
				Attributes:    s.Attributes,
			}
		}
		hit.SpanSets[i] = HitSpanSet{Spans: spans, Attributes: set.Attributes}
	}
	hit.Spans, hit.Attributes = hit.SpanSets[0].Spans, hit.SpanSets[0].Attributes
	return hit
}

// DurationNanos is the trace's duration.
func (hit *TraceHit) DurationNanos() uint64 {
	return hit.EndUnixNano - min(hit.StartUnixNano, hit.EndUnixNano)
}
