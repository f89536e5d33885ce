package querier

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// Blocklist is a querier's view of the blocks in object storage, refreshed
// by polling. Metas never change once written, so a poll reads only the
// metas of blocks it has not seen.
type Blocklist struct {
	bucket   objstore.Bucket
	interval time.Duration
	logger   *slog.Logger
	metrics  *metrics

	mu      sync.RWMutex
	tenants map[string]map[uuid.UUID]*schema.BlockMeta
	polled  chan struct{} // closed when the first poll completed
}

// NewBlocklist returns an empty blocklist of bucket, polled every interval
// once Run starts.
func NewBlocklist(bucket objstore.Bucket, interval time.Duration, logger *slog.Logger, m *metrics) *Blocklist {
	return &Blocklist{
		bucket:   bucket,
		interval: interval,
		logger:   logger,
		metrics:  m,
		tenants:  make(map[string]map[uuid.UUID]*schema.BlockMeta),
		polled:   make(chan struct{}),
	}
}

// Run polls until ctx ends, calling changed after every successful poll.
func (bl *Blocklist) Run(ctx context.Context, changed func()) {
	first := true
	for {
		start := time.Now()
		err := bl.poll(ctx)
		bl.metrics.pollDuration.Observe(time.Since(start).Seconds())
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			bl.metrics.pollFailures.Inc()
			bl.logger.Warn("blocklist poll failed", "err", err)
		default:
			if first {
				first = false
				close(bl.polled)
				bl.logger.Info("blocklist loaded", "tenants", len(bl.Tenants()), "took", time.Since(start))
			}
			changed()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(bl.interval):
		}
	}
}

// WaitLoaded waits for the first complete poll, or for ctx to end.
func (bl *Blocklist) WaitLoaded(ctx context.Context) error {
	select {
	case <-bl.polled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (bl *Blocklist) poll(ctx context.Context) error {
	var tenants []string
	if err := bl.bucket.List(ctx, "", func(name string) error {
		if t, ok := strings.CutSuffix(name, "/"); ok {
			tenants = append(tenants, t)
		}
		return nil
	}); err != nil {
		return err
	}
	next := make(map[string]map[uuid.UUID]*schema.BlockMeta, len(tenants))
	for _, t := range tenants {
		metas, err := bl.pollTenant(ctx, t)
		if err != nil {
			return err
		}
		next[t] = metas
		bl.metrics.blocks.WithLabelValues(t).Set(float64(len(metas)))
	}
	bl.mu.Lock()
	for t := range bl.tenants {
		if _, ok := next[t]; !ok {
			bl.metrics.blocks.DeleteLabelValues(t)
		}
	}
	bl.tenants = next
	bl.mu.Unlock()
	return nil
}

// pollTenant lists tenant's blocks, reusing the metas already known.
func (bl *Blocklist) pollTenant(ctx context.Context, tenant string) (map[uuid.UUID]*schema.BlockMeta, error) {
	bl.mu.RLock()
	known := bl.tenants[tenant]
	bl.mu.RUnlock()

	metas := make(map[uuid.UUID]*schema.BlockMeta, len(known))
	err := bl.bucket.List(ctx, tenant+"/", func(name string) error {
		dir, ok := strings.CutSuffix(strings.TrimPrefix(name, tenant+"/"), "/")
		if !ok {
			return nil // an object beside the blocks, not a block
		}
		id, err := uuid.Parse(dir)
		if err != nil {
			return nil
		}
		if m, ok := known[id]; ok {
			metas[id] = m
			return nil
		}
		m, err := block.ReadMeta(ctx, bl.bucket, tenant, id)
		if objstore.IsNotExist(err) {
			return nil // being written: a block without meta does not exist yet
		}
		if err != nil {
			return err
		}
		metas[id] = m
		return nil
	})
	return metas, err
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
	out := make([]*schema.BlockMeta, 0, len(bl.tenants[tenant]))
	for _, m := range bl.tenants[tenant] {
		out = append(out, m)
	}
	return out
}

// CoveredEnd returns the offset of partition below which every record of
// tenant is in a known block. Blocks of a tenant in a partition are written
// in offset order (a block-builder commits a range only after writing all of
// its blocks), so the furthest end is a safe bound.
func (bl *Blocklist) CoveredEnd(tenant string, partition int32) int64 {
	bl.mu.RLock()
	defer bl.mu.RUnlock()
	var end int64
	for _, m := range bl.tenants[tenant] {
		for _, r := range m.KafkaRanges {
			if r.Partition == partition {
				end = max(end, r.End)
			}
		}
	}
	return end
}
