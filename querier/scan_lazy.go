package querier

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/schema"
)

// A lazy search's guesses (see partsPlan.lazy): checking them on the
// filter's columns, and giving them up for a scan of the filter's columns
// when they match too seldom.

// verify rules out the candidates of a lazy search none of whose spans in
// the blocks passes the filter, reading only the filter's columns of them
// rather than every column a hit needs, attribute lists most often among
// them. It returns the candidates left, and the IDs of those ruled out.
// Verified candidates are left as they are.
func (ts *tenantScan) verify(ctx context.Context, cands []candidate) ([]candidate, []pcommon.TraceID, error) {
	var ids []pcommon.TraceID
	for _, c := range cands {
		if !c.verified {
			ids = append(ids, c.id)
		}
	}
	if len(ids) == 0 {
		return cands, nil, nil
	}
	f := ts.plan.filter
	var (
		mu     sync.Mutex
		passed = make(map[[16]byte]bool, len(ids))
	)
	err := ts.blockRows(ctx, ids, f.cols, f.keys, func(id pcommon.TraceID, rows []schema.SpanRow) error {
		if f.anyMatches(rows) {
			mu.Lock()
			passed[id] = true
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var dropped []pcommon.TraceID
	cands = slices.DeleteFunc(cands, func(c candidate) bool {
		if c.verified || passed[c.id] {
			return false
		}
		dropped = append(dropped, c.id)
		return true
	})
	return cands, dropped, nil
}

// lazyReads is how many traces, in multiples of the limit, a lazy search
// may expect to read whole before a scan of the filter's columns costs
// less: a lookup by ID costs about a page of each of some 25 columns, a
// scan a few columns of every span.
func (p partsPlan) lazyReads() int {
	if p.filter != nil && p.filter.cols&(block.SpanAttrs|block.ResourceAttrs) != 0 {
		return 4
	}
	return 1
}

// lazyTooCostly reports whether a lazy search that read read traces whole,
// of which matched matched, would read more than reads times the limit at
// that rate before it has limit hits.
func lazyTooCostly(limit, read, matched, reads int) bool {
	if matched == 0 {
		return true
	}
	return (limit-matched)*read/matched > reads*limit
}

// narrow ends a lazy search's guesswork: it scans the blocks read so far
// for the spans that pass the filter, as an eager search does in phase 1,
// and drops the candidates left that have none, in any source. The
// blocks read from then on are scanned as they come up.
func (ts *tenantScan) narrow(ctx context.Context, cands *candidateQueue) error {
	var (
		mu      sync.Mutex
		matched = make(map[[16]byte]bool)
	)
	partial, err := ts.q.eachBlock(ctx, ts.read, func(ctx context.Context, m *schema.BlockMeta) error {
		r, release, err := ts.q.readers.get(ctx, m)
		if err != nil {
			return fmt.Errorf("open block %s/%s: %w", m.Tenant, m.BlockID, err)
		}
		defer release()
		parts, err := ts.matchedParts(ctx, r, m)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range parts.len() {
			matched[parts.id(i)] = true
		}
		return nil
	})
	ts.partial.Add(partial)
	if err != nil {
		return err
	}
	ts.plan.lazy = false
	for i := range *cands {
		if c := &(*cands)[i]; matched[c.id] {
			c.verified = true // not to be checked again
		}
	}
	cands.keep(func(c candidate) bool { return c.block != nil || c.verified })
	return nil
}
