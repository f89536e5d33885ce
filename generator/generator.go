// Package generator is the metrics-generator: it consumes the trace log
// in a consumer group of its own, derives Prometheus series from the
// spans, as Grafana Tempo's metrics-generator names them (span metrics:
// calls and latency per service, span name, kind and status; the service
// graph: requests between services), and publishes them on a scrape
// endpoint and by Prometheus remote write. Each partition's series are saved
// with the offset they count up to, so that whichever generator owns the
// partition next resumes the same cumulative values: a span is counted
// once across crashes and rebalances. It owns the series and their state;
// the records' format is schema's, and where the log is, tracelog's.
package generator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

// Deps are what a generator reads and reports to, besides its Config.
type Deps struct {
	// Kafka describes the trace log.
	Kafka tracelog.Config
	// Tenants says how scrape requests and records map to tenants.
	Tenants tenant.Config
	// Limits gives each tenant's max-active-series.
	Limits *limits.Overrides
	// Bucket holds the partitions' saved states.
	Bucket     objstore.Bucket
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Generator is one member of the metrics-generator group.
type Generator struct {
	cfg     Config
	kafka   tracelog.Config
	tenants tenant.Config
	bucket  objstore.Bucket
	logger  *slog.Logger
	metrics *metrics
	now     func() time.Time

	specs       [kindCount]*kindSpec // immutable, shared with the deriver
	descs       *descs
	fingerprint uint64
	writer      *remoteWriter // nil without remote write

	mu     sync.Mutex // guards the fields below against the group's callbacks
	derive *deriver
	parts  map[int32]*partitionState // the partitions the group assigned

	pubMu     sync.RWMutex
	published map[int32]*snapshot
}

// New returns a metrics-generator of cfg over deps.
func New(cfg Config, deps Deps) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.Kafka.Validate(); err != nil {
		return nil, err
	}
	m := newMetrics(deps.Registerer, deps.Logger)
	lim := deps.Limits
	g := &Generator{
		cfg:       cfg,
		kafka:     deps.Kafka,
		tenants:   deps.Tenants,
		bucket:    deps.Bucket,
		logger:    deps.Logger,
		metrics:   m,
		now:       time.Now,
		parts:     make(map[int32]*partitionState),
		published: make(map[int32]*snapshot),
	}
	g.derive = newDeriver(cfg, func(t string) int { return lim.For(t).MetricsGeneratorMaxActiveSeries }, &limitReporter{
		discarded: m.spansDiscarded,
		logger:    deps.Logger,
		now:       time.Now,
		logged:    make(map[string]time.Time),
	})
	g.specs = g.derive.specs
	g.descs = newDescs(g.specs)
	g.fingerprint = g.derive.fingerprint()
	if cfg.RemoteWrite.URL != "" {
		g.writer = newRemoteWriter(cfg.RemoteWrite, g.specs, deps.Logger, deps.Registerer)
	}
	return g, nil
}

// Run consumes and derives series until ctx ends, then saves what it
// derived since the last save, within FlushTimeout.
func (g *Generator) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(append(g.kafka.ClientOpts("spanlog-metrics-generator"),
		kgo.ConsumerGroup(g.cfg.ConsumerGroup),
		kgo.SessionTimeout(g.cfg.SessionTimeout),
		kgo.HeartbeatInterval(g.cfg.SessionTimeout/5),
		kgo.RebalanceTimeout(g.cfg.RebalanceTimeout),
		kgo.ConsumeTopics(g.kafka.Topic),
		kgo.DisableAutoCommit(),
		// No partition changes hands between a poll and the save of
		// what was derived from it: a save is never made for a
		// partition another generator already resumed.
		kgo.BlockRebalanceOnPoll(),
		// Where each partition resumes is its saved state's offset,
		// not the group's commit (see resume).
		kgo.AdjustFetchOffsetsFn(g.resume),
		kgo.OnPartitionsRevoked(g.drop),
		kgo.OnPartitionsLost(g.drop),
		// Records of aborted transactions were never acked: they are
		// no spans to count.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(int32(g.cfg.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(min(g.cfg.FetchMaxBytes, 1<<20))),
		kgo.MaxConcurrentFetches(2),
		// Caught up, a fetch waits for a batch of new records.
		kgo.FetchMinBytes(int32(g.cfg.FetchMinBytes)),
		kgo.FetchMaxWait(g.cfg.FetchMaxWait),
		// The decoder copies what the series keep of a record (it does
		// not borrow): its batch's memory goes back to the client once
		// the poll is derived.
		tracelog.ReaderPools(),
	)...)
	if err != nil {
		return fmt.Errorf("metrics-generator kafka client: %w", err)
	}
	// Closing leaves the group, so the partitions move at once.
	defer cl.CloseAllowingRebalance()
	if g.writer != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		writeCtx, stopWriter := context.WithCancel(ctx)
		defer stopWriter()
		wg.Go(func() { g.writer.run(writeCtx) })
	}

	rr := newRecordReader(g.derive)
	tenancy := g.kafka.Tenancy(g.tenants.Default)
	nextFlush := g.now().Add(g.cfg.FlushInterval)
	for {
		pollCtx, cancel := context.WithDeadline(ctx, nextFlush)
		fetches := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			// What was derived since the last save is saved, so that
			// the next owner need not read it again; a failure costs
			// only that reading.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.FlushTimeout)
			g.flush(final, cl)
			cancel()
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				g.logger.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
			}
		})
		now := g.now()
		g.mu.Lock()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			p := g.parts[fp.Partition]
			if p == nil {
				return
			}
			for _, r := range fp.Records {
				if r.Offset < p.offset {
					continue // counted already
				}
				tn, rows, err := rr.read(r, tenancy)
				if err != nil {
					g.metrics.skipped.Add(r, err)
				}
				g.derive.apply(p, tn, rows, r.Timestamp.UnixNano(), r.Offset)
				g.metrics.spans.Add(float64(len(rows)))
			}
			g.metrics.records.Add(float64(len(fp.Records)))
			if n := len(fp.Records); n > 0 {
				g.metrics.lag.Observe(fp.Partition, fp.Records[n-1], fp.HighWatermark, now)
			}
		})
		g.mu.Unlock()
		tracelog.Recycle(fetches)
		if !now.Before(nextFlush) {
			flushCtx, cancel := context.WithTimeout(ctx, g.cfg.FlushTimeout)
			g.flush(flushCtx, cl)
			cancel()
			if g.writer != nil {
				g.writer.offer(&push{snapshots: g.publishedSnapshots(), at: g.now()})
			}
			nextFlush = g.now().Add(g.cfg.FlushInterval)
		}
		cl.AllowRebalance()
	}
}
