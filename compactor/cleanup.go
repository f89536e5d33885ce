package compactor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// Why a block is deleted: the values of the reason label.
const (
	reasonCompacted = "compacted"
	reasonRetention = "retention"
	reasonLeftover  = "leftover"
)

// When a block stops being read, and when it is deleted.
//
// Readers stop reading a block when they learn of one that supersedes it
// (a compaction's block, whose meta records every offset of its inputs),
// or when its last span is older than its tenant's retention (see
// blocklist.Metas): both follow from the blocks they know and the clock,
// never from how far a deletion got. So a compaction's inputs are marked
// compacted by nothing but the compaction's meta, and the time that meta
// was written (its modification time in the bucket, which a compaction
// done again only moves later) starts their deletion grace; a block past
// retention is deleted a deletion grace after it stopped being read. By
// then every querier has polled an index without it (the indexes list the
// blocks read, rebuilt every poll interval) and finished the queries that
// read it.
//
// A block is deleted meta first: it stops existing before its data goes,
// and a deletion cut short leaves data without a meta, which the leftover
// rule removes later.

// clean deletes, in the partitions owned, the blocks of tenants that are
// due; and for the tenants whose home partition is owned, what writers
// left behind.
func (c *Compactor) clean(ctx context.Context, tenants []string, owned []int32, partitions int32, now time.Time) {
	held := make(map[int32]bool, len(owned))
	for _, p := range owned {
		held[p] = true
	}
	for _, tenant := range tenants {
		due := c.due(ctx, tenant, held, now)
		for p, blocks := range due {
			work, done, ok := c.own.hold(ctx, p)
			if !ok {
				continue
			}
			for _, d := range blocks {
				if err := c.deleteBlock(work, tenant, d.id); err != nil {
					c.cleanupFailed(work, "cannot delete a block", err, "tenant", tenant, "block", d.id, "reason", d.reason)
					break
				}
				c.metrics.deleted.WithLabelValues(d.reason).Inc()
				c.logger.Info("block deleted", "tenant", tenant, "block", d.id, "partition", p, "reason", d.reason)
			}
			done()
		}
		if held[homePartition(tenant, partitions)] {
			c.removeLeftovers(ctx, tenant, partitions, now)
		}
	}
	if held[0] {
		work, done, ok := c.own.hold(ctx, 0)
		if ok {
			n, err := c.bucket.RemoveAbandonedUploads(work, "", now.Add(-c.cfg.LeftoverGrace))
			if err != nil {
				c.cleanupFailed(work, "cannot remove abandoned uploads", err)
			}
			if n > 0 {
				c.metrics.uploadsRemoved.Add(float64(n))
				c.logger.Info("abandoned uploads removed", "uploads", n)
			}
			done()
		}
	}
}

// dueBlock is a block to delete and why.
type dueBlock struct {
	id     uuid.UUID
	reason string
}

// due returns, per partition held, the blocks of tenant whose deletion
// grace has passed.
func (c *Compactor) due(ctx context.Context, tenant string, held map[int32]bool, now time.Time) map[int32][]dueBlock {
	var cutoff time.Time
	if r := c.retention(tenant); r > 0 {
		cutoff = now.Add(-r - c.cfg.DeletionGrace)
	}
	supersededBy := c.blocklist.SupersededBy(tenant)
	out := make(map[int32][]dueBlock)
	for _, m := range c.blocklist.Known(tenant) {
		if len(m.KafkaRanges) == 0 || !held[m.KafkaRanges[0].Partition] {
			continue
		}
		p := m.KafkaRanges[0].Partition
		switch by := supersededBy[m.BlockID]; {
		case blocklist.Expired(m, cutoff):
			out[p] = append(out[p], dueBlock{m.BlockID, reasonRetention})
		case by != nil:
			since, err := c.visibleSince(ctx, by)
			switch {
			case objstore.IsNotExist(err):
				// Deleted since the poll; another block that supersedes
				// m will be found at the next.
			case err != nil:
				c.cleanupFailed(ctx, "cannot read when a compacted block was written", err, "tenant", tenant, "block", by.BlockID)
			case now.Sub(since) >= c.cfg.DeletionGrace:
				out[p] = append(out[p], dueBlock{m.BlockID, reasonCompacted})
			}
		}
	}
	return out
}

// visibleKey names a block's meta.
type visibleKey struct {
	tenant string
	id     uuid.UUID
}

