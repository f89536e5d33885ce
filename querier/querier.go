// Package querier answers queries over the trace log: it serves the Grafana
// Tempo HTTP API from the blocks in object storage and from a live tail of
// the records blocks do not cover yet, merging the two so each span is
// returned once. Queriers share the partitions' live tails through a Kafka
// consumer group, and each answers for every partition by asking the
// others for theirs (owners.go, live_fetch.go).
//
// It owns reading: the live tail and the peer protocol (which offer spans,
// and know nothing of TraceQL or tags), the lookup of trace IDs in blocks
// (lookup.go), search and tags, and the HTTP API. It does not own TraceQL,
// which querier/traceql does, the block format (block, schema), or writing
// blocks, which is the block-builder's. docs/design.md, "The querier's
// rooms", maps its files.
package querier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/consumer"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

// ErrNotReady is returned for queries that arrive before the querier has
// joined the log.
var ErrNotReady = errors.New("querier is starting")

// Querier serves queries. Create it with New and start it with Run.
type Querier struct {
	cfg         Config
	kafka       tracelog.Config
	tenants     tenant.Config
	limits      *limits.Overrides
	blocksGroup string
	// retention returns how long a tenant's blocks are kept.
	retention func(tenant string) time.Duration
	bucket    objstore.Bucket
	logger    *slog.Logger
	metrics   *metrics
	blocklist *blocklist.Blocklist
	readers   *readers
	queries   inFlight // query requests in flight, per tenant
	// digesters answer live requests of kinds other than spans.
	digesters map[string]digester

	cl         *kgo.Client              // reads offsets and the group; consumes nothing
	owners     *owners                  // who holds the partitions this querier does not
	peers      *http.Client             // asks them for their live tails
	partitions atomic.Int32             // 0 until Run learned the topic
	live       atomic.Pointer[LiveTail] // nil until Run started consuming
	joined     atomic.Bool              // the querier group gave this querier its share
	// polled is closed after the blocklist's first complete poll.
	polled     chan struct{}
	polledOnce sync.Once
}

// Deps are what a querier reads and reports to, besides its Config.
type Deps struct {
	// Kafka describes the trace log.
	Kafka tracelog.Config
	// Tenants says how requests name their tenants.
	Tenants tenant.Config
	// Limits are each tenant's query limits and block retention.
	Limits *limits.Overrides
	// BlocksGroup is the block-builders' consumer group: its committed
	// offsets say where blocks end and the live tail begins.
	BlocksGroup string
	// BlockRetention is the compactor's: a tenant's blocks past it, or
	// past the tenant's own block-retention, are not read, and traces
	// whose spans all ended before it are not found. Zero keeps them.
	BlockRetention time.Duration
	// Bucket holds the blocks.
	Bucket objstore.Bucket
	Logger *slog.Logger
	// Registerer takes the querier's metrics.
	Registerer prometheus.Registerer
}

