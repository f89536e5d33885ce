// Package querier answers queries over the trace log: it looks traces up
// by ID, and searches traces and their tags, in the blocks in object
// storage and in the live tails of the records blocks do not cover yet
// (querier/live), merging the two so each span is returned once.
//
// It owns the lookup of trace IDs in blocks (lookup.go), search and tags
// over blocks and live tails, with the digesters their live requests run
// on the tails' owners, and the per-tenant limits of a query (limits.go),
// which whatever serves the queries applies through its exported methods.
// It does not own the HTTP API, which querier/api does; the live tail,
// partition ownership or the peer protocol, which querier/live does;
// TraceQL, which querier/traceql does; the block format (block, schema);
// or writing blocks, which is the block-builder's. docs/design.md, "The
// querier's rooms", maps its files.
package querier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

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
	// searchCache keeps what searches learned of blocks.
	searchCache *searchCache
	queries     inFlight // query requests in flight, per tenant

	cl   *kgo.Client // reads offsets and the group; consumes nothing
	live *live.Tails
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
	// Packer, if not nil, shares the compressed values the live tail
	// holds with the block-builder of the same process.
	Packer *tracelog.Packer
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
	metrics := newMetrics(reg)
	q := &Querier{
		cfg:         cfg,
		kafka:       kafka,
		tenants:     deps.Tenants,
		limits:      lim,
		blocksGroup: deps.BlocksGroup,
		retention:   retention,
		bucket:      bucket,
		logger:      logger,
		metrics:     metrics,
		blocklist:   bl,
		readers:     newReaders(bucket, cfg.OpenBlocks),
		searchCache: newSearchCache(cfg.SearchCacheBytes, reg),
		cl:          cl,
		polled:      make(chan struct{}),
	}
	q.live = live.New(live.Config{
		Group:                 cfg.Group,
		AdvertiseAddress:      cfg.AdvertiseAddress,
		SessionTimeout:        cfg.SessionTimeout,
		MaxBytes:              cfg.LiveTailMaxBytes,
		FetchMinBytes:         cfg.LiveTailFetchMinBytes,
		FetchMaxWait:          cfg.LiveTailFetchMaxWait,
		ReadYourWritesTimeout: cfg.ReadYourWritesTimeout,
		PeerTimeout:           cfg.PeerTimeout,
		PeerMaxResponseBytes:  cfg.PeerMaxResponseBytes,
		StorageTimeout:        cfg.StorageTimeout,
		QueryTimeout:          cfg.QueryTimeout,
		Background:            cfg.Background,
	}, live.Deps{
		Kafka:          kafka,
		DefaultTenant:  deps.Tenants.Default,
		Client:         cl,
		BlocksGroup:    deps.BlocksGroup,
		Blocklist:      bl,
		Digesters:      newDigesters(),
		Logger:         logger,
		Registerer:     reg,
		Requests:       metrics.requests,
		StoragePartial: metrics.storagePartial,
		Packer:         deps.Packer,
	})
	return q, nil
}

// newDigesters returns the digester of each kind of live request but
// spans: search and tags decide what to make of the spans a tail holds.
func newDigesters() map[string]live.Digester {
	return map[string]live.Digester{liveCandidates: digestCandidates, liveTags: digestTags, liveMetrics: digestMetrics}
}

// Ready reports whether the querier can answer: it has joined the log and
// the querier group. It does not wait for the blocklist; queries wait for
// the first poll instead.
func (q *Querier) Ready() error {
	if !q.live.Ready() {
		return ErrNotReady
	}
	return nil
}

// QueryTimeout is querier.query-timeout: how long one request of a query
// API may run, writing its answer included.
func (q *Querier) QueryTimeout() time.Duration { return q.cfg.QueryTimeout }

// ObserveRequest records that a request of a query API's route was
// answered with status after took, in the histogram the peer routes
// report to as well: spanlog_querier_request_duration_seconds.
func (q *Querier) ObserveRequest(route string, status int, took time.Duration) {
	q.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Observe(took.Seconds())
}

// RegisterPeerRoutes adds to mux what other queriers ask this one for:
// the live tail of the partitions it owns. They read any tenant's data,
// named in the request body, so mux must be served on a listener only
// queriers reach, never on the query API's. They are not counted against
// max-concurrent-queries: the query they serve already is, where it came
// in.
func (q *Querier) RegisterPeerRoutes(mux *http.ServeMux) {
	q.live.RegisterRoutes(mux)
}

// Run joins the querier group, consumes the live tail of the partitions
// the group gives this querier, and polls the blocklist, until ctx ends.
func (q *Querier) Run(ctx context.Context) error {
	defer q.cl.Close()
	defer q.readers.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { q.blocklist.Run(ctx, q.afterPoll) })
	return q.live.Run(ctx)
}

// afterPoll drops live records the blocklist now covers, and closes the
// readers of blocks no query reads any more, after each complete poll.
func (q *Querier) afterPoll() {
	q.polledOnce.Do(func() { close(q.polled) })
	q.live.Trim(q.blocklist.CoveredEnd)
	read := make(map[uuid.UUID]bool)
	for _, t := range q.blocklist.Tenants() {
		for _, m := range q.blocklist.Metas(t) {
			read[m.BlockID] = true
		}
	}
	q.readers.retain(func(id uuid.UUID) bool { return read[id] })
	q.searchCache.retain(func(id uuid.UUID) bool { return read[id] })
}
