// Package blocklist knows which blocks exist in object storage, per tenant,
// by polling: a tenant's index when it is recent enough, a listing when it
// is not. It owns reading the blocklist; the index is written by the
// compactor, and the blocks themselves belong to the block package.
package blocklist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// Blocklist is one process's view of the blocks in a bucket.
type Blocklist struct {
	cfg      Config
	bucket   objstore.Bucket
	useIndex bool
	logger   *slog.Logger
	metrics  *metrics

	mu      sync.RWMutex
	tenants map[string]*tenantBlocks
	loaded  chan struct{} // closed when the first poll completed

	needMu sync.Mutex
	need   map[int32]int64 // what Run's polls must find; see Require
	polled map[int32]int64 // the need the last successful poll met
	pollC  chan struct{}   // closed and replaced after each successful poll
	wake   chan struct{}   // asks Run to poll now
}

type tenantBlocks struct {
	metas   map[uuid.UUID]*schema.BlockMeta
	covered map[int32]int64 // per partition, the furthest block end
}

// New returns an empty blocklist of bucket. With useIndex a poll reads
// each tenant's index and lists only when the index is missing or behind
// what the caller needs; without, it always lists (the compactor, which
// writes the indexes, must see the bucket itself).
func New(cfg Config, bucket objstore.Bucket, useIndex bool, logger *slog.Logger, reg prometheus.Registerer) (*Blocklist, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Blocklist{
		cfg:      cfg,
		bucket:   bucket,
		useIndex: useIndex,
		logger:   logger,
		metrics:  newMetrics(reg),
		tenants:  make(map[string]*tenantBlocks),
		loaded:   make(chan struct{}),
		need:     make(map[int32]int64),
		polled:   make(map[int32]int64),
		pollC:    make(chan struct{}),
		wake:     make(chan struct{}, 1),
	}, nil
}

