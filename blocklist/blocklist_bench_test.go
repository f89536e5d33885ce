package blocklist

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
)

// benchBlocks is the blocklist size the benchmarks poll.
const benchBlocks = 10_000

// BenchmarkPollMinIO measures how long a process that just started takes
// to know all of 10,000 blocks in MinIO: from the tenant index (one read)
// and, for comparison, by listing and reading every meta. Readiness waits
// for neither; this is the time until queries see every block.
func BenchmarkPollMinIO(b *testing.B) {
	server := miniotest.Start(b)
	cfg := server.NewBucket(b)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	bkt, err := objstore.NewS3(cfg, prometheus.NewRegistry(), logger)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	blocktest.SeedMetas(b, bkt, "bench", benchBlocks)
	b.Logf("seeded %d blocks in %v", benchBlocks, time.Since(start))

	for _, useIndex := range []bool{true, false} {
		name := map[bool]string{true: "index", false: "listing"}[useIndex]
		b.Run(fmt.Sprintf("%s/blocks=%d", name, benchBlocks), func(b *testing.B) {
			for b.Loop() {
				bl, err := New(DefaultConfig(), bkt, useIndex, logger, prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				if err := bl.Poll(context.Background(), nil); err != nil {
					b.Fatal(err)
				}
				if n := len(bl.Metas("bench")); n != benchBlocks {
					b.Fatalf("knows %d blocks, want %d", n, benchBlocks)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/first-poll")
		})
	}
}
