package querier

import (
	"context"
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/schema"
)

// Phase 1 of a search over the blocks: what it reads of each block, from
// the search cache when it holds it, and the blocks it reads as they come
// up most recent first (see tenantScan.candidates).

// readBlocks returns the parts phase 1 needs of each of metas, in its
// order, each in trace ID order, BlockConcurrency blocks at a time. A
// block that cannot be read makes the answer partial (see eachBlock), and
// its list nil.
func (ts *tenantScan) readBlocks(ctx context.Context, metas []*schema.BlockMeta) ([]*partList, error) {
	sources := make([]*partList, len(metas))
	partial, err := ts.q.eachBlock(ctx, metas, func(ctx context.Context, m *schema.BlockMeta) error {
		parts, err := ts.blockParts(ctx, m)
		sources[slices.Index(metas, m)] = parts // each its own element
		return err
	})
	ts.partial.Add(partial)
	return sources, err
}

// keepPerBlock is how many candidates of a block, most recent first, a
// search with a limit holds at once; the block stands in the queue for
// the rest, and is read again should they come up. A search that reads
// blocks holding many traces (after compaction, a block can hold a
// partition's hours) holds a few thousand candidates, not one per trace.
func keepPerBlock(limit int) int { return max(8*limit, 512) }

// readUnread reads the unread blocks at the front of cands, as many as
// are read at once, and queues their candidates. After a block that
// cannot be read, it reads no more: the answer is partial already, and
// every other read would most likely wait out the same failure.
func (ts *tenantScan) readUnread(ctx context.Context, cands *candidateQueue) error {
	blocks := cands.takeBlocks(ts.q.cfg.BlockConcurrency)
	metas := make([]*schema.BlockMeta, len(blocks))
	for i, b := range blocks {
		metas[i] = b.block
		if b.after == nil {
			ts.read = append(ts.read, b.block)
		}
	}
	parts, err := ts.readBlocks(ctx, metas)
	if err != nil {
		return err
	}
	if ts.partial.Storage != "" {
		cands.keep(func(c candidate) bool { return c.block == nil })
	}
	keep := keepPerBlock(ts.limit)
	for i, b := range blocks {
		if parts[i] == nil {
			continue
		}
		// Most recent first: the first that starts below the floor
		// ends the block, and the one after the kept stands for the
		// rest.
		var read []candidate
		for _, k := range parts[i].newestFirst() {
			c, ok := ts.plan.candidateOf(parts[i].at(int(k)))
			if !ok || b.after != nil && !b.after.before(c) {
				continue
			}
			if ts.belowFloor(c.start) {
				break
			}
			if len(read) == keep {
				last := read[len(read)-1]
				read = append(read, candidate{start: c.start, block: b.block, after: &last})
				break
			}
			read = append(read, c)
		}
		cands.push(read...)
	}
	return nil
}

