package querier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// scanned says how much a scan read, and why it may have missed spans.
type scanned struct {
	// blocks and blockBytes count the blocks overlapping the range;
	// readBytes the sizes of those read, which a search with a limit
	// reads most recent first until no other can matter.
	blocks, blockBytes, readBytes int64
	partial                       Partial
}

// add adds what another scan read.
func (s *scanned) add(o scanned) {
	s.blocks += o.blocks
	s.blockBytes += o.blockBytes
	s.readBytes += o.readBytes
	s.partial.Add(o.partial)
}

// Phase 2 reads whole traces in batches, most recent first, so that a
// search with a limit reads little more than the traces it returns: the
// first batch is the limit, which is all a query judged from its
// candidates' summaries reads, and each next batch doubles.
const maxWholeBatch = 8192

// scanTraces calls s.visit with each candidate trace of the tenants, whole,
// once. A trace's spans can be split across sources (the live tail and the
// blocks overlapping s.tr): two blocks of a partition cut in the middle of
// the trace, or a block and the live tail. Judging each part alone would
// get wrong any query that relates spans (&&, >>, >, aggregates) or reads
// the trace's root or duration. So it goes in two phases:
//
//  1. Each source is read for its candidates and their starts alone,
//     BlockConcurrency blocks at a time: only the columns the filter
//     reads, skipping the row groups whose statistics rule it out.
//  2. The candidates are read whole, most recent first, in batches: each
//     batch is looked up by ID, as a batch lookup does, in the live tail
//     and in every block that may hold spans of it (by the partition and
//     trace ID range of its meta, then its bloom filters), and each trace
//     is merged, deduplicated and visited. Once s.floor is above the next
//     candidate's start, nothing left can matter, and the scan ends.
func (q *Querier) scanTraces(ctx context.Context, s traceScan) (scanned, error) {
	var read scanned
	// As a lookup by ID does: a querier that has not joined the log yet
	// says so at once, instead of after the first blocklist poll.
	if err := q.Ready(); err != nil {
		return read, err
	}
	// Without a blocklist, the answer is the live tail's.
	s.storage = q.newStorageWait()
	partial, err := s.storage.Wait(ctx, "first blocklist poll", q.waitPolled)
	if err != nil {
		return read, fmt.Errorf("wait for blocklist: %w", err)
	}
	read.partial = partial
	for _, t := range s.tenants {
		ts, err := q.newTenantScan(ctx, s, t)
		if err != nil {
			return read, err
		}
		for _, m := range ts.metas {
			read.blocks++
			read.blockBytes += m.Size
		}
		cands, err := ts.candidates(ctx)
		if err == nil {
			err = ts.visitWhole(ctx, cands)
		}
		for _, m := range ts.read {
			read.readBytes += m.Size
		}
		read.partial.Add(ts.partial)
		if err != nil {
			return read, err
		}
	}
	return read, nil
}

func (q *Querier) newTenantScan(ctx context.Context, s traceScan, tenant string) (*tenantScan, error) {
	// The owners of the live tails pick its candidates, so that only
	// their IDs travel between queriers. The blocks are listed after: a
	// tail trimmed meanwhile is trimmed into blocks the blocklist knows.
	liveParts, partial, err := q.liveTailParts(ctx, tenant, s.query, s.storage)
	if err != nil {
		return nil, err
	}
	return &tenantScan{
		traceScan:  s,
		q:          q,
		tenant:     tenant,
		metas:      q.blocksIn(tenant, s.tr),
		plan:       s.plan(),
		live:       liveParts,
		partitions: q.live.Partitions(),
		partial:    partial,
	}, nil
}

// liveTailParts returns the parts that phase 1 of a search for query
// (every trace if nil) needs of tenant's live tail, as the tails' owners
// pick them.
func (q *Querier) liveTailParts(ctx context.Context, tenant string, query *traceql.Query, storage live.StorageWait) ([]part, Partial, error) {
	args := candidatesArgs{Lean: true}
	if query != nil {
		args.Query = query.String()
	}
	digests, partial, err := q.live.Digests(ctx, live.Query{Tenants: []string{tenant}, Storage: storage}, liveCandidates, args)
	if err != nil {
		return nil, partial, err
	}
	var out []part
	for _, d := range digests {
		var byTenant map[string][]partJSON
		if err := json.Unmarshal(d, &byTenant); err != nil {
			return nil, partial, fmt.Errorf("decode live candidates: %w", err)
		}
		for _, c := range byTenant[tenant] {
			p, err := c.part()
			if err != nil {
				return nil, partial, fmt.Errorf("live candidate: %w", err)
			}
			out = append(out, p)
		}
	}
	return out, partial, nil
}

