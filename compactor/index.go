package compactor

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// rebuildIndexes lists the bucket and writes the index of every tenant
// whose home partition this compactor holds. An index lists the blocks
// readers read (blocklist.Metas): not those merged into another or past
// retention, which a querier reading the index then forgets, all at once.
//
// A tenant the listing failed keeps its index until the next rebuild: one
// from the blocks an earlier listing found would claim blocks complete up
// to commits it never saw. A block whose meta cannot be used is left out
// of the index, as every poll leaves it out. An index whose listing is
// older than half the deletion grace is not written: it could name blocks
// deleted since and lack the blocks that replaced them.
func (c *Compactor) rebuildIndexes(ctx context.Context, cl *kgo.Client, partitions int32) {
	owned := c.own.owned()
	if len(owned) == 0 {
		return
	}
	// Read before listing: every block below these offsets was written
	// before its range was committed, so the listing sees it.
	committed, err := tracelog.CommittedOffsets(ctx, cl, c.blocksGroup, c.kafka.Topic)
	if err != nil {
		c.indexFailed(ctx, "cannot read the block-builders' commits", err)
		return
	}
	listedAt := time.Now()
	if err := c.blocklist.Poll(ctx, nil); err != nil {
		c.indexFailed(ctx, "cannot list the bucket", err)
		return
	}
	for _, tenant := range c.blocklist.Tenants() {
		if c.blocklist.TenantErr(tenant) != nil {
			c.metrics.indexFailures.Inc() // the blocklist logged it
			continue
		}
		if time.Since(listedAt) > c.cfg.DeletionGrace/2 {
			c.indexFailed(ctx, "listing too old to index by now; listing again", nil)
			return
		}
		work, done, ok := c.own.hold(ctx, homePartition(tenant, partitions))
		if !ok {
			continue
		}
		err := block.WriteIndex(work, c.bucket, &schema.TenantIndex{
			Format:    schema.TenantIndexFormatV1,
			Tenant:    tenant,
			BuiltAt:   listedAt.UTC(),
			Committed: committed,
			Metas:     c.blocklist.Metas(tenant),
		})
		if err != nil {
			c.indexFailed(work, "cannot write a tenant index", err, "tenant", tenant)
		} else {
			c.metrics.indexWrites.Inc()
		}
		done()
	}
}

// indexFailed counts and logs an index rebuild that failed and will be
// tried again, unless the work was stopped.
func (c *Compactor) indexFailed(ctx context.Context, msg string, err error, args ...any) {
	if ctx.Err() != nil {
		return
	}
	c.metrics.indexFailures.Inc()
	c.logger.Warn(msg, append(args, "err", err)...)
}
