package blocklist

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// Poll refreshes the blocklist once. need gives, per partition, the offset
// below which the caller must know every block (where its own view of the
// log starts); an index that is not complete that far is topped up by a
// listing. A nil need accepts any index.
//
// Poll fails only when it cannot list the tenants, or ctx ends; then it
// changes nothing. A tenant it cannot poll keeps the blocks it had,
// TenantErr says why, and the next poll tries it again: one tenant's
// trouble holds up no other.
//
// Polls may run at once (the compactor's index and compaction loops
// both poll): each installs what it found, with what one installed
// meanwhile learnt beyond it, as after a Refresh.
func (bl *Blocklist) Poll(ctx context.Context, need map[int32]int64) error {
	start := time.Now()
	defer func() { bl.metrics.pollDuration.Observe(time.Since(start).Seconds()) }()

	bl.mu.RLock()
	before := maps.Clone(bl.tenants)
	bl.mu.RUnlock()
	tenants, err := block.ListTenants(ctx, bl.bucket)
	if err != nil {
		bl.metrics.pollFailures.Inc()
		return err
	}
	var (
		mu        sync.Mutex
		next      = make(map[string]*tenantBlocks, len(tenants))
		wg        sync.WaitGroup
		tenantSem = make(chan struct{}, bl.cfg.TenantConcurrency)
		listSem   = make(chan struct{}, bl.cfg.ListConcurrency)
		metaSem   = make(chan struct{}, bl.cfg.MetaConcurrency)
	)
	for _, t := range tenants {
		wg.Go(func() {
			tenantSem <- struct{}{}
			defer func() { <-tenantSem }()
			prev := before[t]
			tb, err := bl.pollTenant(ctx, t, prev, need, listSem, metaSem)
			if err != nil {
				tb = failed(prev, err)
			}
			mu.Lock()
			next[t] = tb
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// Cut short by shutdown: the failures say nothing of the tenants.
		bl.metrics.pollFailures.Inc()
		return err
	}
	for t, tb := range next {
		bl.noteTenant(t, before[t], tb)
	}

	bl.mu.Lock()
	for t, cur := range bl.tenants {
		if cur == before[t] {
			continue
		}
		// A Refresh installed cur while this poll ran.
		if tb, ok := next[t]; ok {
			next[t] = tb.withLearned(cur, before[t])
		} else {
			next[t] = cur // a tenant new since the listing
		}
	}
	for t := range bl.tenants {
		if _, ok := next[t]; !ok {
			bl.metrics.forget(t)
			bl.reports.forgetTenant(t)
		}
	}
	for t, tb := range next {
		bl.metrics.blocks.WithLabelValues(t).Set(float64(len(tb.metas)))
		bl.metrics.unreadable.WithLabelValues(t).Set(float64(tb.unreadable))
	}
	bl.tenants = next
	bl.polled = need
	close(bl.pollC)
	bl.pollC = make(chan struct{})
	// Under the lock: the compactor polls from two loops at once.
	first := false
	select {
	case <-bl.loaded:
	default:
		close(bl.loaded)
		first = true
	}
	bl.mu.Unlock()
	if first {
		bl.logger.Info("blocklist loaded", "tenants", len(next), "took", time.Since(start))
	}
	return nil
}

// noteTenant counts and logs how tenant's poll went: a failure when it
// starts, not at every poll while it lasts, and the recovery.
func (bl *Blocklist) noteTenant(tenant string, prev, tb *tenantBlocks) {
	switch {
	case tb.err != nil:
		bl.metrics.tenantFailures.WithLabelValues(tenant).Inc()
		if prev == nil || prev.err == nil {
			bl.logger.Warn("cannot poll the blocks of a tenant; serving those of the poll before, retrying at every poll",
				"tenant", tenant, "known", len(tb.metas), "err", tb.err)
		}
	case prev != nil && prev.err != nil:
		bl.logger.Info("blocks of a tenant polled again", "tenant", tenant, "blocks", len(tb.metas))
	}
}

// Refresh polls one tenant now so that it knows every block of the tenant
// in partition p below need[p]: from the index if that covers need, else
// by listing. Callers refresh only when CoveredEnd shows the blocklist
// behind another querier's.
func (bl *Blocklist) Refresh(ctx context.Context, tenant string, need map[int32]int64) error {
	bl.mu.RLock()
	base := bl.tenants[tenant]
	bl.mu.RUnlock()
	one := make(chan struct{}, 1)
	tb, err := bl.pollTenant(ctx, tenant, base, need, one, make(chan struct{}, bl.cfg.MetaConcurrency))
	if err != nil {
		return err
	}
	bl.mu.Lock()
	bl.tenants[tenant] = tb.withLearned(bl.tenants[tenant], base)
	bl.mu.Unlock()
	return nil
}

// pollTenant returns tenant's blocks: from its index when that is complete
// far enough, else by listing, reusing the metas of prev, the tenant's
// last poll, and of the index.
func (bl *Blocklist) pollTenant(ctx context.Context, tenant string, prev *tenantBlocks, need map[int32]int64, listSem, metaSem chan struct{}) (*tenantBlocks, error) {
	known := make(map[uuid.UUID]*schema.BlockMeta)
	var met map[int32]int64
	if prev != nil {
		maps.Copy(known, prev.metas)
		met = prev.met
	}
	if bl.opts.UseIndex {
		x, err := block.ReadIndex(ctx, bl.bucket, tenant)
		switch {
		case err == nil:
			bl.reports.indexRead(tenant)
			bl.metrics.indexAge.WithLabelValues(tenant).Set(time.Since(x.BuiltAt).Seconds())
			if need == nil || x.Covers(need) {
				bl.metrics.tenantsPolled.WithLabelValues("index").Inc()
				tb := newTenantBlocks(fromIndex(x, known))
				tb.met = maxNeed(met, need)
				return tb, nil
			}
			// Behind: its metas still spare the listing most reads.
			for _, m := range x.Metas {
				known[m.BlockID] = m
			}
			bl.logger.Info("tenant index behind the log; listing", "tenant", tenant, "builtAt", x.BuiltAt)
		case !objstore.IsNotExist(err):
			if bl.reports.indexUnreadable(tenant) {
				bl.logger.Warn("tenant index unreadable; listing the tenant's blocks until it is readable again",
					"tenant", tenant, "object", block.IndexName(tenant), "err", err)
			}
		}
	}

	bl.metrics.tenantsPolled.WithLabelValues("listing").Inc()
	listSem <- struct{}{}
	ids, err := block.ListBlocks(ctx, bl.bucket, tenant)
	<-listSem
	if err != nil {
		return nil, err
	}
	var (
		mu         sync.Mutex
		metas      []*schema.BlockMeta
		unreadable = make(map[uuid.UUID]error)
		errs       []error
		wg         sync.WaitGroup
	)
	for _, id := range ids {
		if m, ok := known[id]; ok {
			mu.Lock()
			metas = append(metas, m)
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			metaSem <- struct{}{}
			defer func() { <-metaSem }()
			m, err := block.ReadMeta(ctx, bl.bucket, tenant, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				metas = append(metas, m)
			case objstore.IsNotExist(err):
				// Being written or being deleted: not a block now.
			case errors.Is(err, block.ErrInvalidMeta):
				// It will read the same next time: skip it, or it
				// blinds the tenant for good.
				unreadable[id] = err
			default:
				// It may read next time. Skipping it now would leave
				// a hole below the next block, which CoveredEnd would
				// hide and the live tail be trimmed past.
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("poll tenant %s: %w", tenant, err)
	}
	bl.reportUnreadable(tenant, unreadable)
	tb := newTenantBlocks(metas)
	tb.met = maxNeed(met, need)
	tb.unreadable = len(unreadable)
	return tb, nil
}

// fromIndex returns the blocks of index x, and those of known that x may
// lack only because it is older than what found them. A block with a
// range beyond x.Committed may have been written after x's listing,
// whatever x covers: a listing since, which saw it, may have had the live
// tail trimmed past it already. A block entirely below x.Committed was
// committed before x read its commits, so written before x's listing: x
// lacks it only because it was deleted since.
func fromIndex(x *schema.TenantIndex, known map[uuid.UUID]*schema.BlockMeta) []*schema.BlockMeta {
	metas := slices.Clone(x.Metas)
	in := make(map[uuid.UUID]bool, len(x.Metas))
	for _, m := range x.Metas {
		in[m.BlockID] = true
	}
	for id, m := range known {
		if in[id] {
			continue
		}
		if slices.ContainsFunc(m.KafkaRanges, func(r schema.OffsetRange) bool { return r.End > x.Committed[r.Partition] }) {
			metas = append(metas, m)
		}
	}
	return metas
}
