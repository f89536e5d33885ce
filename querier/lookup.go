package querier

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/schema"
)

// lookupJob is a block to read for the IDs its meta says it may hold.
type lookupJob struct {
	meta *schema.BlockMeta
	ids  []pcommon.TraceID
}

// planLookup returns the blocks of tenants that overlap tr and may hold any
// of ids by their meta (trace ID range and partition; see mayHoldTrace),
// each with those IDs, most recent first. It reads nothing: whether a
// block's bloom filters rule an ID out is for the block's reader to say.
func (q *Querier) planLookup(tenants []string, ids []pcommon.TraceID, tr TimeRange) []lookupJob {
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b pcommon.TraceID) int { return bytes.Compare(a[:], b[:]) })
	hexes := make([]string, len(sorted))
	for i, id := range sorted {
		hexes[i] = hex.EncodeToString(id[:])
	}
	n := q.live.Partitions()
	var jobs []lookupJob
	for _, t := range tenants {
		partitions := make([]int32, len(sorted))
		for i, id := range sorted {
			partitions[i] = -1
			if n > 0 {
				partitions[i] = schema.Partition(t, id, n)
			}
		}
		for _, m := range q.blocksIn(t, tr) {
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
			if len(ids) > 0 {
				jobs = append(jobs, lookupJob{meta: m, ids: ids})
			}
		}
	}
	return jobs
}

// mayHoldTrace reports whether block m may hold a trace by its meta: the
// trace ID (idHex, in hex) is in its range, and it was built from the
// trace's partition p of the log's partitions. A block of foreign records
// (schema.BlockMeta.Foreign), which may hold a trace of any partition, a
// block whose ranges name no partition of the log, or a trace whose
// partition is not known (-1), passes.
func mayHoldTrace(m *schema.BlockMeta, idHex string, p, partitions int32) bool {
	if m.MinTraceID != "" && idHex < m.MinTraceID || m.MaxTraceID != "" && idHex > m.MaxTraceID {
		return false
	}
	if p < 0 || len(m.KafkaRanges) == 0 || m.Foreign {
		return true
	}
	for _, r := range m.KafkaRanges {
		if r.Partition == p || r.Partition >= partitions || r.Partition < 0 {
			return true
		}
	}
	return false
}

// lookupRead says what a lookup read.
type lookupRead struct {
	// blocks counts the blocks read beyond their bloom filters, bytes
	// their size.
	blocks, bytes int64
	// partial says why spans may be missing: a block could not be read.
	partial Partial
}

// lookupBlocks reads the blocks of jobs, BlockConcurrency at a time (see
// eachBlock), each for the IDs of its job its bloom filters let through:
// read is called with them, and must call settle with each once it is done
// with it, even when it fails. Every other ID of a job is settled here:
// those the filters rule out before the block is read, so that a trace
// does not wait for a block that cannot hold it, and those of a block that
// could not be opened or was never read. settle may be nil.
func (q *Querier) lookupBlocks(ctx context.Context, jobs []lookupJob, settle func([]pcommon.TraceID),
	read func(ctx context.Context, r *block.Reader, m *schema.BlockMeta, ids []pcommon.TraceID) error,
) (lookupRead, error) {
	if settle == nil {
		settle = func([]pcommon.TraceID) {}
	}
	byMeta := make(map[*schema.BlockMeta][]pcommon.TraceID, len(jobs))
	metas := make([]*schema.BlockMeta, len(jobs))
	for i, job := range jobs {
		metas[i] = job.meta
		byMeta[job.meta] = job.ids
	}
	var (
		mu      sync.Mutex
		started = make(map[*schema.BlockMeta]bool, len(jobs))
		out     lookupRead
	)
	partial, err := q.eachBlock(ctx, metas, func(ctx context.Context, m *schema.BlockMeta) error {
		ids := byMeta[m]
		mu.Lock()
		started[m] = true
		mu.Unlock()
		r, release, err := q.readers.get(ctx, m)
		if err != nil {
			settle(ids)
			return fmt.Errorf("open block %s/%s: %w", m.Tenant, m.BlockID, err)
		}
		defer release()
		var maybe, ruledOut []pcommon.TraceID
		for _, id := range ids {
			if r.MayContain(id) {
				maybe = append(maybe, id)
			} else {
				ruledOut = append(ruledOut, id)
			}
		}
		settle(ruledOut)
		if len(maybe) == 0 {
			return nil
		}
		if err := read(ctx, r, m, maybe); err != nil {
			return fmt.Errorf("read block %s/%s: %w", m.Tenant, m.BlockID, err)
		}
		mu.Lock()
		out.blocks++
		out.bytes += m.Size
		mu.Unlock()
		return nil
	})
	for _, job := range jobs {
		if !started[job.meta] {
			settle(job.ids)
		}
	}
	out.partial = partial
	return out, err
}
