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
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// Builder is one member of the block-builder group.
type Builder struct {
	cfg     Config
	kafka   tracelog.Config
	tenancy schema.RecordTenancy
	bucket  objstore.Bucket
	logger  *slog.Logger
	metrics *metrics
	now     func() time.Time

	mu    sync.Mutex // guards the maps below against the group's callbacks
	parts map[int32]*pending
	// durable is, per partition, the offset below which the log is in
	// blocks, as far as this builder wrote them.
	durable map[int32]int64
	owned   map[int32]bool // the partitions the group assigned the builder
	paused  map[int32]bool // owned partitions whose fetches throttle paused

	// onWrite, if set, hears of every tenant block written (meta) or
	// given up (err). Only a Replayer sets it, to report its blocks.
	onWrite func(tenant string, rng schema.OffsetRange, meta *schema.BlockMeta, err error)
	// packer compresses the values held; see SharePacked.
	packer *tracelog.Packer
}

// New returns a block-builder that reads the log kafka describes and
// writes blocks to bucket. Records without a tenant header are attributed
// to defaultTenant, or as kafka.ForeignTenantHeader says.
func New(cfg Config, kafka tracelog.Config, defaultTenant string, bucket objstore.Bucket, logger *slog.Logger, reg prometheus.Registerer) (*Builder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := kafka.Validate(); err != nil {
		return nil, err
	}
	return &Builder{
		cfg:     cfg,
		kafka:   kafka,
		tenancy: kafka.Tenancy(defaultTenant),
		bucket:  bucket,
		logger:  logger,
		metrics: newMetrics(reg, logger),
		now:     time.Now,
		parts:   make(map[int32]*pending),
		durable: make(map[int32]int64),
		owned:   make(map[int32]bool),
		paused:  make(map[int32]bool),
	}, nil
}

// SharePacked has the builder take the compressed values of the records it
// holds from packer, which the live tail of the same process shares, rather
// than compress every value itself (tracelog.Packer). It must be called
// before Run.
func (b *Builder) SharePacked(packer *tracelog.Packer) { b.packer = packer }

// Run consumes and builds blocks until ctx ends. Blocks not yet written
// when it ends are abandoned: their offsets are not committed, so the next
// owner of the partition rebuilds them from the log.
func (b *Builder) Run(ctx context.Context) error {
	rebalance := newRebalanceSignal()
	opts := append(b.kafka.ClientOpts("spanlog-block-builder"),
		kgo.ConsumerGroup(b.cfg.ConsumerGroup),
		kgo.SessionTimeout(b.cfg.SessionTimeout),
		kgo.HeartbeatInterval(b.cfg.SessionTimeout/5),
		kgo.RebalanceTimeout(b.cfg.RebalanceTimeout),
		kgo.ConsumeTopics(b.kafka.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// Rebalances wait from a poll until the loop allows them, after
		// its flush (see rebalance.go).
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsCallbackBlocked(rebalance.raise),
		kgo.OnPartitionsAssigned(b.assignPartitions),
		kgo.OnPartitionsRevoked(b.dropPartitions),
		kgo.OnPartitionsLost(b.dropPartitions),
		// Committed records only: a block is kept and its offsets
		// committed, so it must never hold a transaction another
		// producer aborted, whose records nobody acked. The distributor
		// writes no transactions, so its records are all read. The
		// queriers' live tail reads uncommitted ones too: its
		// read-your-writes wait is for the log's end offset, which an
		// open transaction would keep a committed read below, and what
		// it shows of an aborted one goes once blocks cover the range.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// What the client buffers of the log, within the memory bound
		// (see throttle.go and docs/design.md).
		kgo.FetchMaxBytes(int32(b.cfg.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(b.cfg.FetchMaxPartitionBytes)),
		kgo.MaxConcurrentFetches(b.cfg.MaxConcurrentFetches),
		// A fetch of caught-up partitions waits for a batch of new
		// records, at most FetchMaxWait, holding its slot: a partition
		// resumed meanwhile (see throttle.go) is read no later.
		kgo.FetchMinBytes(int32(b.cfg.FetchMinBytes)),
		kgo.FetchMaxWait(b.cfg.FetchMaxWait),
		// hold copies what the builder keeps of a record: its batch's
		// memory goes back to the client at once.
		tracelog.ReaderPools(),
	)
	if b.cfg.GroupProtocol == GroupProtocolConsumer {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("block-builder kafka client: %w", err)
	}
	// Closing leaves the group, a rebalance that needs the gate open, so
	// the partitions move at once instead of after the session timeout.
	defer cl.CloseAllowingRebalance()

	// The flush slots: every flush hands them its blocks to write.
	slots := b.cfg.Background.Start(b.cfg.FlushConcurrency)
	defer slots.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	wg.Go(func() { b.reportLag(lagCtx, cl) })

	highWatermarks := make(map[int32]int64)
	var (
		held    []*record
		scratch []byte // what records are compressed into
	)
	yielded := false
	for {
		pollCtx, cancel := context.WithTimeout(ctx, b.cfg.IdleCutDelay)
		if yielded {
			// The last flush gave way to a rebalance with blocks left
			// to write. This poll only takes the gate back once the
			// rebalance ran: the blocks already cut come first.
			cancel()
		}
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
		// Compressed before the lock, which the group's callbacks take.
		held = held[:0]
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			highWatermarks[fp.Partition] = fp.HighWatermark
			for _, r := range fp.Records {
				var h *record
				h, scratch = hold(r, b.tenancy, b.packer, scratch)
				held = append(held, h)
			}
		})
		tracelog.Recycle(fetches)
		now := b.now()
		b.mu.Lock()
		for _, r := range held {
			b.offer(r)
		}
		b.metrics.recordsConsumed.Add(float64(len(held)))
		clear(held)
		for id, p := range b.parts {
			p.cutIfIdle(now, b.cfg.IdleCutDelay, highWatermarks[id])
		}
		b.mu.Unlock()
		yielded = b.flushCut(ctx, cl, slots, rebalance.wait())
		if ctx.Err() != nil {
			return nil
		}
		b.throttle(cl)
		rebalance.reset()
		cl.AllowRebalance()
	}
}

// offer routes a fetched record to its partition's pending block.
func (b *Builder) offer(r *record) {
	p := b.parts[r.partition]
	if p == nil {
		p = newPending(r, b.cfg.CycleDuration)
		b.parts[r.partition] = p
		if _, ok := b.durable[r.partition]; !ok {
			b.durable[r.partition] = r.offset // where the group's commit left it
		}
	}
	p.offer(r, b.cfg.MaxBlockBytes)
}

// reportLag measures, every LagInterval, how far each partition's blocks
// are behind the end of the log. It runs beside the consuming loop so that
// the lag keeps growing while a flush is stuck, say on an object storage
// outage, when the loop itself reads nothing.
func (b *Builder) reportLag(ctx context.Context, cl *kgo.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(b.cfg.LagInterval):
		}
		ends, err := tracelog.EndOffsets(ctx, cl, b.kafka.Topic)
		if err != nil {
			continue
		}
		now := b.now()
		b.mu.Lock()
		for partition, durable := range b.durable {
			records, seconds := ends[partition]-durable, 0.0
			if p := b.parts[partition]; p != nil && len(p.records) > 0 {
				seconds = now.Sub(p.records[0].timestamp).Seconds()
			}
			b.metrics.lag.Set(partition, records, seconds)
		}
		b.mu.Unlock()
	}
}
