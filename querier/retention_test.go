package querier

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/tenant"
)

// TestExpiredTracesAreNotFound: with a block retention of 24h, a trace
// whose spans all ended before it is not found, whether its block is
// wholly past retention or holds later spans of other traces too (which
// the compactor keeps); a trace with a span within retention is found
// whole.
func TestExpiredTracesAreNotFound(t *testing.T) {
	now := time.Now()
	old, recent := now.Add(-48*time.Hour), now.Add(-time.Hour)
	span := func(td ptrace.Traces, trace, id byte, end time.Time) pcommon.TraceID {
		s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		tid := pcommon.TraceID{0: 0xee, 15: trace}
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{0: trace, 7: id})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Second)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		return tid
	}
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wholly := ptrace.NewTraces()
	inOldBlock := span(wholly, 1, 1, old)
	mixed := ptrace.NewTraces()
	inMixedBlock := span(mixed, 2, 1, old)
	recentTrace := span(mixed, 3, 1, recent)
	straddling := span(mixed, 4, 1, old)
	span(mixed, 4, 2, recent)
	querytest.WriteBlock(t, bkt, 1, wholly)
	querytest.WriteBlock(t, bkt, 2, mixed)

	q := startQuerierWithin(t, bkt, DefaultConfig(), tenant.DefaultConfig(), querytest.NewLimits(t, limits.Limits{BlockRetention: 24 * time.Hour}, ""))
	for id, want := range map[pcommon.TraceID]int{inOldBlock: 0, inMixedBlock: 0, recentTrace: 1, straddling: 2} {
		res, found, err := q.FindTrace(context.Background(), []string{querytest.Tenant}, id, TimeRange{})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Trace.SpanCount(); found != (want > 0) || got != want {
			t.Errorf("trace %s: found %v with %d spans, want %d spans", id, found, got, want)
		}
	}
	var found []pcommon.TraceID
	sum, err := q.FindTraces(context.Background(), []string{querytest.Tenant}, []pcommon.TraceID{inOldBlock, inMixedBlock, recentTrace, straddling}, TimeRange{},
		func(id pcommon.TraceID, _ ptrace.Traces) error { found = append(found, id); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || len(sum.NotFound) != 2 || sum.NotFound[0] != inOldBlock || sum.NotFound[1] != inMixedBlock {
		t.Errorf("batch found %v, not found %v; want the two expired traces not found", found, sum.NotFound)
	}
}
