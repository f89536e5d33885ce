package grpcapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/api"
	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

// fixture is a querier with multi-tenancy on, over a kfake log and the
// blocks in a bucket, whose query API is served as cmd/spanlog serves it:
// HTTP and gRPC on one listener, h2c for gRPC.
type fixture struct {
	q          *querier.Querier
	reg        *prometheus.Registry
	producer   *kgo.Client
	partitions int32
	url        string // of the HTTP API
	client     tempopb.StreamingQuerierClient
}

// newFixture starts a fixture over bkt with cfg, within lim.
func newFixture(t *testing.T, bkt objstore.Bucket, cfg querier.Config, lim *limits.Overrides) *fixture {
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
	logger := slog.New(slog.DiscardHandler)
	q, err := querier.New(cfg, querier.Deps{
		Kafka: log, Tenants: tenant.Config{MultiTenancy: true, Default: querytest.Tenant}, Limits: lim,
		BlocksGroup: "builders", Bucket: bkt, Logger: logger, Registerer: reg,
	})
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

	a := api.New(q, logger, reg)
	mux := http.NewServeMux()
	a.RegisterRoutes(mux)
	g := New(a, q)
	srv := &http.Server{Handler: g.Handler(mux), Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		g.Stop()
		_ = srv.Close()
	})
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &fixture{
		q: q, reg: reg, producer: producer, partitions: log.Partitions,
		url: "http://" + ln.Addr().String(), client: tempopb.NewStreamingQuerierClient(conn),
	}
}

// writeBlock writes td as a block of tn before the fixture starts.
func writeBlock(t *testing.T, bkt objstore.Bucket, tn string, n int, td ptrace.Traces) {
	t.Helper()
	b := block.NewBuilder(tn, block.DefaultOptions())
	b.Add(td)
	if _, err := b.Write(context.Background(), bkt, []schema.OffsetRange{{Partition: int32(1000 + n), Start: 0, End: 1}}); err != nil {
		t.Fatal(err)
	}
}

// produce writes td, all of one trace, to the log as tn's, as the
// distributor would.
func (f *fixture) produce(t *testing.T, tn string, td ptrace.Traces) {
	t.Helper()
	rec, err := schema.EncodeRecord(tn, td)
	if err != nil {
		t.Fatal(err)
	}
	id := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
	rec.Topic, rec.Partition = kafkatest.Topic, schema.Partition(tn, id, f.partitions)
	if err := f.producer.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
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

// requests returns how many requests of route were answered with status.
func (f *fixture) requests(t *testing.T, route, status string) uint64 {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, fam := range families {
		if fam.GetName() != "spanlog_querier_request_duration_seconds" {
			continue
		}
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["status"] == status {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

func mustParse(t testing.TB, text string) *traceql.Query {
	t.Helper()
	q, err := traceql.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
