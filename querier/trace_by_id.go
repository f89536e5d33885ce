package querier

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// TimeRange limits a query to spans that overlap [Start, End]; a zero bound
// is open.
type TimeRange struct {
	Start, End time.Time
}

func (r TimeRange) overlaps(m *schema.BlockMeta) bool {
	return (r.End.IsZero() || !m.MinStart.After(r.End)) && (r.Start.IsZero() || !m.MaxEnd.Before(r.Start))
}

// TraceResult is a trace and how it was found.
type TraceResult struct {
	Trace ptrace.Traces
	// Partial is set when the live tail could not catch up with the log
	// in time: spans acked just before the request may be missing.
	Partial        bool
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

// awaitLiveTail waits, bounded by ReadYourWritesTimeout, until the live tail
// consumed every record acked so far in the partitions that hold ids. It
// reports whether it gave up.
func (q *Querier) awaitLiveTail(ctx context.Context, live *LiveTail, tenants []string, ids []pcommon.TraceID) (partial bool) {
	ctx, cancel := context.WithTimeout(ctx, q.cfg.ReadYourWritesTimeout)
	defer cancel()
	ends, err := tracelog.EndOffsets(ctx, q.cl, q.log.Topic)
	if err != nil {
		q.logger.Warn("read-your-writes: cannot read end offsets", "err", err)
		return true
	}
	n := q.partitions.Load()
	partitions := make(map[int32]bool)
	for _, t := range tenants {
		for _, id := range ids {
			partitions[schema.Partition(t, id, n)] = true
		}
	}
	for p := range partitions {
		if err := live.WaitFor(ctx, p, ends[p]); err != nil {
			q.logger.Warn("read-your-writes: live tail behind", "partition", p, "end", ends[p])
			return true
		}
	}
	return false
}

// mergeTraces combines parts into one Traces holding each span once: the
// same span can be in the live tail and a block, or in two blocks after a
// replay.
func mergeTraces(parts []ptrace.Traces) (ptrace.Traces, error) {
	var rows []schema.SpanRow
	for _, td := range parts {
		rows = schema.AppendRows(rows, td)
	}
	return schema.TracesFromRows(schema.DedupeRows(rows))
}
