package live

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/internal/threadprio"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// Config is what the querier's configuration (querier.Config, which
// documents each setting and its default) says of the live tails.
type Config struct {
	// Group is the consumer group queriers share the partitions through.
	Group string
	// AdvertiseAddress is where other queriers reach this one's peer
	// routes.
	AdvertiseAddress string
	// SessionTimeout is how long the group waits for a silent querier.
	SessionTimeout time.Duration
	// MaxBytes bounds this querier's tail (querier.live-tail-max-bytes).
	MaxBytes int64
	// FetchMinBytes is how many bytes of new records a fetch waits for
	// (querier.live-tail-fetch-min-bytes).
	FetchMinBytes int64
	// FetchMaxWait is the longest a fetch waits for them
	// (querier.live-tail-fetch-max-wait).
	FetchMaxWait time.Duration
	// ReadYourWritesTimeout bounds a tail's wait to reach a request's
	// end offsets.
	ReadYourWritesTimeout time.Duration
	// PeerTimeout bounds one request to another querier.
	PeerTimeout time.Duration
	// PeerMaxResponseBytes bounds an answer between queriers.
	PeerMaxResponseBytes int64
	// StorageTimeout bounds a request's waits on object storage for the
	// blocklist, when the request started none.
	StorageTimeout time.Duration
	// QueryTimeout bounds one request from another querier.
	QueryTimeout time.Duration
	// Background is the priority of the thread that decodes and indexes
	// what the tail consumes (querier.Config.Background).
	Background threadprio.Nice
}

// Deps are what the live tails read and report to, besides their Config.
type Deps struct {
	// Kafka describes the trace log.
	Kafka tracelog.Config
	// DefaultTenant is the tenant of records that name none (see
	// tracelog.Config.Tenancy).
	DefaultTenant string
	// Client reads offsets and the group; it consumes nothing, and the
	// caller closes it.
	Client *kgo.Client
	// BlocksGroup is the block-builders' consumer group: its committed
	// offsets say where blocks end and a tail begins.
	BlocksGroup string
	// Blocklist knows the blocks below the tails.
	Blocklist *blocklist.Blocklist
	// Digesters answer the live requests of each kind but KindSpans.
	Digesters map[string]Digester
	Logger    *slog.Logger
	// Registerer takes the live tails' metrics.
	Registerer prometheus.Registerer
	// Requests observes each request another querier makes, by route and
	// status.
	Requests *prometheus.HistogramVec
	// StoragePartial counts the waits on object storage cut short.
	StoragePartial prometheus.Counter
	// Packer, if not nil, shares the compressed values of the records
	// the tail holds with the block-builder of the same process.
	Packer *tracelog.Packer
}

// Tails reads the live tail of every partition: it consumes the
// partitions the querier group gives this querier into its own Tail,
// serves that tail to the other queriers, and asks each of them for
// theirs.
type Tails struct {
	cfg       Config
	kafka     tracelog.Config
	tenancy   schema.RecordTenancy
	cl        *kgo.Client
	blocks    string
	blocklist *blocklist.Blocklist
	digesters map[string]Digester
	logger    *slog.Logger
	metrics   *metrics
	requests  *prometheus.HistogramVec
	storage   prometheus.Counter
	packer    *tracelog.Packer

	owners     *owners      // who holds the partitions this querier does not
	peers      *http.Client // asks them for their tails
	partitions atomic.Int32 // 0 until Run learned the topic
	tail       atomic.Pointer[Tail]
	joined     atomic.Bool // the querier group gave this querier its share
}

// New returns the live tails cfg and deps describe; Run starts them.
func New(cfg Config, deps Deps) *Tails {
	t := &Tails{
		cfg:       cfg,
		kafka:     deps.Kafka,
		tenancy:   deps.Kafka.Tenancy(deps.DefaultTenant),
		cl:        deps.Client,
		blocks:    deps.BlocksGroup,
		blocklist: deps.Blocklist,
		digesters: deps.Digesters,
		logger:    deps.Logger,
		metrics:   newMetrics(deps.Registerer, deps.Logger),
		requests:  deps.Requests,
		storage:   deps.StoragePartial,
		packer:    deps.Packer,
		owners:    &owners{adm: kadm.NewClient(deps.Client), group: cfg.Group, topic: deps.Kafka.Topic},
		peers:     &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}},
	}
	t.metrics.register(deps.Registerer, t.Tail, cfg.MaxBytes)
	return t
}

// Tail is this querier's own tail; nil until Run started consuming.
func (t *Tails) Tail() *Tail { return t.tail.Load() }

// Partitions is the trace log's partition count; 0 until Run learned it.
func (t *Tails) Partitions() int32 { return t.partitions.Load() }

// Ready reports whether this querier joined the log and the group.
func (t *Tails) Ready() bool { return t.tail.Load() != nil && t.joined.Load() }

// Trim drops the records covered says blocks hold.
func (t *Tails) Trim(covered func(tenant string, partition int32) int64) {
	if tail := t.tail.Load(); tail != nil {
		tail.Trim(covered)
	}
}

