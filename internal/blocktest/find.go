package blocktest

import (
	"context"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
)

// FindTrace returns the spans of r's trace id, and whether it has any:
// r.FindTraces of one ID, which the read path never needs alone.
func FindTrace(ctx context.Context, r *block.Reader, id pcommon.TraceID) (ptrace.Traces, bool, error) {
	td, found := ptrace.NewTraces(), false
	err := r.FindTraces(ctx, []pcommon.TraceID{id}, func(_ pcommon.TraceID, t ptrace.Traces) error {
		td, found = t, true
		return nil
	})
	if err != nil {
		return ptrace.Traces{}, false, err
	}
	return td, found, nil
}
