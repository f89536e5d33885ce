package querier

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/schema"
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
