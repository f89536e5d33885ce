package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// fastCompaction makes compactors merge, within seconds, blocks of a
// block-builder that cuts every second, and delete the inputs a few
// seconds later; the query timeout is cut to match the grace.
var fastCompaction = []string{
	"-block-builder.cycle-duration=1s",
	"-compactor.compaction-interval=1s",
	"-compactor.compaction-window=10s",
	"-compactor.max-input-blocks=4",
	"-compactor.deletion-grace=12s",
	"-compactor.session-timeout=6s",
	"-querier.query-timeout=10s",
}

// TestCompactorsKilledMidJob runs two compactors at once under OTLP load,
// on MinIO, with block-builders cutting a block a second, and kills each
// of them with SIGKILL in the middle of a compaction, then restarts it.
// Every acked span must then be read back exactly once; the jobs killed
// must have been done again (their inputs no longer read); and every
// block readers see must read whole.
func TestCompactorsKilledMidJob(t *testing.T) {
	duration := 40 * time.Second
	minio := miniotest.Start(t)
	s3 := minio.NewBucket(t)
	c := newCluster(t, append(s3Flags(s3), fastCompaction...)...)
	_, otlp := c.startDistributor(t)
	c.start(t, "block-builder", "block-builder")
	querier := c.start(t, "querier", "querier")
	compactors := []*process{
		c.start(t, "compactor-1", "compactor"),
		c.start(t, "compactor-2", "compactor"),
	}
	waitFor(t, 30*time.Second, "both compactors to hold partitions", func() bool {
		return metric(t, compactors[0].http, "spanlog_compactor_partitions") > 0 && metric(t, compactors[1].http, "spanlog_compactor_partitions") > 0
	})

	cfg := loadgen.DefaultConfig()
	cfg.Endpoint = otlp
	cfg.Rate = 60
	cfg.SpansPerTrace = 5
	cfg.BatchTraces = 4
	cfg.RequestTimeout = 10 * time.Second
	load := startLoad(t, cfg, duration)

	// Kill each compactor as it starts a job, and note the job's inputs.
	var killed [][]uuid.UUID
	for i := range compactors {
		inputs := killMidJob(t, compactors[i])
		t.Logf("killed %s compacting %d blocks", compactors[i].name, len(inputs))
		killed = append(killed, inputs)
		compactors[i] = compactors[i].restart(t)
	}
	res := load.wait(t)
	waitDrained(t, c)
	counts := checkAcked(t, querier.http, res.Acked)
	report := fmt.Sprintf("compactors killed mid-job: acked=%d found=%d duplicates=%d missing=%d", res.AckedSpans, counts.found, counts.duplicates, counts.missing)
	t.Log(report)
	if counts.missing > 0 || counts.duplicates > 0 || counts.found != int(res.AckedSpans) {
		t.Fatalf("acked spans lost or duplicated: %s", report)
	}

	bkt, err := objstore.NewS3(s3, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "single-tenant"
	// The windows of the load close 20s after they end, and are merged
	// whole; then the inputs go.
	var read, known []*schema.BlockMeta
	waitForWhat(t, 90*time.Second, func() bool {
		read, known = blocksOf(t, bkt, tenant)
		return len(read) == len(known) && !slices.ContainsFunc(read, func(m *schema.BlockMeta) bool {
			return slices.ContainsFunc(killed, func(inputs []uuid.UUID) bool { return slices.Contains(inputs, m.BlockID) })
		})
	}, func() string {
		return fmt.Sprintf("the killed jobs done again and every input deleted: %d blocks read of %d", len(read), len(known))
	})
	var compactions float64
	for _, p := range compactors {
		compactions += metric(t, p.http, "spanlog_compactor_compactions_total")
	}
	levels := map[int]int{}
	for _, m := range read {
		levels[m.CompactionLevel]++
		r, err := block.Open(context.Background(), bkt, m)
		if err != nil {
			t.Fatalf("block %s read: %v", m.BlockID, err)
		}
		all := block.SpanIDs | block.Name | block.Kind | block.Duration | block.Status | block.ServiceName | block.SpanAttrs | block.ResourceAttrs
		if err := r.Scan(context.Background(), block.ScanOptions{Columns: all}, func(*schema.SpanRow) error { return nil }); err != nil {
			t.Fatalf("block %s read: %v", m.BlockID, err)
		}
		r.Close()
	}
	t.Logf("%d blocks by level %v; %v compactions since the restarts", len(read), levels, compactions)
	if len(read) > 4*(int(duration/(10*time.Second))+3) {
		t.Errorf("%d blocks after compaction, want about one per partition and window", len(read))
	}
	// The same answer once the inputs are gone.
	if again := checkAcked(t, querier.http, res.Acked); again != counts {
		t.Fatalf("after compaction: %+v, before: %+v", again, counts)
	}
}

// jobInputs finds the inputs of a job starting in a compactor's log line.
var jobInputs = regexp.MustCompile(`msg="compacting blocks".* inputs="\[([^\]]*)\]"`)

// killMidJob waits until p starts a compaction, kills it with SIGKILL at
// once, and returns the job's inputs.
func killMidJob(t *testing.T, p *process) []uuid.UUID {
	t.Helper()
	before := len(jobInputs.FindAllString(p.log.String(), -1))
	waitFor(t, 60*time.Second, p.name+" to start a compaction", func() bool {
		return len(jobInputs.FindAllString(p.log.String(), -1)) > before
	})
	p.kill()
	matches := jobInputs.FindAllStringSubmatch(p.log.String(), -1)
	var ids []uuid.UUID
	for f := range strings.FieldsSeq(matches[before][1]) {
		ids = append(ids, uuid.MustParse(f))
	}
	return ids
}

// blocksOf lists tenant's blocks in bkt as a reader does: those it reads,
// and every one it knows.
func blocksOf(t *testing.T, bkt objstore.Bucket, tenant string) (read, known []*schema.BlockMeta) {
	t.Helper()
	bl, err := blocklist.New(blocklist.DefaultConfig(), bkt, blocklist.Options{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := bl.Poll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return bl.Metas(tenant), bl.Known(tenant)
}