// New returns a querier reading the log and the blocks deps name, within
// each tenant's limits.
func New(cfg Config, deps Deps) (*Querier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.Kafka.Validate(); err != nil {
		return nil, err
	}
	kafka, lim, blockRetention, bucket, logger, reg := deps.Kafka, deps.Limits, deps.BlockRetention, deps.Bucket, deps.Logger, deps.Registerer
	if cfg.AdvertiseAddress == "" {
		return nil, errors.New("querier: advertise address must be set")
	}
	retention := func(tenant string) time.Duration { return lim.BlockRetention(tenant, blockRetention) }
	bl, err := blocklist.New(cfg.Blocklist, bucket, blocklist.Options{UseIndex: true, Retention: retention}, logger,
		prometheus.WrapRegistererWith(prometheus.Labels{"component": "querier"}, reg))
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kafka.ClientOpts("spanlog-querier")...)
	if err != nil {
		return nil, fmt.Errorf("querier kafka client: %w", err)
	}
	q := &Querier{
		cfg:         cfg,
		kafka:       kafka,
		tenants:     deps.Tenants,
		limits:      lim,
		blocksGroup: deps.BlocksGroup,
		retention:   retention,
		bucket:      bucket,
		logger:      logger,
		metrics:     newMetrics(reg, logger),
		blocklist:   bl,
		readers:     newReaders(bucket, cfg.OpenBlocks),
		cl:          cl,
		owners:      &owners{adm: kadm.NewClient(cl), group: cfg.Group, topic: kafka.Topic},
		peers:       &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}},
		polled:      make(chan struct{}),
		digesters:   newDigesters(),
	}
	// The live tail exists once Run started: until then it holds nothing.
	live := func(f func(*LiveTail) float64) func() float64 {
		return func() float64 {
			if live := q.live.Load(); live != nil {
				return f(live)
			}
			return 0
		}
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "spanlog_querier_live_records",
		Help: "Records held by the live tail (not yet covered by known blocks).",
	}, live(func(l *LiveTail) float64 { n, _ := l.Size(); return float64(n) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spanlog_querier_live_partitions",
			Help: "Partitions whose live tail this querier consumes, as the querier group assigned them.",
		}, live(func(l *LiveTail) float64 { return float64(len(l.Owned())) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spanlog_querier_live_bytes",
			Help: "Bytes the live tail holds: its records and what holding them costs; at most spanlog_querier_live_max_bytes.",
		}, live(func(l *LiveTail) float64 { _, n := l.Size(); return float64(n) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spanlog_querier_live_max_bytes",
			Help: "The live tail's bound (querier.live-tail-max-bytes).",
		}, func() float64 { return float64(cfg.LiveTailMaxBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "spanlog_querier_live_evicted_records_total",
			Help: "Records the live tail evicted, oldest first, to stay within querier.live-tail-max-bytes.",
		}, live(func(l *LiveTail) float64 { n, _, _ := l.Evictions(); return float64(n) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "spanlog_querier_live_evicted_bytes_total",
			Help: "Bytes of the records the live tail evicted to stay within querier.live-tail-max-bytes.",
		}, live(func(l *LiveTail) float64 { _, n, _ := l.Evictions(); return float64(n) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spanlog_querier_live_gaps",
			Help: "Tenants' partitions whose evicted live-tail records no known block holds yet: answers reading them are PARTIAL.",
		}, live(func(l *LiveTail) float64 { _, _, n := l.Evictions(); return float64(n) })))
	return q, nil
}

// newDigesters returns the digester of each kind of live request but
// spans: search and tags decide what to make of the spans a tail holds.
func newDigesters() map[string]digester {
	return map[string]digester{liveCandidates: digestCandidates, liveTags: digestTags}
}

// Ready reports whether the querier can answer: it has joined the log and
// the querier group. It does not wait for the blocklist; queries wait for
// the first poll instead.
func (q *Querier) Ready() error {
	if q.live.Load() == nil || !q.joined.Load() {
		return ErrNotReady
	}
	return nil
}

// Run joins the querier group, consumes the live tail of the partitions
// the group gives this querier, and polls the blocklist, until ctx ends.
func (q *Querier) Run(ctx context.Context) error {
	defer q.cl.Close()
	defer q.readers.close()
	defer q.peers.CloseIdleConnections()
	if err := q.waitForTopic(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	live := NewLiveTail(q.cfg.LiveTailMaxBytes, nil)
	q.live.Store(live)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { q.blocklist.Run(ctx, q.afterPoll) })

	cl, err := kgo.NewClient(append(q.kafka.ClientOpts("spanlog-querier"),
		kgo.ConsumerGroup(q.cfg.Group),
		kgo.ConsumeTopics(q.kafka.Topic),
		kgo.Balancers(addressBalancer{kgo.CooperativeStickyBalancer(), q.cfg.AdvertiseAddress}),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(q.cfg.SessionTimeout),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { q.joined.Store(true) }),
		kgo.AdjustFetchOffsetsFn(func(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
			return offsets, q.own(ctx, live, offsets[q.kafka.Topic])
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { q.disown(live, lost[q.kafka.Topic]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { q.disown(live, lost[q.kafka.Topic]) }),
	)...)
	if err != nil {
		return fmt.Errorf("querier group client: %w", err)
	}
	// Closing leaves the group, so the others take over at once.
	defer cl.Close()
	q.consume(ctx, cl, live)
	return nil
}

// waitForTopic waits until the trace log exists and records its partition
// count.
func (q *Querier) waitForTopic(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		n, err := tracelog.Partitions(ctx, q.cl, q.kafka.Topic)
		if err == nil {
			q.partitions.Store(n)
			return nil
		}
		q.logger.Warn("waiting for the trace log", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// own starts the live tail of partitions the group assigned, each where
// the block-builders' blocks end, and sets offsets to consume from there.
// The blocklist is asked to know every block below; until it does, the
// tail does not answer (serveLive waits).
func (q *Querier) own(ctx context.Context, live *LiveTail, offsets map[int32]kgo.Offset) error {
	if len(offsets) == 0 {
		return nil
	}
	start, err := q.liveStart(ctx)
	if err != nil {
		return err
	}
	need := make(map[int32]int64, len(offsets))
	for p := range offsets {
		live.Own(p, start[p])
		offsets[p] = kgo.NewOffset().At(start[p])
		need[p] = start[p]
	}
	q.blocklist.Require(need)
	q.logger.Info("live tail partitions assigned", "partitions", slices.Sorted(maps.Keys(need)))
	return nil
}

func (q *Querier) disown(live *LiveTail, partitions []int32) {
	if len(partitions) == 0 {
		return
	}
	live.Disown(partitions)
	for _, p := range partitions {
		q.metrics.lag.Forget(p)
	}
	q.logger.Info("live tail partitions revoked", "partitions", partitions)
}

// liveStart returns, per partition, where the block-builders' blocks end:
// their committed offset, or the log's start where they committed none.
// It retries until ctx ends.
func (q *Querier) liveStart(ctx context.Context) (map[int32]int64, error) {
	backoff := 100 * time.Millisecond
	for {
		logStart, err := tracelog.StartOffsets(ctx, q.cl, q.kafka.Topic)
		if err == nil {
			var committed map[int32]int64
			committed, err = consumer.Committed(ctx, q.cl, q.blocksGroup, q.kafka.Topic)
			if err == nil {
				start := maps.Clone(logStart)
				for p, off := range committed {
					start[p] = max(off, logStart[p])
				}
				return start, nil
			}
		}
		q.logger.Warn("cannot read where blocks end; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// consume adds every fetched record to live until ctx ends.
func (q *Querier) consume(ctx context.Context, cl *kgo.Client, live *LiveTail) {
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			q.logger.Warn("live tail fetch failed", "topic", topic, "partition", p, "err", err)
		})
		now := time.Now()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			for _, r := range fp.Records {
				tenant, td, err := consumer.Decode(r, q.tenants.Default)
				if err != nil {
					q.metrics.skipped.Add(r, err)
					live.Advance(r.Partition, r.Offset+1)
					continue
				}
				live.Add(tenant, r.Partition, r.Offset, r.Timestamp, r.Value, td)
			}
			if n := len(fp.Records); n > 0 {
				q.metrics.lag.Observe(fp.Partition, fp.Records[n-1], fp.HighWatermark, now)
			}
		})
	}
}

// afterPoll drops live records the blocklist now covers, and closes the
// readers of blocks no query reads any more, after each complete poll.
func (q *Querier) afterPoll() {
	q.polledOnce.Do(func() { close(q.polled) })
	if live := q.live.Load(); live != nil {
		live.Trim(q.blocklist.CoveredEnd)
	}
	read := make(map[uuid.UUID]bool)
	for _, t := range q.blocklist.Tenants() {
		for _, m := range q.blocklist.Metas(t) {
			read[m.BlockID] = true
		}
	}
	q.readers.retain(func(id uuid.UUID) bool { return read[id] })
}
