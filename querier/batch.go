package querier

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

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
	ids = uniqueIDs(ids)

	storage := q.newStorageWait()
	partitions, ends := q.liveTargets(ctx, tenants, ids)
	live, partial, err := q.liveTraces(ctx, liveQuery{tenants: tenants, partitions: partitions, ids: ids, ends: ends, storage: storage})
	if err != nil {
		return sum, err
	}
	sum.Partial = partial
	sum.Partial.CatchUp = sum.Partial.CatchUp || ends == nil
	// Without a blocklist, the answer is the live tail's.
	partial, err = storage.wait(ctx, "first blocklist poll", q.waitPolled)
	if err != nil {
		return sum, fmt.Errorf("wait for blocklist: %w", err)
	}
	sum.Partial.Add(partial)
	pending := newPendingTraces(ids)
	for _, parts := range live.Traces {
		for _, td := range parts {
			splitTraces(td, pending.add)
		}
	}
	jobs := q.planBatch(tenants, ids, tr, pending)
	pending.start()

	// Stopping the block readers before waiting for them lets a failed or
	// abandoned request return at once. The first block that cannot be
	// read stops the reads of the others too: it is most often object
	// storage failing, and every other read would wait out the same
	// retries. The answer is then partial.
	readCtx, stopReading := context.WithCancel(ctx)
	blocksCtx, stopBlocks := context.WithCancel(readCtx)
	var wg sync.WaitGroup
	defer func() {
		stopBlocks()
		stopReading()
		wg.Wait()
	}()
	var (
		failMu  sync.Mutex
		failure Partial
	)
	var next, blocks, size atomic.Int64
	for range min(q.cfg.BlockConcurrency, len(jobs)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(jobs) && readCtx.Err() == nil; i = int(next.Add(1) - 1) {
				if blocksCtx.Err() != nil {
					pending.settle(jobs[i].ids)
					continue
				}
				read, err := q.searchBlockBatch(blocksCtx, jobs[i], pending)
				if err != nil {
					failMu.Lock()
					if readCtx.Err() == nil && blocksCtx.Err() == nil {
						failure = q.blockFailed(err)
						stopBlocks()
					}
					failMu.Unlock()
					continue
				}
				if read {
					blocks.Add(1)
					size.Add(jobs[i].meta.Size)
				}
			}
		})
	}

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
	// A worker counts its block after it settled the block's IDs, so
	// the last ones may still be counting: wait for them. Every job is
	// done by now, as every ID is settled.
	wg.Wait()
	sum.InspectedBlocks, sum.InspectedBytes = blocks.Load(), size.Load()
	sum.Partial.Add(failure)
	return sum, nil
}

// batchJob is a block to read for the IDs its trace ID range holds.
type batchJob struct {
	meta *schema.BlockMeta
	ids  []pcommon.TraceID
}

// planBatch returns the blocks of tenants that overlap tr and may hold any
// of ids by their meta (trace ID range and partition; see mayHoldTrace),
// each with those IDs, and counts each block in pending for each of its
// IDs. It reads nothing: whether a block's bloom
// filters rule an ID out is for the block's reader to say.
func (q *Querier) planBatch(tenants []string, ids []pcommon.TraceID, tr TimeRange, pending *pendingTraces) []batchJob {
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b pcommon.TraceID) int { return bytes.Compare(a[:], b[:]) })
	hexes := make([]string, len(sorted))
	for i, id := range sorted {
		hexes[i] = hex.EncodeToString(id[:])
	}
	n := q.partitions.Load()
	var jobs []batchJob
	for _, t := range tenants {
		partitions := make([]int32, len(sorted))
		for i, id := range sorted {
			partitions[i] = -1
			if n > 0 {
				partitions[i] = schema.Partition(t, id, n)
			}
		}
		for _, m := range q.blocklist.Metas(t) {
			if !tr.overlaps(m) {
				continue
			}
			// Hex of equal length sorts as the bytes do; a meta
			// without bounds may hold any ID.
			lo, hi := 0, len(hexes)
			if m.MinTraceID != "" {
				lo = sort.SearchStrings(hexes, m.MinTraceID)
			}
			if m.MaxTraceID != "" {
				hi = sort.Search(len(hexes), func(i int) bool { return hexes[i] > m.MaxTraceID })
			}
			// A block holds the traces of the partitions it was
			// built from.
			var ids []pcommon.TraceID
			for i := lo; i < hi; i++ {
				if mayHoldTrace(m, hexes[i], partitions[i], n) {
					ids = append(ids, sorted[i])
				}
			}
			if len(ids) == 0 {
				continue
			}
			job := batchJob{meta: m, ids: ids}
			for _, id := range job.ids {
				pending.expect(id)
			}
			jobs = append(jobs, job)
		}
	}
	return jobs
}

// searchBlockBatch reads job's block for the IDs its bloom filters let
// through, and settles every ID of the job in pending, even when it fails.
// It reports whether it read the block beyond its bloom filters.
func (q *Querier) searchBlockBatch(ctx context.Context, job batchJob, pending *pendingTraces) (read bool, err error) {
	m := job.meta
	r, release, err := q.readers.get(ctx, m)
	if err != nil {
		pending.settle(job.ids)
		return false, fmt.Errorf("open block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	defer release()
	// IDs the filters rule out are settled before the block is read, so
	// that a trace does not wait for a block that cannot hold it.
	var maybe, ruledOut []pcommon.TraceID
	for _, id := range job.ids {
		if r.MayContain(id) {
			maybe = append(maybe, id)
		} else {
			ruledOut = append(ruledOut, id)
		}
	}
	pending.settle(ruledOut)
	if len(maybe) == 0 {
		return false, nil
	}
	hit := make(map[pcommon.TraceID]bool)
	err = r.FindTraces(ctx, maybe, func(id pcommon.TraceID, td ptrace.Traces) error {
		hit[id] = true
		pending.found(id, td)
		return nil
	})
	pending.settle(slices.DeleteFunc(maybe, func(id pcommon.TraceID) bool { return hit[id] }))
	if err != nil {
		return true, fmt.Errorf("read block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	return true, nil
}

// uniqueIDs returns ids without repeats, in the order of first appearance.
func uniqueIDs(ids []pcommon.TraceID) []pcommon.TraceID {
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
