package api

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newAPI returns the query API of q, its metrics in a registry of their
// own.
func newAPI(q *querier.Querier) *API {
	return New(q, discard(), prometheus.NewRegistry())
}

// routes returns a mux serving the query API of q.
func routes(q *querier.Querier) *http.ServeMux {
	mux := http.NewServeMux()
	newAPI(q).RegisterRoutes(mux)
	return mux
}

// unstartedQuerier returns a querier of cfg with multi-tenancy on, within
// lim, that is never started: it has joined no log, so every request that
// gets past its checks is answered 503.
func unstartedQuerier(t testing.TB, cfg querier.Config, lim *limits.Overrides) *querier.Querier {
	t.Helper()
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kafka := tracelog.DefaultConfig()
	kafka.Brokers = []string{"127.0.0.1:1"} // no broker: nothing asks it
	cfg.AdvertiseAddress = "127.0.0.1:1"
	q, err := querier.New(cfg, querier.Deps{
		Kafka: kafka, Tenants: tenant.Config{MultiTenancy: true, Default: querytest.Tenant}, Limits: lim,
		BlocksGroup: "builders", Bucket: bkt, Logger: discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	// New made a Kafka client, which Run closes; run under a context
	// that already ended, Run does nothing else.
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := q.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	return q
}

// unstartedRoutes returns the query API of an unstartedQuerier with the
// default configuration and no limits.
func unstartedRoutes(t testing.TB) *http.ServeMux {
	return routes(unstartedQuerier(t, querier.DefaultConfig(), querytest.NoLimits(t)))
}

// runningQuerier is a querier over a kfake log and the blocks in a bucket,
// run until the test ends, with a client that writes to its log.
type runningQuerier struct {
	*querier.Querier
	producer   *kgo.Client
	partitions int32
	reg        *prometheus.Registry
}

// startQuerier runs a querier over bkt and a new log of four partitions,
// and waits until it is ready.
func startQuerier(t testing.TB, bkt objstore.Bucket) *runningQuerier {
	t.Helper()
	return startQuerierWithin(t, bkt, querier.DefaultConfig(), tenant.DefaultConfig(), querytest.NoLimits(t))
}

// startQuerierWithin is startQuerier with cfg, tenants and lim.
func startQuerierWithin(t testing.TB, bkt objstore.Bucket, cfg querier.Config, tenants tenant.Config, lim *limits.Overrides) *runningQuerier {
	t.Helper()
	log := kafkatest.New(t).Log(t, 4)
	producer, err := kgo.NewClient(append(log.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	cfg.AdvertiseAddress = "127.0.0.1:1" // the only querier: no one asks it
	cfg.SessionTimeout = 6 * time.Second
	cfg.Blocklist.PollInterval = 100 * time.Millisecond
	reg := prometheus.NewRegistry()
	q, err := querier.New(cfg, querier.Deps{Kafka: log, Tenants: tenants, Limits: lim, BlocksGroup: "builders", Bucket: bkt, Logger: discard(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	await(t, "ready", func() bool { return q.Ready() == nil })
	return &runningQuerier{Querier: q, producer: producer, partitions: log.Partitions, reg: reg}
}

// awaitBlocks waits until the querier knows n blocks.
func (q *runningQuerier) awaitBlocks(t testing.TB, n int) {
	t.Helper()
	await(t, "knowing the blocks", func() bool { return promtest.Value(t, q.reg, "spanlog_blocklist_blocks") == float64(n) })
}

// await waits until cond holds, for 30 seconds at most.
func await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after 30s", what)
		}
	}
}

// produce writes td, all of one trace, to the log as the distributor
// would.
func (q *runningQuerier) produce(t testing.TB, td ptrace.Traces) {
	t.Helper()
	if err := q.producer.ProduceSync(context.Background(), querytest.Record(t, td, q.partitions)).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
