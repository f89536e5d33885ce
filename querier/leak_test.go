package querier

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

// TestRunLeavesNoGoroutines checks that once Run returns, after joining
// the querier group, consuming a live tail, polling the blocklist and
// answering a trace-by-ID query, no goroutine started since the querier
// was created is left.
func TestRunLeavesNoGoroutines(t *testing.T) {
	ctx := context.Background()
	kafka := kafkatest.New(t).Log(t, 4)
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tenants := tenant.DefaultConfig()
	lim, err := limits.NewOverrides(limits.Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	// A trace in the log, for the live tail to hold. The producing client
	// is closed before the snapshot, so its goroutines are not counted.
	id := pcommon.TraceID{15: 1}
	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetTraceID(id)
	span.SetSpanID(pcommon.SpanID{7: 1})
	r, err := schema.EncodeRecord(tenants.Default, td)
	if err != nil {
		t.Fatal(err)
	}
	r.Topic, r.Partition = kafka.Topic, schema.Partition(tenants.Default, id, kafka.Partitions)
	producer, err := kgo.NewClient(append(kafka.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	err = producer.ProduceSync(ctx, r).FirstErr()
	producer.Close()
	if err != nil {
		t.Fatal(err)
	}
	before := goleak.IgnoreCurrent()

	cfg := DefaultConfig()
	cfg.AdvertiseAddress = "127.0.0.1:1" // no peer: it owns every partition
	cfg.SessionTimeout = 6 * time.Second
	q, err := New(cfg, Deps{
		Kafka:       kafka,
		Tenants:     tenants,
		Limits:      lim,
		BlocksGroup: "builders",
		Bucket:      bkt,
		Logger:      slog.New(slog.DiscardHandler),
		Registerer:  prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(runCtx) }()
	for deadline := time.Now().Add(30 * time.Second); q.Ready() != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30s: %v", q.Ready())
		}
	}
	queryCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, found, err := q.FindTrace(queryCtx, []string{tenants.Default}, id, TimeRange{}); err != nil || !found {
		t.Fatalf("trace in the live tail: found %v, %v", found, err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	goleak.VerifyNone(t, append(kafkatest.IgnoreBroker(), before)...)
}
