package querier

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/tenant"
)

// BenchmarkStartWith10kBlocks measures a querier starting against 10,000
// blocks in MinIO: the time until it is ready (it does not wait for the
// blocklist), and until it knows every block (from the tenant index).
func BenchmarkStartWith10kBlocks(b *testing.B) {
	const blocks = 10_000
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	log := kafkatest.New(b).Log(b, 16)
	bkt, err := objstore.NewS3(miniotest.Start(b).NewBucket(b), prometheus.NewRegistry(), logger)
	if err != nil {
		b.Fatal(err)
	}
	blocktest.SeedMetas(b, bkt, "bench", blocks)

	var ready, loaded time.Duration
	for b.Loop() {
		q, err := New(soloConfig(), Deps{Kafka: log, Tenants: tenant.DefaultConfig(), Limits: querytest.NoLimits(b), BlocksGroup: "builders", Bucket: bkt, Logger: logger, Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- q.Run(runCtx) }()
		for q.Ready() != nil {
			time.Sleep(time.Millisecond)
		}
		ready += time.Since(start)
		if err := q.blocklist.WaitLoaded(ctx); err != nil {
			b.Fatal(err)
		}
		loaded += time.Since(start)
		if n := len(q.blocklist.Metas("bench")); n != blocks {
			b.Fatalf("knows %d blocks, want %d", n, blocks)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(ready.Seconds()/float64(b.N), "s/ready")
	b.ReportMetric(loaded.Seconds()/float64(b.N), "s/all-blocks-known")
}
