package querier

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// Counting where the spans are stored: each block scanned for the
// columns the query reads, the live tail by its owners, which send back
// partial series. Most traces are whole in one place: one block, or the
// live tail. A trace in several places (in two blocks, cut in the middle
// of the trace or sent again, or in a block and the live tail) could have
// a span counted twice, or be judged on a part; so the places list their
// traces first (the blocks' summaries, the live tail's trace IDs), and
// the traces found in more than one are left out of every place's count
// and read whole instead, as a search reads them, each span once. Every
// other trace is judged where it is, whole: a query relating spans (&&,
// >>, aggregates, trace-level fields) reads all its rows there; a
// span-local one (see traceql.Query.SpanLocal) judges each span alone,
// and reads the attribute lists only of the spans that pass the tests
// of single columns.

//
// compare() is not counted in parts: it picks each attribute's top values
// over all the spans, which no partial count tells. Every trace is read
// whole, as split ones are, in trace ID order, so that each of a block's
// row groups is read about once.

// tenantMetricsWhereStored counts one tenant's spans where they are stored into
// a new series set. It returns false, having counted nothing, when the
// blocks changed while it counted (the live tail was trimmed into a new
// block): the caller counts the tenant's spans from whole traces then.
func (q *Querier) tenantMetricsWhereStored(ctx context.Context, s traceScan, tenant string, mq *traceql.MetricsQuery, args metricsArgs, grid stepGrid) (*seriesSet, scanned, SearchMetrics, bool, error) {
	var (
		read      scanned
		inspected SearchMetrics
	)
	liveParts, partial, err := q.liveTailParts(ctx, tenant, nil, s.storage)
	read.partial.Add(partial)
	if err != nil {
		return nil, read, inspected, false, err
	}
	s.tenants = []string{tenant}
	ts := &tenantScan{traceScan: s, q: q, tenant: tenant, metas: q.blocksIn(tenant, s.tr), partitions: q.live.Partitions()}
	lists, err := ts.readBlocks(ctx, ts.metas)
	read.partial.Add(ts.partial)
	if err != nil {
		return nil, read, inspected, false, err
	}
	slices.SortFunc(liveParts, func(a, b part) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	sources := [][]part{liveParts}
	for _, l := range lists {
		if l != nil {
			sources = append(sources, l.all())
		}
	}
	whole := mq.Func == traceql.MetricsCompare
	split, traces := tracesInSeveral(sources, whole)
	query := s.query
	set := newSeriesSet(mq, grid, args.MaxSeries, args.Exemplars)
	inspected.InspectedTraces = traces
	if whole {
		ts.inOrder = true
		for _, m := range ts.metas {
			read.blocks++
			read.blockBytes += m.Size
		}
		return q.metricsOfSplit(ctx, ts, split, set, read, inspected)
	}

	// The live tail's owners count its spans but those of split traces.
	args.Exclude = map[string][]string{}
	for _, p := range liveParts {
		if split[p.ID] {
			args.Exclude[tenant] = append(args.Exclude[tenant], hex.EncodeToString(p.ID[:]))
		}
	}
	digests, partial, err := q.live.Digests(ctx, live.Query{Tenants: []string{tenant}, Storage: s.storage}, liveMetrics, args)
	read.partial.Add(partial)
	if err != nil {
		return nil, read, inspected, false, err
	}
	for _, d := range digests {
		var byTenant map[string]seriesWire
		if err := json.Unmarshal(d, &byTenant); err != nil {
			return nil, read, inspected, false, fmt.Errorf("decode live metrics: %w", err)
		}
		if err := set.merge(byTenant[tenant]); err != nil {
			return nil, read, inspected, false, fmt.Errorf("live metrics: %w", err)
		}
	}
	// Asking the owners made this querier learn every block their tails
	// were trimmed into. A block it did not list before holds spans the
	// owners did not count, and that the split traces may not tell.
	for _, m := range q.blocksIn(tenant, s.tr) {
		if !slices.ContainsFunc(ts.metas, func(o *schema.BlockMeta) bool { return o.BlockID == m.BlockID }) {
			return nil, read, inspected, false, nil
		}
	}

	// Each block's spans but those of split traces, a block at a time.
	var mu sync.Mutex
	blockPartial, err := q.eachBlock(ctx, ts.metas, func(ctx context.Context, m *schema.BlockMeta) error {
		part, spans, err := q.blockMetrics(ctx, m, query, split, mq, grid, args)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		read.readBytes += m.Size
		inspected.InspectedSpans += spans
		return set.merge(part.wire())
	})
	read.partial.Add(blockPartial)
	if err != nil {
		return nil, read, inspected, false, err
	}
	for _, m := range ts.metas {
		read.blocks++
		read.blockBytes += m.Size
	}

	return q.metricsOfSplit(ctx, ts, split, set, read, inspected)
}

// metricsOfSplit counts into set the spans of the split traces, read
// whole in batches of trace IDs in order, each span once.
func (q *Querier) metricsOfSplit(ctx context.Context, ts *tenantScan, split map[[16]byte]bool, set *seriesSet, read scanned, inspected SearchMetrics) (*seriesSet, scanned, SearchMetrics, bool, error) {
	ids := make([]candidate, 0, len(split))
	for id := range split {
		ids = append(ids, candidate{id: id})
	}
	slices.SortFunc(ids, func(a, b candidate) int { return bytes.Compare(a.id[:], b.id[:]) })
	for len(ids) > 0 {
		batch := ids[:min(len(ids), maxWholeBatch)]
		ids = ids[len(batch):]
		whole, err := ts.wholeTraces(ctx, batch)
		if err != nil {
			return nil, read, inspected, false, err
		}
		for _, trace := range whole {
			inspected.InspectedSpans += int64(len(trace))
			set.observeTrace(trace)
		}
	}
	read.partial.Add(ts.partial)
	return set, read, inspected, true, nil
}

// blockMetrics counts the spans of one block the query selects, but
// those of the split traces, which the block holds whole: reading only
// the columns the query reads and, for a span-local query, the attribute
// lists only of the spans that pass the tests of single columns.
func (q *Querier) blockMetrics(ctx context.Context, m *schema.BlockMeta, query *traceql.Query, split map[[16]byte]bool, mq *traceql.MetricsQuery, grid stepGrid, args metricsArgs) (*seriesSet, int64, error) {
	r, release, err := q.readers.get(ctx, m)
	if err != nil {
		return nil, 0, fmt.Errorf("open block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	defer release()
	set := newSeriesSet(mq, grid, args.MaxSeries, args.Exemplars)
	set.narrow(uint64(max(m.MinStart.UnixNano(), 0)), uint64(max(m.MaxEnd.UnixNano(), 0)))
	opts := block.ScanOptions{Columns: hitColumns(query), AttributeKeys: hitKeys(query)}
	var spans int64
	if !query.SpanLocal() {
		// Each trace whole: its rows are adjacent, in trace ID order.
		var trace []schema.SpanRow
		flush := func() {
			if len(trace) > 0 {
				set.observeTrace(trace)
			}
			trace = trace[:0]
		}
		err := r.Scan(ctx, opts, func(row *schema.SpanRow) error {
			spans++
			if len(trace) > 0 && trace[0].TraceID != row.TraceID {
				flush()
			}
			if !split[row.TraceID] {
				kept := *row // Scan reuses the row and its lists
				kept.Attrs, kept.ResourceAttrs = slices.Clone(row.Attrs), slices.Clone(row.ResourceAttrs)
				trace = append(trace, kept)
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("scan block %s/%s: %w", m.Tenant, m.BlockID, err)
		}
		flush()
		return set, spans, nil
	}
	opts.Transient = true
	if f := newCandidateFilter(query); f != nil {
		// Every span the query selects passes these (see
		// traceql.Query.Conditions); Evaluate judges the rest.
		var rest block.Columns
		opts.Where, rest, _ = f.rowTests()
		opts.Columns |= rest
		opts.AttributeKeys = append(opts.AttributeKeys, f.keys...)
		opts.Skip = f.rulesOut
	}
	one := make([]schema.SpanRow, 1)
	err = r.Scan(ctx, opts, func(row *schema.SpanRow) error {
		spans++
		if !split[row.TraceID] {
			one[0] = *row
			set.observeTrace(one)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("scan block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	return set, spans, nil
}

// tracesInSeveral returns the traces with parts in more than one of
// sources, each in trace ID order, or every trace with every, and how
// many traces there are in all.
func tracesInSeveral(sources [][]part, every bool) (map[[16]byte]bool, int64) {
	split := make(map[[16]byte]bool)
	var traces int64
	h := make(partHeap, 0, len(sources))
	for _, s := range sources {
		if len(s) > 0 {
			h = append(h, s)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		id := h[0][0].ID
		h.advance()
		traces++
		if every {
			split[id] = true
		}
		for len(h) > 0 && h[0][0].ID == id {
			split[id] = true
			h.advance()
		}
	}
	return split, traces
}