// visibleSince returns when the meta of block m was written, from the
// bucket's modification time of it, remembered: a meta rewritten (a
// compaction done again) only ever moves it later, and the block existed
// all along.
func (c *Compactor) visibleSince(ctx context.Context, m *schema.BlockMeta) (time.Time, error) {
	k := visibleKey{m.Tenant, m.BlockID}
	if t, ok := c.visible[k]; ok {
		return t, nil
	}
	attrs, err := c.bucket.Attributes(ctx, block.MetaName(m.Tenant, m.BlockID))
	if err != nil {
		return time.Time{}, err
	}
	c.visible[k] = attrs.LastModified
	return attrs.LastModified, nil
}

// forgetVisible drops what visibleSince remembers of blocks of tenants no
// longer known: deleted, by this compactor or, once their partition
// moved, by another.
func (c *Compactor) forgetVisible(tenants []string) {
	known := make(map[visibleKey]bool)
	for _, t := range tenants {
		for _, m := range c.blocklist.Known(t) {
			known[visibleKey{t, m.BlockID}] = true
		}
	}
	for k := range c.visible {
		if !known[k] {
			delete(c.visible, k)
		}
	}
}

// deleteBlock deletes every object of block id of tenant, the meta first.
func (c *Compactor) deleteBlock(ctx context.Context, tenant string, id uuid.UUID) error {
	if err := c.bucket.Delete(ctx, block.MetaName(tenant, id)); err != nil {
		return err
	}
	delete(c.visible, visibleKey{tenant, id})
	return c.deleteObjects(ctx, block.Prefix(tenant, id))
}

// deleteObjects deletes every object directly under prefix.
func (c *Compactor) deleteObjects(ctx context.Context, prefix string) error {
	var names []string
	err := c.bucket.List(ctx, prefix, func(name string) error {
		if !strings.HasSuffix(name, "/") {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := c.bucket.Delete(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// removeLeftovers deletes the objects of tenant's blocks without a meta
// whose every object is older than the leftover grace: the data of a
// block whose writer was killed before its meta (and whose range was
// then cut otherwise, or merged otherwise, so that no one will write that
// meta), or of a deletion cut short. A block being written has recent
// objects, and one written again after a crash writes its data anew
// before its meta.
func (c *Compactor) removeLeftovers(ctx context.Context, tenant string, partitions int32, now time.Time) {
	work, done, ok := c.own.hold(ctx, homePartition(tenant, partitions))
	if !ok {
		return
	}
	defer done()
	ids, err := block.ListBlocks(work, c.bucket, tenant)
	if err != nil {
		c.cleanupFailed(work, "cannot list blocks for leftovers", err, "tenant", tenant)
		return
	}
	known := make(map[uuid.UUID]bool)
	for _, m := range c.blocklist.Known(tenant) {
		known[m.BlockID] = true
	}
	for _, id := range ids {
		if known[id] {
			continue
		}
		left, err := c.leftover(work, tenant, id, now)
		if err != nil {
			c.cleanupFailed(work, "cannot check a block without a meta", err, "tenant", tenant, "block", id)
			continue
		}
		if !left {
			continue
		}
		if err := c.deleteObjects(work, block.Prefix(tenant, id)); err != nil {
			c.cleanupFailed(work, "cannot delete a leftover", err, "tenant", tenant, "block", id)
			continue
		}
		c.metrics.deleted.WithLabelValues(reasonLeftover).Inc()
		c.logger.Info("leftover of a block without a meta deleted", "tenant", tenant, "block", id)
	}
}

// leftover reports whether block id of tenant has no meta and only
// objects older than the leftover grace. A meta that exists but cannot be
// used keeps the block: the blocklist reports it, and it is for an
// operator to fix or delete.
func (c *Compactor) leftover(ctx context.Context, tenant string, id uuid.UUID, now time.Time) (bool, error) {
	if _, err := c.bucket.Attributes(ctx, block.MetaName(tenant, id)); !objstore.IsNotExist(err) {
		return false, err // nil when the meta exists
	}
	var names []string
	err := c.bucket.List(ctx, block.Prefix(tenant, id), func(name string) error {
		names = append(names, name)
		return nil
	})
	if err != nil || len(names) == 0 {
		return false, err // nothing to remove: the folder of an upload, say
	}
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			return false, fmt.Errorf("unexpected folder %s in a block", name)
		}
		attrs, err := c.bucket.Attributes(ctx, name)
		if objstore.IsNotExist(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if now.Sub(attrs.LastModified) < c.cfg.LeftoverGrace {
			return false, nil
		}
	}
	return true, nil
}

// cleanupFailed counts and logs a deletion that failed and will be tried
// again, unless the work was stopped.
func (c *Compactor) cleanupFailed(ctx context.Context, msg string, err error, args ...any) {
	if ctx.Err() != nil {
		return
	}
	c.metrics.cleanupFailures.Inc()
	c.logger.Warn(msg+"; trying again at the next interval", append(args, "err", err)...)
}
