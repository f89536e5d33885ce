// Package blockbuilder turns the trace log into blocks: it consumes the
// partitions a Kafka consumer group assigns it, cuts each partition's records
// into blocks per tenant, writes them to object storage, and only then
// commits the offsets. It owns when blocks are cut; the block layout is the
// block package's, and queries over the blocks are the querier's.
package blockbuilder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/tracelog"
)

// Builder is one member of the block-builder group.
type Builder struct {
	cfg           Config
	log           tracelog.Config
	defaultTenant string
	bucket        objstore.Bucket
	logger        *slog.Logger
	metrics       *metrics
	now           func() time.Time

	mu    sync.Mutex // guards parts against the group's revoke callbacks
	parts map[int32]*pending
}

// New returns a block-builder that reads the log described by log and
// writes blocks to bucket. Records without a tenant header are attributed
// to defaultTenant.
func New(cfg Config, log tracelog.Config, defaultTenant string, bucket objstore.Bucket, logger *slog.Logger, reg prometheus.Registerer) (*Builder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := log.Validate(); err != nil {
		return nil, err
	}
	return &Builder{
		cfg:           cfg,
		log:           log,
		defaultTenant: defaultTenant,
		bucket:        bucket,
		logger:        logger,
		metrics:       newMetrics(reg),
		now:           time.Now,
		parts:         make(map[int32]*pending),
	}, nil
}

// Run consumes and builds blocks until ctx ends. Blocks not yet written
// when it ends are abandoned: their offsets are not committed, so the next
// owner of the partition rebuilds them from the log.
func (b *Builder) Run(ctx context.Context) error {
	opts := append(b.log.ClientOpts("spanlog-block-builder"),
		kgo.ConsumerGroup(b.cfg.ConsumerGroup),
		kgo.SessionTimeout(b.cfg.SessionTimeout),
		kgo.HeartbeatInterval(b.cfg.SessionTimeout/5),
		kgo.ConsumeTopics(b.log.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// Rebalances wait while a poll's records are being turned into
		// blocks, so a partition never changes hands mid-flush.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(b.dropPartitions),
		kgo.OnPartitionsLost(b.dropPartitions),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("block-builder kafka client: %w", err)
	}
	defer func() {
		// Leaving the group is a rebalance, which BlockRebalanceOnPoll
		// holds back until allowed; then Close leaves at once, so the
		// partitions move without waiting for the session to time out.
		cl.AllowRebalance()
		cl.Close()
	}()

	highWatermarks := make(map[int32]int64)
	for {
		pollCtx, cancel := context.WithTimeout(ctx, b.cfg.IdleCutDelay)
		fetches := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				b.logger.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
			}
		})
		now := b.now()
		b.mu.Lock()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			highWatermarks[fp.Partition] = fp.HighWatermark
			for _, r := range fp.Records {
				b.offer(r)
			}
			if n := len(fp.Records); n > 0 {
				b.metrics.recordsConsumed.Add(float64(n))
				b.metrics.lag.Observe(fp.Partition, fp.Records[n-1], fp.HighWatermark, now)
			}
		})
		for id, p := range b.parts {
			p.cutIfIdle(now, b.cfg.IdleCutDelay, highWatermarks[id])
		}
		b.mu.Unlock()
		if err := b.flushCut(ctx, cl); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// offer routes a fetched record to its partition's pending block.
func (b *Builder) offer(r *kgo.Record) {
	p := b.parts[r.Partition]
	if p == nil {
		p = newPending(r, b.cfg.CycleDuration)
		b.parts[r.Partition] = p
	}
	p.offer(r, b.cfg.MaxBlockBytes)
}

// dropPartitions forgets the pending blocks of partitions the group took
// away. They were not committed, so their new owner rebuilds them.
func (b *Builder) dropPartitions(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range lost[b.log.Topic] {
		delete(b.parts, p)
		b.metrics.lag.Forget(p)
	}
}
