// Package querier answers queries over the trace log: it serves the Grafana
// Tempo HTTP API from the blocks in object storage and from a live tail of
// the records blocks do not cover yet, merging the two so each span is
// returned once. It owns reading; writing blocks is the block-builder's.
package querier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/consumer"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

// ErrNotReady is returned for queries that arrive before the querier has
// joined the log.
var ErrNotReady = errors.New("querier is starting")

// Querier serves queries. Create it with New and start it with Run.
type Querier struct {
	cfg         Config
	log         tracelog.Config
	tenants     tenant.Config
	blocksGroup string
	bucket      objstore.Bucket
	logger      *slog.Logger
	metrics     *metrics
	blocklist   *blocklist.Blocklist
	readers     *readers

	// wholeScanShare is defaultWholeScanShare; tests change it to take
	// the other path.
	wholeScanShare int64

	cl         *kgo.Client
	partitions atomic.Int32             // 0 until Run learned the topic
	live       atomic.Pointer[LiveTail] // nil until Run started consuming
}

// New returns a querier reading the log described by log and the blocks in
// bucket. blocksGroup is the block-builders' consumer group: its committed
// offsets say where blocks end and the live tail begins.
func New(cfg Config, log tracelog.Config, tenants tenant.Config, blocksGroup string, bucket objstore.Bucket, logger *slog.Logger, reg prometheus.Registerer) (*Querier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := log.Validate(); err != nil {
		return nil, err
	}
	bl, err := blocklist.New(cfg.Blocklist, bucket, true, logger,
		prometheus.WrapRegistererWith(prometheus.Labels{"component": "querier"}, reg))
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(log.ClientOpts("spanlog-querier")...)
	if err != nil {
		return nil, fmt.Errorf("querier kafka client: %w", err)
	}
	q := &Querier{
		cfg:         cfg,
		log:         log,
		tenants:     tenants,
		blocksGroup: blocksGroup,
		bucket:      bucket,
		logger:      logger,
		metrics:     newMetrics(reg),
		blocklist:   bl,
		readers:     newReaders(bucket, cfg.OpenBlocks),
		cl:          cl,

		wholeScanShare: defaultWholeScanShare,
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "spanlog_querier_live_records",
		Help: "Records held by the live tail (not yet covered by known blocks).",
	}, func() float64 {
		if live := q.live.Load(); live != nil {
			n, _ := live.Size()
			return float64(n)
		}
		return 0
	}), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "spanlog_querier_live_bytes",
		Help: "Bytes of records held by the live tail.",
	}, func() float64 {
		if live := q.live.Load(); live != nil {
			_, n := live.Size()
			return float64(n)
		}
		return 0
	}))
	return q, nil
}

// Ready reports whether the querier can answer: it has joined the log. It
// does not wait for the blocklist; queries wait for the first poll instead.
func (q *Querier) Ready() error {
	if q.live.Load() == nil {
		return ErrNotReady
	}
	return nil
}

// Run consumes the live tail and polls the blocklist until ctx ends.
func (q *Querier) Run(ctx context.Context) error {
	defer q.cl.Close()
	defer q.readers.close()
	start, err := q.startOffsets(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// The live tail starts where the block-builders' blocks end, so the
	// blocklist must know every block below start: an index that is not
	// complete that far is topped up by a listing.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { q.blocklist.Run(ctx, start, q.trimLive) })
	live := NewLiveTail(start)
	q.live.Store(live)
	offsets := make(map[int32]kgo.Offset, len(start))
	for p, off := range start {
		offsets[p] = kgo.NewOffset().At(off)
	}
	q.cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{q.log.Topic: offsets})
	q.logger.Info("live tail started", "partitions", len(start))
	q.consume(ctx, live)
	return nil
}

// startOffsets waits for the topic to exist and returns, per partition, the
// offset the live tail starts at: where the block-builders' blocks end.
func (q *Querier) startOffsets(ctx context.Context) (map[int32]int64, error) {
	backoff := 100 * time.Millisecond
	for {
		start, err := q.tryStartOffsets(ctx)
		if err == nil {
			return start, nil
		}
		q.logger.Warn("waiting for the trace log", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (q *Querier) tryStartOffsets(ctx context.Context) (map[int32]int64, error) {
	n, err := tracelog.Partitions(ctx, q.cl, q.log.Topic)
	if err != nil {
		return nil, err
	}
	logStart, err := tracelog.StartOffsets(ctx, q.cl, q.log.Topic)
	if err != nil {
		return nil, err
	}
	committed, err := consumer.Committed(ctx, q.cl, q.blocksGroup, q.log.Topic)
	if err != nil {
		return nil, err
	}
	start := maps.Clone(logStart)
	for p, off := range committed {
		start[p] = max(off, logStart[p])
	}
	q.partitions.Store(n)
	return start, nil
}

// consume adds every fetched record to live until ctx ends.
func (q *Querier) consume(ctx context.Context, live *LiveTail) {
	for {
		fetches := q.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			q.logger.Warn("live tail fetch failed", "topic", topic, "partition", p, "err", err)
		})
		now := time.Now()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			for _, r := range fp.Records {
				tenant, td, err := schema.DecodeRecord(r, q.tenants.Default)
				if err != nil {
					q.logger.Warn("live tail skips record", "partition", r.Partition, "offset", r.Offset, "err", err)
					live.Advance(r.Partition, r.Offset+1)
					continue
				}
				live.Add(tenant, r.Partition, r.Offset, r.Value, td)
			}
			if n := len(fp.Records); n > 0 {
				q.metrics.lag.Observe(fp.Partition, fp.Records[n-1], fp.HighWatermark, now)
			}
		})
	}
}

// trimLive drops live records the blocklist now covers.
func (q *Querier) trimLive() {
	if live := q.live.Load(); live != nil {
		live.Trim(q.blocklist.CoveredEnd)
	}
}