// Run polls every PollInterval, and at once when Require raises what it
// needs, until ctx ends, calling changed after each successful poll.
func (bl *Blocklist) Run(ctx context.Context, changed func()) {
	for {
		bl.needMu.Lock()
		need := maps.Clone(bl.need)
		bl.needMu.Unlock()
		if err := bl.Poll(ctx, need); err == nil {
			bl.needMu.Lock()
			bl.polled = need
			close(bl.pollC)
			bl.pollC = make(chan struct{})
			bl.needMu.Unlock()
			changed()
		} else if ctx.Err() == nil {
			bl.logger.Warn("blocklist poll failed; keeping the previous one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-bl.wake:
		case <-time.After(bl.cfg.PollInterval):
		}
	}
}

// Require raises, per partition, the offset below which Run's polls must
// know every block (as Poll's need), and has Run poll at once if that is
// more than its last poll met. A querier requires a partition's blocks up
// to where its live tail of the partition starts.
func (bl *Blocklist) Require(need map[int32]int64) {
	bl.needMu.Lock()
	defer bl.needMu.Unlock()
	raised := false
	for p, off := range need {
		if off > bl.need[p] {
			bl.need[p], raised = off, true
		}
	}
	if raised {
		select {
		case bl.wake <- struct{}{}:
		default:
		}
	}
}

// WaitRequired waits until one of Run's polls met need (see Require), or
// ctx ends.
func (bl *Blocklist) WaitRequired(ctx context.Context, need map[int32]int64) error {
	for {
		bl.needMu.Lock()
		met, next := true, bl.pollC
		for p, off := range need {
			if bl.polled[p] < off {
				met = false
			}
		}
		bl.needMu.Unlock()
		if met {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-next:
		}
	}
}

// Refresh polls one tenant now so that it knows every block of the tenant
// in partition p below need[p]: from the index if that covers need, else
// by listing. Callers refresh only when CoveredEnd shows the blocklist
// behind another querier's.
func (bl *Blocklist) Refresh(ctx context.Context, tenant string, need map[int32]int64) error {
	one := make(chan struct{}, 1)
	tb, err := bl.pollTenant(ctx, tenant, need, one, make(chan struct{}, bl.cfg.MetaConcurrency))
	if err != nil {
		return err
	}
	bl.mu.Lock()
	bl.tenants[tenant] = tb
	bl.mu.Unlock()
	return nil
}

// Poll refreshes the blocklist once. need gives, per partition, the offset
// below which the caller must know every block (where its own view of the
// log starts); an index that is not complete that far is topped up by a
// listing. A nil need accepts any index.
func (bl *Blocklist) Poll(ctx context.Context, need map[int32]int64) error {
	start := time.Now()
	defer func() { bl.metrics.pollDuration.Observe(time.Since(start).Seconds()) }()

	tenants, err := block.ListTenants(ctx, bl.bucket)
	if err != nil {
		bl.metrics.pollFailures.Inc()
		return err
	}
	var (
		mu        sync.Mutex
		next      = make(map[string]*tenantBlocks, len(tenants))
		errs      []error
		wg        sync.WaitGroup
		tenantSem = make(chan struct{}, bl.cfg.TenantConcurrency)
		listSem   = make(chan struct{}, bl.cfg.ListConcurrency)
		metaSem   = make(chan struct{}, bl.cfg.MetaConcurrency)
	)
	for _, t := range tenants {
		wg.Go(func() {
			tenantSem <- struct{}{}
			defer func() { <-tenantSem }()
			tb, err := bl.pollTenant(ctx, t, need, listSem, metaSem)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			next[t] = tb
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		bl.metrics.pollFailures.Inc()
		return err
	}

	bl.mu.Lock()
	for t := range bl.tenants {
		if _, ok := next[t]; !ok {
			bl.metrics.blocks.DeleteLabelValues(t)
			bl.metrics.indexAge.DeleteLabelValues(t)
		}
	}
	bl.tenants = next
	bl.mu.Unlock()
	for t, tb := range next {
		bl.metrics.blocks.WithLabelValues(t).Set(float64(len(tb.metas)))
	}
	select {
	case <-bl.loaded:
	default:
		close(bl.loaded)
		bl.logger.Info("blocklist loaded", "tenants", len(next), "took", time.Since(start))
	}
	return nil
}

// pollTenant returns tenant's blocks: from its index when that is complete
// far enough, else by listing, reusing the metas already known.
func (bl *Blocklist) pollTenant(ctx context.Context, tenant string, need map[int32]int64, listSem, metaSem chan struct{}) (*tenantBlocks, error) {
	bl.mu.RLock()
	var known map[uuid.UUID]*schema.BlockMeta
	if prev := bl.tenants[tenant]; prev != nil {
		known = maps.Clone(prev.metas)
	}
	bl.mu.RUnlock()
	if known == nil {
		known = make(map[uuid.UUID]*schema.BlockMeta)
	}

	if bl.useIndex {
		x, err := block.ReadIndex(ctx, bl.bucket, tenant)
		switch {
		case err == nil:
			bl.metrics.indexAge.WithLabelValues(tenant).Set(time.Since(x.BuiltAt).Seconds())
			if need == nil || x.Covers(need) {
				bl.metrics.tenantsPolled.WithLabelValues("index").Inc()
				return newTenantBlocks(x.Metas), nil
			}
			// Behind: its metas still spare the listing most reads.
			for _, m := range x.Metas {
				known[m.BlockID] = m
			}
			bl.logger.Info("tenant index behind the log; listing", "tenant", tenant, "builtAt", x.BuiltAt)
		case !objstore.IsNotExist(err):
			bl.logger.Warn("tenant index unreadable; listing", "tenant", tenant, "err", err)
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
		mu    sync.Mutex
		metas []*schema.BlockMeta
		errs  []error
		wg    sync.WaitGroup
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
			case objstore.IsNotExist(err):
				// Being written or being deleted: not a block now.
			case err != nil:
				errs = append(errs, err)
			default:
				metas = append(metas, m)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("poll tenant %s: %w", tenant, err)
	}
	return newTenantBlocks(metas), nil
}

func (tb *tenantBlocks) add(id uuid.UUID, m *schema.BlockMeta) {
	tb.metas[id] = m
	for _, r := range m.KafkaRanges {
		tb.covered[r.Partition] = max(tb.covered[r.Partition], r.End)
	}
}

func newTenantBlocks(metas []*schema.BlockMeta) *tenantBlocks {
	tb := &tenantBlocks{
		metas:   make(map[uuid.UUID]*schema.BlockMeta, len(metas)),
		covered: make(map[int32]int64),
	}
	for _, m := range metas {
		tb.add(m.BlockID, m)
	}
	return tb
}

// WaitLoaded waits for the first complete poll, or for ctx to end.
func (bl *Blocklist) WaitLoaded(ctx context.Context) error {
	select {
	case <-bl.loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Tenants returns the tenants that have blocks.
func (bl *Blocklist) Tenants() []string {
	bl.mu.RLock()
	defer bl.mu.RUnlock()
	out := make([]string, 0, len(bl.tenants))
	for t := range bl.tenants {
		out = append(out, t)
	}
	return out
}

// Metas returns tenant's known blocks.
func (bl *Blocklist) Metas(tenant string) []*schema.BlockMeta {
	bl.mu.RLock()
	defer bl.mu.RUnlock()
	tb := bl.tenants[tenant]
	if tb == nil {
		return nil
	}
	out := make([]*schema.BlockMeta, 0, len(tb.metas))
	for _, m := range tb.metas {
		out = append(out, m)
	}
	return out
}

// CoveredEnd returns the offset of partition below which every record of
// tenant is in a known block. A block-builder commits a range only after
// writing all of that range's blocks, so a tenant's blocks in a partition
// leave no hole below the furthest end.
func (bl *Blocklist) CoveredEnd(tenant string, partition int32) int64 {
	bl.mu.RLock()
	defer bl.mu.RUnlock()
	if tb := bl.tenants[tenant]; tb != nil {
		return tb.covered[partition]
	}
	return 0
}
