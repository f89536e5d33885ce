package querier

import (
	"context"
	"slices"
	"sync"

	"github.com/spanlog/spanlog/schema"
)

// blocksIn returns the tenant's blocks that overlap tr, most recent first.
func (q *Querier) blocksIn(tenant string, tr TimeRange) []*schema.BlockMeta {
	var metas []*schema.BlockMeta
	for _, m := range q.blocklist.Metas(tenant) {
		if tr.overlaps(m) {
			metas = append(metas, m)
		}
	}
	slices.SortFunc(metas, func(a, b *schema.BlockMeta) int { return b.MaxEnd.Compare(a.MaxEnd) })
	return metas
}

// eachBlock calls fn for each of metas, BlockConcurrency at a time, in
// order. The first block fn fails on stops the others, those being read
// and those not yet started, and makes the answer partial: a block that
// cannot be read is most often object storage failing, and every other
// read would wait out the same retries. An error is returned only when
// ctx ended.
func (q *Querier) eachBlock(ctx context.Context, metas []*schema.BlockMeta, fn func(context.Context, *schema.BlockMeta) error) (Partial, error) {
	blocksCtx, stopBlocks := context.WithCancel(ctx)
	defer stopBlocks()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		failure Partial
		sem     = make(chan struct{}, q.cfg.BlockConcurrency)
	)
	for _, m := range metas {
		select {
		case sem <- struct{}{}:
		case <-blocksCtx.Done():
		}
		if blocksCtx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(blocksCtx, m); err != nil {
				mu.Lock()
				defer mu.Unlock()
				// Reads cut short by the request's end or by another
				// block's failure are no failure of their own.
				if blocksCtx.Err() == nil {
					failure = q.blockFailed(err)
					stopBlocks()
				}
			}
		})
	}
	wg.Wait()
	return failure, ctx.Err()
}
