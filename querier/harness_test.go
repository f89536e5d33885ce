package querier

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/tenant"
)

// runningQuerier is a querier over a kfake log and the blocks in a bucket,
// run until the test ends, with a client that writes to its log.
type runningQuerier struct {
	*Querier
	producer   *kgo.Client
	partitions int32
	stop       func() // leaves the group and stops serving
	// reg and logs hold the querier's metrics and what it logged.
	reg  *prometheus.Registry
	logs *logtest.Buffer
}

// soloConfig is the configuration of a querier that is the only one: no
// other querier will ever call the address it advertises.
func soloConfig() Config {
	cfg := DefaultConfig()
	cfg.AdvertiseAddress = "127.0.0.1:1"
	return cfg
}

// unstartedQuerier returns a querier with multi-tenancy on that was never
// started: it has joined no log, so every request that gets past its
// checks is answered 503.
func unstartedQuerier(t testing.TB) *Querier {
	cfg, reg, logger := DefaultConfig(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler)
	m := newMetrics(reg)
	return &Querier{
		tenants: tenant.Config{MultiTenancy: true, Default: "single-tenant"},
		logger:  logger,
		metrics: m,
		limits:  querytest.NoLimits(t),
		cfg:     cfg,
		live: live.New(live.Config{QueryTimeout: cfg.QueryTimeout}, live.Deps{
			Digesters: newDigesters(), Logger: logger, Registerer: reg, Requests: m.requests,
		}),
	}
}

// startQuerier runs a querier over bkt and a new log of four partitions,
// and waits until it is ready and knows the blocks already in bkt.
func startQuerier(t testing.TB, bkt objstore.Bucket) *runningQuerier {
	t.Helper()
	return startQuerierWithin(t, bkt, DefaultConfig(), tenant.DefaultConfig(), querytest.NoLimits(t))
}

// startQuerierWithin is startQuerier with cfg, tenants and lim.
func startQuerierWithin(t testing.TB, bkt objstore.Bucket, cfg Config, tenants tenant.Config, lim *limits.Overrides) *runningQuerier {
	t.Helper()
	return startQueriersWithin(t, bkt, 1, cfg, tenants, lim)[0]
}

// startQueriers runs n queriers, as startQuerier does one, sharing one log
// and the partitions' live tails; each serves its peer routes on 127.0.0.1.
func startQueriers(t testing.TB, bkt objstore.Bucket, n int) []*runningQuerier {
	t.Helper()
	return startQueriersWithin(t, bkt, n, DefaultConfig(), tenant.DefaultConfig(), querytest.NoLimits(t))
}

func startQueriersWithin(t testing.TB, bkt objstore.Bucket, n int, cfg Config, tenants tenant.Config, lim *limits.Overrides) []*runningQuerier {
	t.Helper()
	cfg.Blocklist.PollInterval = 100 * time.Millisecond
	cfgs := make([]Config, n)
	for i := range cfgs {
		cfgs[i] = cfg
	}
	return startQueriersEach(t, bkt, cfgs, tenants, lim)
}

// startQueriersEach runs a querier with each of cfgs, as startQueriers
// does, polling the blocklist as each cfg says.
func startQueriersEach(t testing.TB, bkt objstore.Bucket, cfgs []Config, tenants tenant.Config, lim *limits.Overrides) []*runningQuerier {
	t.Helper()
	out := launchQueriers(t, bkt, cfgs, tenants, lim)
	for _, q := range out {
		if err := q.blocklist.WaitLoaded(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// launchQueriers runs a querier with each of cfgs and waits until each is
// ready, but not for their blocklists.
func launchQueriers(t testing.TB, bkt objstore.Bucket, cfgs []Config, tenants tenant.Config, lim *limits.Overrides) []*runningQuerier {
	t.Helper()
	ctx := context.Background()
	log := kafkatest.New(t).Log(t, 4)
	producer, err := kgo.NewClient(append(log.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	out := make([]*runningQuerier, len(cfgs))
	for i, cfg := range cfgs {
		ln := listen(t)
		cfg.SessionTimeout = 6 * time.Second
		cfg.AdvertiseAddress = ln.Addr().String()
		reg, logs := prometheus.NewRegistry(), &logtest.Buffer{}
		q, err := New(cfg, Deps{Kafka: log, Tenants: tenants, Limits: lim, BlocksGroup: "builders", Bucket: bkt, Logger: logs.Logger(), Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		// Other queriers reach it on its peer routes, as on its own
		// listener in a process.
		srv := serve(ln, q.RegisterPeerRoutes)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- q.Run(runCtx) }()
		rq := &runningQuerier{Querier: q, producer: producer, partitions: log.Partitions, reg: reg, logs: logs, stop: sync.OnceFunc(func() {
			stop()
			if err := <-done; err != nil {
				t.Error(err)
			}
			srv.Close()
		})}
		t.Cleanup(rq.stop)
		out[i] = rq
	}
	for _, q := range out {
		for q.Ready() != nil {
			time.Sleep(time.Millisecond)
		}
	}
	return out
}

// listen returns a listener on a free loopback port.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serve serves on ln the routes register adds to a mux, until closed.
func serve(ln net.Listener, register func(*http.ServeMux)) *http.Server {
	mux := http.NewServeMux()
	register(mux)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return srv
}

// produce writes td, all of one trace, to the log as the distributor
// would, and returns where the record landed.
func (q *runningQuerier) produce(t testing.TB, td ptrace.Traces) (partition int32, offset int64) {
	t.Helper()
	rec := querytest.Record(t, td, q.partitions)
	if err := q.producer.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return rec.Partition, rec.Offset
}

// readCountingBucket counts the objects opened and the ranged reads of
// them: the requests a lookup makes to object storage (on S3, an open is
// a HEAD request).
type readCountingBucket struct {
	objstore.Bucket
	opens, reads atomic.Int64
}

func (b *readCountingBucket) Open(ctx context.Context, name string) (objstore.ReaderAt, error) {
	b.opens.Add(1)
	r, err := b.Bucket.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return readCountingReaderAt{ReaderAt: r, reads: &b.reads}, nil
}

// OpenSized opens as the bucket it wraps does for a block: without a
// request where it can (see objstore.SizedOpener).
func (b *readCountingBucket) OpenSized(ctx context.Context, name string, size int64) (objstore.ReaderAt, error) {
	if _, ok := b.Bucket.(objstore.SizedOpener); !ok {
		return b.Open(ctx, name)
	}
	r, err := objstore.OpenSized(ctx, b.Bucket, name, size)
	if err != nil {
		return nil, err
	}
	return readCountingReaderAt{ReaderAt: r, reads: &b.reads}, nil
}

type readCountingReaderAt struct {
	objstore.ReaderAt
	reads *atomic.Int64
}

func (r readCountingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	r.reads.Add(1)
	return r.ReaderAt.ReadAt(p, off)
}
