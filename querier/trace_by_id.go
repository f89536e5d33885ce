package querier

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
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

// expired reports whether every span of td ended before the block
// retention of each of tenants. Such a trace is not found: its blocks are
// deleted, or no longer read, one by one as each falls out of retention,
// and what is left of it (a span in a block that holds later spans too,
// or in the live tail) must not pass for the trace.
func (q *Querier) expired(tenants []string, td ptrace.Traces) bool {
	var keep time.Duration
	for _, t := range tenants {
		r := q.retention(t)
		if r == 0 {
			return false
		}
		keep = max(keep, r)
	}
	cutoff := uint64(time.Now().Add(-keep).UnixNano())
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if uint64(s.EndTimestamp()) >= cutoff || uint64(s.StartTimestamp()) >= cutoff {
					return false
				}
			}
		}
	}
	return true
}

// liveTargets returns the partitions that hold ids of tenants, and the
// log's end offsets now, for read-your-writes; ends is nil if they could
// not be read within ReadYourWritesTimeout.
func (q *Querier) liveTargets(ctx context.Context, tenants []string, ids []pcommon.TraceID) (partitions []int32, ends map[int32]int64) {
	n := q.live.Partitions()
	seen := make(map[int32]bool)
	for _, t := range tenants {
		for _, id := range ids {
			if p := schema.Partition(t, id, n); !seen[p] {
				seen[p] = true
				partitions = append(partitions, p)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.ReadYourWritesTimeout)
	defer cancel()
	ends, err := tracelog.EndOffsets(ctx, q.cl, q.kafka.Topic)
	if err != nil {
		q.logger.Warn("read-your-writes: cannot read end offsets", "err", err)
		return partitions, nil
	}
	return partitions, ends
}

// splitTraces calls fn with the spans of each trace in td.
func splitTraces(td ptrace.Traces, fn func(pcommon.TraceID, ...ptrace.Traces)) {
	byID := make(map[pcommon.TraceID]ptrace.Traces)
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			// Each trace's spans of this resource and scope go into
			// one copy of them.
			spans := make(map[pcommon.TraceID]ptrace.SpanSlice)
			for _, s := range ss.Spans().All() {
				id := s.TraceID()
				dst, ok := spans[id]
				if !ok {
					out, ok := byID[id]
					if !ok {
						out = ptrace.NewTraces()
						byID[id] = out
					}
					nrs := out.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(nrs.Resource())
					nrs.SetSchemaUrl(rs.SchemaUrl())
					nss := nrs.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(nss.Scope())
					nss.SetSchemaUrl(ss.SchemaUrl())
					dst = nss.Spans()
					spans[id] = dst
				}
				s.CopyTo(dst.AppendEmpty())
			}
		}
	}
	for id, out := range byID {
		fn(id, out)
	}
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
