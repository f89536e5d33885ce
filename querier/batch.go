package querier

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// MaxBatchIDs is the most distinct trace IDs one batch request may carry.
const MaxBatchIDs = 1000

// BatchSummary is how a batch lookup ended, once every trace found was
// passed on.
type BatchSummary struct {
	// NotFound are the IDs no span was found for, in the order asked.
	NotFound []pcommon.TraceID
	// Partial says why spans may be missing, if they may.
	Partial Partial
	// InspectedBlocks counts the blocks read: those whose bloom filters
	// let at least one of the IDs through. InspectedBytes is their size.
	InspectedBlocks int64
	InspectedBytes  int64
}

// FindTraces looks up many traces at once, each as FindTrace would, and
// calls fn with each trace found as soon as it is complete: once the live
// tail and every block that may hold it were read. Each block is read once
// for all the IDs it may hold. fn is called on the caller's goroutine, one
// trace at a time, in the order the traces complete; an error from it ends
// the lookup and is returned.
func (q *Querier) FindTraces(ctx context.Context, tenants []string, ids []pcommon.TraceID, tr TimeRange, fn func(pcommon.TraceID, ptrace.Traces) error) (BatchSummary, error) {
	var sum BatchSummary
	if q.Ready() != nil {
		return sum, ErrNotReady
	}
	ids = UniqueIDs(ids)

	storage := q.newStorageWait()
	partitions, ends := q.liveTargets(ctx, tenants, ids)
	fromLive, partial, err := q.live.Traces(ctx, live.Query{Tenants: tenants, Partitions: partitions, IDs: ids, Ends: ends, Storage: storage})
	if err != nil {
		return sum, err
	}
	sum.Partial = partial
	sum.Partial.CatchUp = sum.Partial.CatchUp || ends == nil
	// Without a blocklist, the answer is the live tail's.
	partial, err = storage.Wait(ctx, "first blocklist poll", q.waitPolled)
	if err != nil {
		return sum, fmt.Errorf("wait for blocklist: %w", err)
	}
	sum.Partial.Add(partial)
	pending := newPendingTraces(ids)
	for _, parts := range fromLive.Traces {
		for _, td := range parts {
			splitTraces(td, pending.add)
		}
	}
	jobs := q.planLookup(tenants, ids, tr)
	for _, job := range jobs {
		for _, id := range job.ids {
			pending.expect(id)
		}
	}
	pending.start()

	// Stopping the block readers before waiting for them lets a failed or
	// abandoned request return at once. The first block that cannot be
	// read stops the reads of the others too, and makes the answer
	// partial (see eachBlock).
	readCtx, stopReading := context.WithCancel(ctx)
	var (
		wg   sync.WaitGroup
		read lookupRead
	)
	defer func() {
		stopReading()
		wg.Wait()
	}()
	wg.Go(func() {
		read, _ = q.lookupBlocks(readCtx, jobs, pending.settle, func(ctx context.Context, r *block.Reader, _ *schema.BlockMeta, ids []pcommon.TraceID) error {
			hit := make(map[pcommon.TraceID]bool)
			err := r.FindTraces(ctx, ids, func(id pcommon.TraceID, td ptrace.Traces) error {
				hit[id] = true
				pending.found(id, td)
				return nil
			})
			pending.settle(slices.DeleteFunc(ids, func(id pcommon.TraceID) bool { return hit[id] }))
			return err
		})
	})

	found := make(map[pcommon.TraceID]bool, len(ids))
	for range ids {
		// Checked first, as a select would take a ready trace as
		// readily as the end of the request.
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		var id pcommon.TraceID
		select {
		case id = <-pending.ready:
		case <-ctx.Done():
			return sum, ctx.Err()
		}
		td, err := mergeTraces(pending.take(id))
		if err != nil {
			return sum, err
		}
		if td.SpanCount() == 0 || q.expired(tenants, td) {
			continue
		}
		found[id] = true
		if err := fn(id, td); err != nil {
			return sum, err
		}
	}
	for _, id := range ids {
		if !found[id] {
			sum.NotFound = append(sum.NotFound, id)
		}
	}
	// A block is counted after its IDs were settled, so the last ones
	// may still be counting: wait for them. Every block is done by now,
	// as every ID is settled.
	wg.Wait()
	sum.InspectedBlocks, sum.InspectedBytes = read.blocks, read.bytes
	sum.Partial.Add(read.partial)
	return sum, nil
}

// UniqueIDs returns ids without repeats, in the order of first appearance:
// the IDs FindTraces looks up, of which a batch request may carry
// MaxBatchIDs.
func UniqueIDs(ids []pcommon.TraceID) []pcommon.TraceID {
	seen := make(map[pcommon.TraceID]bool, len(ids))
	out := make([]pcommon.TraceID, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
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

// liveTargets returns the partitions that may hold ids of tenants (see
// schema.TracePartitions), and the log's end offsets now, for
// read-your-writes; ends is nil if they could not be read within
// ReadYourWritesTimeout.
func (q *Querier) liveTargets(ctx context.Context, tenants []string, ids []pcommon.TraceID) (partitions []int32, ends map[int32]int64) {
	n := q.live.Partitions()
	seen := make(map[int32]bool)
	var ps []int32
	for _, t := range tenants {
		for _, id := range ids {
			ps = schema.TracePartitions(ps[:0], t, id, n)
			for _, p := range ps {
				if !seen[p] {
					seen[p] = true
					partitions = append(partitions, p)
				}
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
