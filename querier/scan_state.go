package querier

import (
	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// What one search, or one scan for tags, is asked for and holds while it
// runs, for the phases in scan.go, scan_blocks.go and scan_lazy.go.

// traceScan is what scanTraces is asked for.
type traceScan struct {
	tenants []string
	tr      TimeRange
	// query is what the scan searches for: phase 1 judges from it which
	// traces are worth reading whole, its candidates (see partsPlan).
	query *traceql.Query
	// floor, when ok, is a start time below which no trace matters any
	// more to the caller, so that the scan can stop. Nil means never.
	floor func() (start uint64, ok bool)
	// columns are the columns of the rows visit is called with; zero
	// means wholeColumns. keys, if not nil, are the only attributes of
	// the lists among them that are filled in.
	columns block.Columns
	keys    []string
	// limit is how many traces the caller wants at most, if it has a
	// floor: the size of the first batch read whole.
	limit int
	// visit is called with every candidate trace that matters, whole, and
	// reports whether it matched:
	// every span of it in the live tail and in the blocks overlapping tr,
	// each once. It is called from one goroutine at a time per tenant, and
	// may not keep the rows.
	visit func(trace []schema.SpanRow) (matched bool)
	// settled, if not nil, is called after each batch of traces visited
	// while candidates remain, with a start no trace still to visit
	// starts after; its error ends the scan.
	settled func(bound uint64) error
	// storage bounds the scan's waits on object storage.
	storage live.StorageWait
}

// tenantScan is the scan of one tenant's traces.
type tenantScan struct {
	traceScan
	q      *Querier
	tenant string
	// metas are the blocks overlapping the range, most recent first.
	metas []*schema.BlockMeta
	// read are the blocks phase 1 read so far.
	read []*schema.BlockMeta
	// plan says what phase 1 reads of each source.
	plan partsPlan
	// live are the live tail's parts, as its owners sent them.
	live []part
	// partitions is the log's partition count, 0 if not known yet.
	partitions int32
	// partial says why the scan may have missed spans so far.
	partial Partial
	// inOrder says that the traces read whole are asked for in trace ID
	// order, each batch a range of IDs with every trace of it: scanning
	// a block's row groups that hold the range reads each about once,
	// where lookups would read pages again for each trace. The search
	// cache is left alone: such a read would only churn it.
	inOrder bool
}

// plan returns what phase 1 reads: lazily when there is a span filter
// and a limit, so that a search that matches many traces reads few.
func (s traceScan) plan() partsPlan {
	p := newPartsPlan(s.query)
	p.lazy = p.filter != nil && s.floor != nil && s.limit > 0
	return p
}

// partitionsOf appends the log partitions that may hold trace id to dst
// (schema.TracePartitions): none when the partition count is not known
// yet.
func (ts *tenantScan) partitionsOf(dst []int32, id [16]byte) []int32 {
	if ts.partitions <= 0 {
		return dst
	}
	return schema.TracePartitions(dst, ts.tenant, id, ts.partitions)
}

func (ts *tenantScan) currentFloor() (uint64, bool) {
	if ts.floor == nil {
		return 0, false
	}
	return ts.floor()
}

// belowFloor reports whether a trace that starts at start no longer
// matters.
func (ts *tenantScan) belowFloor(start uint64) bool {
	floor, ok := ts.currentFloor()
	return ok && start < floor
}
