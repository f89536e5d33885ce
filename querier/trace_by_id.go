package querier

import (
	"context"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TraceResult is a trace and how it was found.
type TraceResult struct {
	Trace ptrace.Traces
	// Partial says why spans may be missing, if they may.
	Partial        Partial
	InspectedBytes int64
}

// FindTrace returns the spans of trace id across tenants, each span once,
// or found=false when no span is stored. Spans acked before the call
// started are included. It is a batch lookup of one ID.
func (q *Querier) FindTrace(ctx context.Context, tenants []string, id pcommon.TraceID, tr TimeRange) (res TraceResult, found bool, err error) {
	res.Trace = ptrace.NewTraces()
	sum, err := q.FindTraces(ctx, tenants, []pcommon.TraceID{id}, tr, func(_ pcommon.TraceID, td ptrace.Traces) error {
		res.Trace, found = td, true
		return nil
	})
	res.Partial, res.InspectedBytes = sum.Partial, sum.InspectedBytes
	return res, found, err
}
