package querier

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/spanlog/spanlog/schema"
)

// scanned says how much a scan read.
type scanned struct {
	blocks, blockBytes int64
}

// scanTraces calls visit with the rows of each trace of the tenants, source
// by source: the live tail, then the blocks overlapping tr, BlockConcurrency
// at a time. visit is called from several goroutines and may not keep the
// rows.
//
// A trace whose spans are split across sources (a block and the live tail,
// or two blocks cut at a cycle boundary) is visited once per source.
func (q *Querier) scanTraces(ctx context.Context, tenants []string, tr TimeRange, visit func([]schema.SpanRow)) (scanned, error) {
	var s scanned
	// As a lookup by ID does: a querier that has not joined the log yet
	// says so at once, instead of after the first blocklist poll.
	if err := q.Ready(); err != nil {
		return s, err
	}
	if err := q.blocklist.WaitLoaded(ctx); err != nil {
		return s, fmt.Errorf("wait for blocklist: %w", err)
	}
	for _, t := range tenants {
		rows, err := q.liveRows(ctx, t)
		if err != nil {
			return s, err
		}
		eachTrace(rows, visit)

		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
			sem  = make(chan struct{}, q.cfg.BlockConcurrency)
		)
		for _, m := range q.blocklist.Metas(t) {
			if !tr.overlaps(m) {
				continue
			}
			s.blocks++
			s.blockBytes += m.Size
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := q.scanBlock(ctx, m, visit); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return s, err
		}
	}
	return s, nil
}

// scanBlock calls visit with each trace's rows of the block; blocks are
// sorted by trace ID, so a trace's rows are adjacent.
func (q *Querier) scanBlock(ctx context.Context, m *schema.BlockMeta, visit func([]schema.SpanRow)) error {
	r, release, err := q.readers.get(ctx, m)
	if err != nil {
		return fmt.Errorf("open block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	defer release()
	var trace []schema.SpanRow
	err = r.Iterate(ctx, func(row *schema.SpanRow) error {
		if len(trace) > 0 && trace[0].TraceID != row.TraceID {
			visit(trace)
			trace = trace[:0]
		}
		trace = append(trace, *row)
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan block %s/%s: %w", m.Tenant, m.BlockID, err)
	}
	if len(trace) > 0 {
		visit(trace)
	}
	return nil
}

// eachTrace sorts rows by trace ID and calls fn with each trace's rows.
func eachTrace(rows []schema.SpanRow, fn func([]schema.SpanRow)) {
	slices.SortFunc(rows, func(a, b schema.SpanRow) int { return slices.Compare(a.TraceID[:], b.TraceID[:]) })
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && rows[end].TraceID == rows[start].TraceID {
			end++
		}
		fn(rows[start:end])
		start = end
	}
}

// liveRows returns the rows of the tenant's spans in the live tail: every
// record the block-builders have not yet put into a block, from every
// partition's owner.
func (q *Querier) liveRows(ctx context.Context, tenant string) ([]schema.SpanRow, error) {
	live, _, err := q.fetchLive(ctx, []string{tenant}, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	var rows []schema.SpanRow
	for _, td := range live.Traces[tenant] {
		rows = schema.AppendRows(rows, td)
	}
	return rows, nil
}