// candidates is phase 1: it returns the candidates of every source, most
// recent first as they are taken.
//
// When trace-level conditions need the parts of a trace joined, every
// block is read now: each source's parts being in trace ID order, one
// merge of all sources joins them, without a table of every trace, and
// each trace is a candidate once. Otherwise each part is a candidate, and
// a search with a limit reads a block only when it comes up in the queue
// (see candidate.block): most recent first, and none that cannot hold a
// trace of the answer.
func (ts *tenantScan) candidates(ctx context.Context) (*candidateQueue, error) {
	var out []candidate
	var sources [][]part
	if !ts.plan.everyPart() && ts.floor != nil {
		for _, m := range ts.metas {
			out = append(out, unreadBlock(m))
		}
	} else {
		lists, err := ts.readBlocks(ctx, ts.metas)
		if err != nil {
			return nil, err
		}
		for _, l := range lists {
			if l != nil {
				sources = append(sources, l.all())
			}
		}
		ts.read = ts.metas
	}
	if !ts.plan.everyPart() {
		// Without trace-level conditions, a part's start bounds its
		// trace's from above as well as all parts' together do: each
		// part is a candidate, and phase 2 reads a trace once.
		for _, parts := range append(sources, ts.live) {
			for _, p := range parts {
				if c, ok := ts.plan.candidateOf(p); ok {
					out = append(out, c)
				}
			}
		}
		return newCandidateQueue(out), nil
	}
	slices.SortFunc(ts.live, func(a, b part) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	mergeParts(append(sources, ts.live), func(merged part) {
		if c, ok := ts.plan.candidateOf(merged); ok {
			out = append(out, c)
		}
	})
	return newCandidateQueue(out), nil
}

// visitWhole is phase 2: it reads the candidates whole, most recent first,
// and visits each until the floor rises above the rest.
func (ts *tenantScan) visitWhole(ctx context.Context, cands *candidateQueue) error {
	batch := maxWholeBatch
	if ts.floor != nil {
		batch = min(max(ts.limit, 1), maxWholeBatch)
	}
	var read, matched int
	// A trace with parts in several sources can be a candidate of each:
	// it is read whole once, and verified once where no span of it in
	// the blocks passes the filter (a part in the live tail may, which is
	// a candidate verified already).
	visited := make(map[[16]byte]bool)
	ruledOut := make(map[[16]byte]bool)
	for {
		next, ok := cands.peek()
		if !ok {
			return nil
		}
		if floor, ok := ts.currentFloor(); ok && next.start < floor {
			return nil
		}
		if next.block != nil {
			if err := ts.readUnread(ctx, cands); err != nil {
				return err
			}
			continue
		}
		// Each trace once, verified if any of its candidates is.
		taken := cands.take(batch)
		first := make(map[[16]byte]int, len(taken))
		kept := taken[:0]
		for _, c := range taken {
			if visited[c.id] || !c.verified && ruledOut[c.id] {
				continue
			}
			if i, ok := first[c.id]; ok {
				kept[i].verified = kept[i].verified || c.verified
				continue
			}
			first[c.id] = len(kept)
			kept = append(kept, c)
		}
		taken = kept
		taken, dropped, err := ts.verify(ctx, taken)
		if err != nil {
			return err
		}
		for _, id := range dropped {
			ruledOut[id] = true
		}
		// A guess ruled out counts as one read whole in vain.
		read += len(dropped)
		for _, c := range taken {
			visited[c.id] = true
		}
		traces, err := ts.wholeTraces(ctx, taken)
		if err != nil {
			return err
		}
		for _, trace := range traces {
			if start, _ := traceql.Bounds(trace); ts.belowFloor(start) {
				continue
			}
			read++
			if ts.visit(trace) {
				matched++
			}
		}
		if _, full := ts.currentFloor(); ts.plan.lazy && !full && lazyTooCostly(ts.limit, read, matched, ts.plan.lazyReads()) {
			if err := ts.narrow(ctx, cands); err != nil {
				return err
			}
		}
		// No trace starts after its candidates (an unread block's
		// included): the next one bounds the start of all that is left.
		if next, ok := cands.peek(); ok && ts.settled != nil {
			if err := ts.settled(next.start); err != nil {
				return err
			}
		}
		batch = min(2*batch, maxWholeBatch)
	}
}

// wholeTraces returns every span of each of cands, each span once, from
// the live tail and from every block that may hold spans of it.
func (ts *tenantScan) wholeTraces(ctx context.Context, cands []candidate) ([][]schema.SpanRow, error) {
	ids := make([]pcommon.TraceID, len(cands))
	parts := make(map[[16]byte][]schema.SpanRow, len(cands))
	var livePartitions, ps []int32
	for i, c := range cands {
		ids[i] = c.id
		ps = ts.partitionsOf(ps[:0], c.id)
		for _, p := range ps {
			if !slices.Contains(livePartitions, p) {
				livePartitions = append(livePartitions, p)
			}
		}
	}
	if ts.partitions <= 0 {
		livePartitions = nil // every partition
	}
	// The live tail first, then the blocks as the blocklist knows them
	// now: records trimmed from the tail since phase 1 are in blocks it
	// knows.
	fromLive, partial, err := ts.q.live.Traces(ctx, live.Query{Tenants: []string{ts.tenant}, Partitions: livePartitions, IDs: ids, Storage: ts.storage})
	ts.partial.Add(partial)
	if err != nil {
		return nil, err
	}
	for _, td := range fromLive.Traces[ts.tenant] {
		for _, row := range schema.AppendRows(nil, td) {
			parts[row.TraceID] = append(parts[row.TraceID], row)
		}
	}
	var mu sync.Mutex
	found := func(id pcommon.TraceID, rows []schema.SpanRow) error {
		mu.Lock()
		parts[id] = append(parts[id], rows...)
		mu.Unlock()
		return nil
	}
	cols := ts.columns
	if cols == 0 {
		// And the whole rows, if the query reads events, links or
		// the instrumentation scope.
		cols = wholeColumns | hitColumns(ts.query)
	}
	if err := ts.blockRows(ctx, ids, cols, ts.keys, found); err != nil {
		return nil, err
	}
	out := make([][]schema.SpanRow, 0, len(cands))
	for _, c := range cands {
		if trace := schema.DedupeRows(parts[c.id]); len(trace) > 0 {
			out = append(out, trace)
		}
	}
	return out, nil
}
