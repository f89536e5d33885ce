package querier

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
// started are included.
func (q *Querier) FindTrace(ctx context.Context, tenants []string, id pcommon.TraceID, tr TimeRange) (res TraceResult, found bool, err error) {
	live := q.live.Load()
	if live == nil {
		return res, false, ErrNotReady
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.QueryTimeout)
	defer cancel()

	res.Partial = q.awaitLiveTail(ctx, live, tenants, []pcommon.TraceID{id})
	if err := q.blocklist.WaitLoaded(ctx); err != nil {
		return res, false, fmt.Errorf("wait for blocklist: %w", err)
	}

	var parts []ptrace.Traces
	for _, t := range tenants {
		fromLive, err := live.Find(t, id)
		if err != nil {
			return res, false, err
		}
		parts = append(parts, fromLive...)
		fromBlocks, inspected, err := q.findInBlocks(ctx, t, id, tr)
		if err != nil {
			return res, false, err
		}
		parts = append(parts, fromBlocks...)
		res.InspectedBytes += inspected
	}
	if res.Trace, err = mergeTraces(parts); err != nil {
		return res, false, err
	}
	return res, res.Trace.SpanCount() > 0, nil
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

// findInBlocks searches tenant's blocks overlapping tr, BlockConcurrency at
// a time.
func (q *Querier) findInBlocks(ctx context.Context, tenant string, id pcommon.TraceID, tr TimeRange) ([]ptrace.Traces, int64, error) {
	var (
		mu        sync.Mutex
		out       []ptrace.Traces
		inspected int64
		errs      []error
		wg        sync.WaitGroup
		sem       = make(chan struct{}, q.cfg.BlockConcurrency)
	)
	for _, m := range q.blocklist.Metas(tenant) {
		if !tr.overlaps(m) {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			td, ok, err := q.findInBlock(ctx, m, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case ok:
				out = append(out, td)
				inspected += m.Size
			}
		})
	}
	wg.Wait()
	return out, inspected, errors.Join(errs...)
}

func (q *Querier) findInBlock(ctx context.Context, m *schema.BlockMeta, id pcommon.TraceID) (ptrace.Traces, bool, error) {
	r, release, err := q.readers.get(ctx, m)
	if err != nil {
		return ptrace.Traces{}, false, fmt.Errorf("open block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	defer release()
	td, ok, err := r.FindTrace(ctx, id)
	if err != nil {
		return ptrace.Traces{}, false, fmt.Errorf("read block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	return td, ok, nil
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
