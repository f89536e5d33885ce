package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// runTool runs a spanlog tool to its end and returns what it printed, and
// its error when it exits with another code than 0.
func runTool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	return string(out), err
}

// replaySummary is the last line of spanlog replay: what it did.
var replaySummary = regexp.MustCompile(`replayed (\d+) records .*: (\d+) blocks written, (\d+) written again over themselves, (\d+) left to blocks that hold them, (\d+) failed`)

type replayed struct{ records, written, replaced, skipped, failed int }

func parseReplay(t *testing.T, out string) replayed {
	t.Helper()
	m := replaySummary.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("spanlog replay said no summary:\n%s", out)
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	return replayed{n(1), n(2), n(3), n(4), n(5)}
}

// TestReplay runs spanlog replay, the binary, beside a running cluster on
// MinIO: over blocks that exist (some of them merged by the compactor)
// while the builders write more, over blocks lost from the bucket, and
// twice. Every acked span is read back once after each, and the builders'
// group never notices: its member stays, and a reset is refused while it
// runs.
func TestReplay(t *testing.T) {
	minio := miniotest.Start(t)
	s3 := minio.NewBucket(t)
	c := newCluster(t, append(s3Flags(s3), fastCompaction...)...)
	_, otlp := c.startDistributor(t)
	builder := c.start(t, "block-builder", "block-builder")
	querier := c.start(t, "querier", "querier")
	compactor := c.start(t, "compactor", "compactor")

	cfg := loadgen.DefaultConfig()
	cfg.Endpoint = otlp
	cfg.Rate = 40
	cfg.SpansPerTrace = 5
	cfg.BatchTraces = 4
	cfg.RequestTimeout = 10 * time.Second
	res := sendFor(t, cfg, 8*time.Second)
	waitDrained(t, c)
	check := func(when string) {
		t.Helper()
		var counts spanCounts
		// A querier learns of blocks written or deleted at its next poll.
		waitForWhat(t, 30*time.Second, func() bool {
			counts = checkAcked(t, querier.http, res.Acked)
			return counts.missing == 0 && counts.duplicates == 0
		}, func() string { return fmt.Sprintf("every acked span once %s: %+v of %d", when, counts, res.AckedSpans) })
		if counts.found != int(res.AckedSpans) {
			t.Fatalf("%s: %+v, acked %d", when, counts, res.AckedSpans)
		}
	}
	check("before the replays")

	bkt, err := objstore.NewS3(s3, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "single-tenant"
	waitFor(t, 60*time.Second, "the compactor to merge blocks", func() bool {
		return metric(t, compactor.http, "spanlog_compactor_compactions_total") > 0
	})
	tool := append([]string{"-progress-interval=1ns"}, c.common...)

	// Over what exists, while the builders take more load.
	load := startLoad(t, cfg, 0)
	out, err := runTool(t, append([]string{"replay"}, tool...)...)
	if err != nil {
		t.Fatalf("spanlog replay: %v\n%s", err, out)
	}
	first := parseReplay(t, out)
	t.Logf("replay over the blocks: %+v", first)
	if first.records == 0 || first.written != 0 || first.skipped == 0 || first.failed != 0 {
		t.Fatalf("replay over existing blocks, some merged: %+v, want none added and the merged ones left\n%s", first, out)
	}
	if !strings.Contains(out, "records/s") || !strings.Contains(out, "partition 0: done") {
		t.Errorf("no progress lines:\n%s", out)
	}
	load.stop()
	more := load.wait(t)
	for id, spans := range more.Acked {
		res.Acked[id] = spans
	}
	res.AckedSpans += more.AckedSpans
	waitDrained(t, c)
	check("after a replay over the blocks")

	// Over blocks lost: every block readers read in partition 1.
	read, _ := blocksOf(t, bkt, tenant)
	lost := 0
	for _, m := range read {
		if slices.ContainsFunc(m.KafkaRanges, func(r schema.OffsetRange) bool { return r.Partition == 1 }) {
			for _, name := range []string{block.MetaName(tenant, m.BlockID), block.DataName(tenant, m.BlockID)} {
				if err := bkt.Delete(context.Background(), name); err != nil {
					t.Fatal(err)
				}
			}
			lost++
		}
	}
	if lost == 0 {
		t.Fatal("no block in partition 1")
	}
	out, err = runTool(t, append([]string{"replay", "-partitions=1"}, tool...)...)
	if err != nil {
		t.Fatalf("spanlog replay: %v\n%s", err, out)
	}
	second := parseReplay(t, out)
	t.Logf("replay of %d blocks lost: %+v", lost, second)
	if second.written == 0 || second.failed != 0 {
		t.Fatalf("replay over lost blocks: %+v\n%s", second, out)
	}
	check("after a replay of lost blocks")

	// Twice: nothing new.
	out, err = runTool(t, append([]string{"replay", "-partitions=1"}, tool...)...)
	if err != nil {
		t.Fatalf("spanlog replay: %v\n%s", err, out)
	}
	if again := parseReplay(t, out); again.written != 0 || again.failed != 0 || again.records != second.records {
		t.Fatalf("the same replay again: %+v, the first %+v\n%s", again, second, out)
	}
	check("after the same replay again")

	// The builder never left its group; its offsets cannot be reset while
	// it runs.
	out, err = runTool(t, append([]string{"offsets"}, c.common...)...)
	if err != nil || !strings.Contains(out, "block-builders: group spanlog-block-builder, 1 members") {
		t.Fatalf("spanlog offsets: %v\n%s", err, out)
	}
	out, err = runTool(t, append([]string{"offsets", "reset", "-to=earliest"}, c.common...)...)
	if err == nil || !strings.Contains(out, "Stop every block-builder") {
		t.Fatalf("spanlog offsets reset with a builder running: %v\n%s", err, out)
	}
	builder.stop(t)
	waitFor(t, 30*time.Second, "the builders' group to empty", func() bool {
		out, err := runTool(t, append([]string{"offsets", "reset", "-to=latest", "-dry-run"}, c.common...)...)
		return err == nil && strings.Contains(out, "nothing changed")
	})
}
