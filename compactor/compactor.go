// Package compactor keeps object storage bounded for the readers. It
// merges each tenant's blocks of a partition into fewer, larger ones
// (plan.go, compact.go), deletes the blocks merged into others and those
// past retention once every reader has stopped reading them, and what
// crashes left behind (cleanup.go), and writes each tenant's index, the
// list of its block metas that makes a querier's poll one read per tenant
// (index.go). Compactors split this work through a Kafka consumer group
// (ownership.go). It does not write blocks from the log; that is the
// block-builder's, and the merge itself is block.Compact.
package compactor

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/tracelog"
)

// Compactor compacts, deletes and indexes the blocks of a bucket, its
// share of them. Create it with New and start it with Run.
type Compactor struct {
	cfg         Config
	kafka       tracelog.Config
	blocksGroup string
	limits      *limits.Overrides
	bucket      objstore.Bucket
	blocklist   *blocklist.Blocklist
	logger      *slog.Logger
	metrics     *metrics
	own         *ownership
	planner     planner

	// Used by the compaction loop only.
	failures *failures
	// visible caches when each block's meta was written (see
	// visibleSince).
	visible map[visibleKey]time.Time
}

// New returns a compactor of bucket. blocksGroup is the block-builders'
// consumer group, whose committed offsets say how far an index is
// complete and which blocks no replay will write again. lim gives each
// tenant's block retention.
func New(cfg Config, kafka tracelog.Config, blocksGroup string, lim *limits.Overrides, bucket objstore.Bucket, logger *slog.Logger, reg prometheus.Registerer) (*Compactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := kafka.Validate(); err != nil {
		return nil, err
	}
	c := &Compactor{
		cfg:         cfg,
		kafka:       kafka,
		blocksGroup: blocksGroup,
		limits:      lim,
		bucket:      bucket,
		logger:      logger,
		own:         newOwnership(logger),
		visible:     make(map[visibleKey]time.Time),
	}
	c.metrics = newMetrics(reg, c.own)
	c.failures = newFailures(cfg, c.metrics)
	c.planner = planner{
		window:      cfg.CompactionWindow,
		maxInputs:   cfg.MaxInputBlocks,
		maxBytes:    cfg.MaxBlockBytes,
		maxInputsOf: c.failures.maxInputsOf,
	}
	bl, err := blocklist.New(cfg.Blocklist, bucket, blocklist.Options{Retention: c.retention}, logger,
		prometheus.WrapRegistererWith(prometheus.Labels{"component": "compactor"}, reg))
	if err != nil {
		return nil, err
	}
	c.blocklist = bl
	return c, nil
}

// retention returns how long tenant's blocks are kept.
func (c *Compactor) retention(tenant string) time.Duration {
	return c.limits.BlockRetention(tenant, c.cfg.BlockRetention)
}

// Run joins the compactors' group and, until ctx ends, rebuilds the
// indexes of its tenants every poll interval and compacts and cleans its
// partitions every compaction interval. Readiness waits for neither.
func (c *Compactor) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(c.kafka.ClientOpts("spanlog-compactor")...)
	if err != nil {
		return fmt.Errorf("compactor kafka client: %w", err)
	}
	defer cl.Close()
	partitions, err := c.waitForTopic(ctx, cl)
	if err != nil {
		return nil // ctx ended
	}
	group, err := kgo.NewClient(append(c.kafka.ClientOpts("spanlog-compactor"),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.kafka.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(c.cfg.SessionTimeout),
		kgo.HeartbeatInterval(c.cfg.SessionTimeout/5),
		kgo.OnPartitionsAssigned(c.own.assigned(c.kafka.Topic)),
		kgo.OnPartitionsRevoked(c.own.revoked(c.kafka.Topic)),
		kgo.OnPartitionsLost(c.own.revoked(c.kafka.Topic)),
	)...)
	if err != nil {
		return fmt.Errorf("compactor group client: %w", err)
	}
	// The group is a directory of who holds what: no record is fetched.
	group.PauseFetchTopics(c.kafka.Topic)
	// Closing leaves the group, after the loops stopped, so the others
	// take the partitions over at once.
	defer group.Close()

	var wg sync.WaitGroup
	wg.Go(func() { c.every(ctx, c.cfg.Blocklist.PollInterval, func() { c.rebuildIndexes(ctx, cl, partitions) }) })
	wg.Go(func() {
		c.cfg.Background.Lower()
		c.every(ctx, c.cfg.CompactionInterval, func() { c.compactAndClean(ctx, cl, partitions) })
	})
	wg.Wait()
	return nil
}

// every calls fn, then again interval after each call returned, until ctx
// ends.
func (c *Compactor) every(ctx context.Context, interval time.Duration, fn func()) {
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// waitForTopic waits until the trace log exists and returns its partition
// count; it fails only when ctx ends.
func (c *Compactor) waitForTopic(ctx context.Context, cl *kgo.Client) (int32, error) {
	backoff := 100 * time.Millisecond
	for {
		n, err := tracelog.Partitions(ctx, cl, c.kafka.Topic)
		if err == nil {
			return n, nil
		}
		c.logger.Warn("waiting for the trace log", "err", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
