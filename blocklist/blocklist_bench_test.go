package blocklist

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
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
				bl, err := New(DefaultConfig(), bkt, Options{UseIndex: useIndex}, logger, prometheus.NewRegistry())
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

// BenchmarkSupersession measures what a poll spends deciding which blocks
// readers skip: 10,000 blocks of a partition, of which a tenth have been
// merged in groups of ten by a compaction whose inputs are not deleted
// yet.
func BenchmarkSupersession(b *testing.B) {
	metas := map[uuid.UUID]*schema.BlockMeta{}
	add := func(r schema.OffsetRange) {
		m := &schema.BlockMeta{BlockID: schema.BlockID("bench", []schema.OffsetRange{r}), Tenant: "bench", KafkaRanges: []schema.OffsetRange{r}}
		metas[m.BlockID] = m
	}
	for i := range int64(benchBlocks) {
		add(schema.OffsetRange{Partition: 0, Start: 10 * i, End: 10 * (i + 1)})
	}
	for i := range int64(benchBlocks / 100) {
		add(schema.OffsetRange{Partition: 0, Start: 100 * i, End: 100 * (i + 1)})
	}
	for b.Loop() {
		if n := len(supersession(metas)); n != benchBlocks/10 {
			b.Fatalf("%d blocks superseded, want %d", n, benchBlocks/10)
		}
	}
}