// blockParts returns the parts phase 1 needs of one block, in trace ID
// order: the traces with a span that passes the filter, the summaries of
// every trace, or both joined, as the plan says. The first two come from
// the search cache when it holds them.
func (ts *tenantScan) blockParts(ctx context.Context, m *schema.BlockMeta) (*partList, error) {
	r, release, err := ts.q.readers.get(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("open block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	defer release()
	p := ts.plan
	var matched *partList
	switch {
	case p.filter == nil:
	case !p.lazy:
		if matched, err = ts.matchedParts(ctx, r, m); err != nil {
			return nil, err
		}
	default:
		// A lazy search guesses only for want of the matches: when the
		// cache holds them, the block's parts are known.
		matched, _ = ts.q.searchCache.peek(ts.matchesKey(m))
	}
	if matched != nil && !p.everyPart() {
		return matched, nil
	}
	summaries, err := ts.summaries(ctx, r, m, p.fields)
	if err != nil {
		return nil, err
	}
	if matched == nil {
		return summaries, nil
	}
	return newPartList(joinParts(summaries.all(), matched.all())), nil
}

// matchesKey is the search cache's key of the block's matches of the
// query's span filter.
func (ts *tenantScan) matchesKey(m *schema.BlockMeta) cacheKey {
	return cacheKey{m.BlockID, "matches " + ts.plan.key}
}

// summaries returns a part for each trace of one block, with the summary
// fields fields (see partsPlan.summaryParts), from the search cache when
// it holds them.
func (ts *tenantScan) summaries(ctx context.Context, r *block.Reader, m *schema.BlockMeta, fields block.SummaryFields) (*partList, error) {
	l, err := ts.q.searchCache.get(cacheKey{m.BlockID, fmt.Sprintf("summaries %d", fields)}, func() ([]part, error) {
		return partsPlan{fields: fields}.summaryParts(ctx, r, m.TotalTraces)
	})
	if err != nil {
		return nil, fmt.Errorf("read block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	return l, nil
}

// matchedParts returns the parts of the traces of one block with a span
// that passes the filter (see partsPlan.matchedParts), from the search
// cache when it holds them.
//
// When the filter's conditions are all tests of single columns, the
// block tells the traces of the spans that pass without their trace IDs
// (block.Reader.TracesWhere), and their starts come from the summaries.
// Otherwise the scan knows of each trace the starts of the spans that
// passed, a loose bound of the trace's start: phase 2 reads every candidate whose
// bound is above the limit's floor, which is a trace's start, and with
// spans that pass late in their traces (a service called at the end)
// it read seven times the limit. A block that stores its summaries
// gives each trace's start there, from columns a tenth the size of the
// spans' that the cache mostly holds already, and the bound is exact for
// a trace the block holds whole.
func (ts *tenantScan) matchedParts(ctx context.Context, r *block.Reader, m *schema.BlockMeta) (*partList, error) {
	l, err := ts.q.searchCache.get(ts.matchesKey(m), func() ([]part, error) {
		ts.q.metrics.filterScans.Inc()
		if !schema.HasTraceSummaries(m.Format) {
			return ts.plan.matchedParts(ctx, r)
		}
		summaries, err := ts.summaries(ctx, r, m, 0)
		if err != nil {
			return nil, err
		}
		if matched, ok, err := ts.plan.tracesWhere(ctx, r, summaries); ok || err != nil {
			return matched, err
		}
		matched, err := ts.plan.matchedParts(ctx, r)
		if err != nil {
			return nil, err
		}
		startsFromSummaries(matched, summaries)
		return matched, nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	return l, nil
}

// blockRows calls found, from several goroutines, with the rows of each of
// ids in every block the blocklist now knows that may hold spans of it
// (see planLookup), with only the columns cols and of the attribute
// lists the attributes keys filled in (all if nil). A block asked for more
// than one in querier.whole-scan-share of its traces is scanned: a lookup
// costs about a page per column and trace, and rows decoded one by one,
// and past that share scanning those columns costs less.
func (ts *tenantScan) blockRows(ctx context.Context, ids []pcommon.TraceID, cols block.Columns, keys []string, found func(pcommon.TraceID, []schema.SpanRow) error) error {
	jobs := ts.q.planLookup([]string{ts.tenant}, ids, ts.tr)
	read, err := ts.q.lookupBlocks(ctx, jobs, nil, func(ctx context.Context, r *block.Reader, m *schema.BlockMeta, want []pcommon.TraceID) error {
		if ts.inOrder {
			// Every trace of a range: a bulk read, which would only
			// push out of the search cache what searches keep there.
			return r.ScanTraces(ctx, cols, keys, want, found)
		}
		// The traces the search cache holds of this block need no read.
		want, err := ts.q.searchCache.cachedRows(m, want, cols, keys, found)
		if err != nil || len(want) == 0 {
			return err
		}
		keep := func(id pcommon.TraceID, rows []schema.SpanRow) error {
			ts.q.searchCache.addRows(m, id, cols, keys, rows)
			return found(id, rows)
		}
		if int64(len(want))*ts.q.cfg.WholeScanShare > m.TotalTraces {
			return r.ScanTraces(ctx, cols, keys, want, keep)
		}
		return r.FindTraceColumns(ctx, cols, keys, want, keep)
	})
	ts.partial.Add(read.partial)
	return err
}

// wholeColumns are the columns of the rows a scan visits by default: every field
// TraceQL and a search hit read, but the events, links and scope, which
// are read (block.Whole) only for a query that reads them.
const wholeColumns = block.SpanIDs | block.Name | block.Kind | block.Duration | block.Status |
	block.ServiceName | block.SpanAttrs | block.ResourceAttrs