// Run joins the querier group and consumes the tail of the partitions the
// group gives this querier, until ctx ends.
func (t *Tails) Run(ctx context.Context) error {
	defer t.peers.CloseIdleConnections()
	if err := t.waitForTopic(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	tail := NewTail(t.cfg.MaxBytes, nil)
	t.tail.Store(tail)
	cl, err := kgo.NewClient(append(t.kafka.ClientOpts("spanlog-querier"),
		kgo.ConsumerGroup(t.cfg.Group),
		kgo.ConsumeTopics(t.kafka.Topic),
		kgo.Balancers(addressBalancer{kgo.CooperativeStickyBalancer(), t.cfg.AdvertiseAddress}),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(t.cfg.SessionTimeout),
		// Caught up, a fetch waits for a batch of new records, at most
		// FetchMaxWait: how long an acked span may be missing here.
		kgo.FetchMinBytes(int32(t.cfg.FetchMinBytes)),
		kgo.FetchMaxWait(t.cfg.FetchMaxWait),
		// Tail.Add copies what the tail keeps of a record: its batch's
		// memory goes back to the client once consume is done with it.
		tracelog.ReaderPools(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { t.joined.Store(true) }),
		kgo.AdjustFetchOffsetsFn(func(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
			return offsets, t.own(ctx, tail, offsets[t.kafka.Topic])
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { t.disown(tail, lost[t.kafka.Topic]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { t.disown(tail, lost[t.kafka.Topic]) }),
	)...)
	if err != nil {
		return fmt.Errorf("querier group client: %w", err)
	}
	// Closing leaves the group, so the others take over at once.
	defer cl.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		t.cfg.Background.Lower()
		t.consume(ctx, cl, tail)
	})
	wg.Wait()
	return nil
}

// waitForTopic waits until the trace log exists and records its partition
// count.
func (t *Tails) waitForTopic(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		n, err := tracelog.Partitions(ctx, t.cl, t.kafka.Topic)
		if err == nil {
			t.partitions.Store(n)
			return nil
		}
		t.logger.Warn("waiting for the trace log", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// own starts the tail of partitions the group assigned, each where the
// block-builders' blocks end, and sets offsets to consume from there.
// The blocklist is asked to know every block below; until it does, the
// tail does not answer (serve waits).
func (t *Tails) own(ctx context.Context, tail *Tail, offsets map[int32]kgo.Offset) error {
	if len(offsets) == 0 {
		return nil
	}
	start, err := t.start(ctx)
	if err != nil {
		return err
	}
	need := make(map[int32]int64, len(offsets))
	for p := range offsets {
		tail.Own(p, start[p])
		offsets[p] = kgo.NewOffset().At(start[p])
		need[p] = start[p]
	}
	t.blocklist.Require(need)
	t.logger.Info("live tail partitions assigned", "partitions", slices.Sorted(maps.Keys(need)))
	return nil
}

func (t *Tails) disown(tail *Tail, partitions []int32) {
	if len(partitions) == 0 {
		return
	}
	tail.Disown(partitions)
	for _, p := range partitions {
		t.metrics.lag.Forget(p)
	}
	t.logger.Info("live tail partitions revoked", "partitions", partitions)
}

// start returns, per partition, where the block-builders' blocks end:
// their committed offset, or the log's start where they committed none.
// It retries until ctx ends.
func (t *Tails) start(ctx context.Context) (map[int32]int64, error) {
	backoff := 100 * time.Millisecond
	for {
		logStart, err := tracelog.StartOffsets(ctx, t.cl, t.kafka.Topic)
		if err == nil {
			var committed map[int32]int64
			committed, err = tracelog.CommittedOffsets(ctx, t.cl, t.blocks, t.kafka.Topic)
			if err == nil {
				start := maps.Clone(logStart)
				for p, off := range committed {
					start[p] = max(off, logStart[p])
				}
				return start, nil
			}
		}
		t.logger.Warn("cannot read where blocks end; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// consume adds every fetched record to tail until ctx ends.
func (t *Tails) consume(ctx context.Context, cl *kgo.Client, tail *Tail) {
	dec := newRecordDecoder()
	var held, scratch []byte
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.logger.Warn("live tail fetch failed", "topic", topic, "partition", p, "err", err)
		})
		now := time.Now()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			for _, r := range fp.Records {
				tenant, rows, err := dec.decode(r, t.tenancy)
				if err != nil {
					t.metrics.skipped.Add(r, err)
					tail.Advance(r.Partition, r.Offset+1)
					continue
				}
				held, scratch = t.packer.Pack(r, scratch)
				tail.addHeld(tenant, r.Partition, r.Offset, r.Timestamp, held, rows)
			}
			if n := len(fp.Records); n > 0 {
				t.metrics.lag.Observe(fp.Partition, fp.Records[n-1], fp.HighWatermark, now)
			}
		})
		tracelog.Recycle(fetches)
	}
}

// recordDecoder decodes the records a tail consumes into rows.
type recordDecoder struct {
	dec  schema.RowDecoder
	rows []schema.SpanRow
}

// newRecordDecoder returns a decoder of what the tail reads of records:
// their spans' fields and attributes and their resources' attributes,
// which the summaries and indexes hold. Events and links are left out: a
// search judges its conditions on them on its candidates read whole. The
// rows borrow the record's memory: Tail.Add copies what it keeps of them.
func newRecordDecoder() *recordDecoder {
	return &recordDecoder{dec: schema.RowDecoder{NoEventsOrLinks: true, Borrow: true}}
}

// decode returns the tenant of r and its spans as rows, which hold until
// the next call.
func (d *recordDecoder) decode(r *kgo.Record, tenancy schema.RecordTenancy) (string, []schema.SpanRow, error) {
	// Nothing reads the last record's rows: the tail holds none of
	// their memory.
	d.dec.Recycle()
	tenant, rows, err := schema.DecodeRecordRows(&d.dec, d.rows[:0], r, tenancy)
	d.rows = rows
	return tenant, rows, err
}

// newStorageWait starts the bound on object storage of a request that
// came without one.
func (t *Tails) newStorageWait() StorageWait {
	return NewStorageWait(t.cfg.StorageTimeout, t.storage, t.logger)
}
