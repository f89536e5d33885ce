package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// TestCatchUpBacklog measures how a block-builder catches up: the load
// generator, at its default shape, fills the log for SPANLOG_CATCHUP_BACKLOG
// (e.g. 5m) at SPANLOG_CATCHUP_RATE traces/s (default: the generator's, 100)
// while no builder runs, as after a day of builders down or an hour of
// object storage down. Then one builder, with the default settings of
// production (15s cycles, 8 partitions or SPANLOG_CATCHUP_PARTITIONS),
// drains it. The test reports the
// time to drain and the builder process's peak RSS, and checks that its
// blocks hold every acked span once. With SPANLOG_CATCHUP_BASELINE set to
// another spanlog binary, that build drains the same backlog first, under
// its own consumer group and into its own bucket, for a before and after.
// It runs only when asked: a backlog of minutes takes minutes to fill.
//
//	SPANLOG_CATCHUP_BACKLOG=5m go test -run TestCatchUpBacklog -v -timeout 60m ./e2e/
func TestCatchUpBacklog(t *testing.T) {
	v := os.Getenv("SPANLOG_CATCHUP_BACKLOG")
	if v == "" {
		t.Skip("set SPANLOG_CATCHUP_BACKLOG (e.g. 5m) to measure how block-builders drain a backlog")
	}
	backlog, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("SPANLOG_CATCHUP_BACKLOG: %v", err)
	}
	load := loadgen.DefaultConfig()
	if v := os.Getenv("SPANLOG_CATCHUP_RATE"); v != "" {
		if load.Rate, err = strconv.ParseFloat(v, 64); err != nil {
			t.Fatalf("SPANLOG_CATCHUP_RATE: %v", err)
		}
	}
	partitions := "8"
	if v := os.Getenv("SPANLOG_CATCHUP_PARTITIONS"); v != "" {
		partitions = v
	}
	builds := [][2]string{{"this build", binary}}
	if base := os.Getenv("SPANLOG_CATCHUP_BASELINE"); base != "" {
		builds = append([][2]string{{"baseline", base}}, builds...)
	}

	c := newCluster(t, "-kafka.partitions="+partitions)
	_, load.Endpoint = c.startDistributor(t)
	res := sendFor(t, load, backlog)
	logBytes := topicBytes(t, c)
	t.Logf("backlog: %v of %.0f traces/s, %d spans (%.0f spans/s), %d MiB in the log",
		backlog, load.Rate, res.AckedSpans, res.AckedSpansPerSecond(), logBytes>>20)
	// The last cycle of the log is cut only once it is over, by the
	// clock: past it, every build drains the same backlog.
	time.Sleep(time.Until(time.Now().Truncate(15 * time.Second).Add(15*time.Second + 2*time.Second)))

	for i, b := range builds {
		dir := t.TempDir()
		http, args := c.args(t, "block-builder",
			fmt.Sprintf("-block-builder.consumer-group=catch-up-%d", i),
			"-storage.local.path="+dir,
			"-block-builder.cycle-duration=15s",
			"-block-builder.idle-cut-delay=2s")
		start := time.Now()
		p := launchBinary(t, b[1], b[0], http, args)
		p.waitReady(t)
		// A builder that drains slower than the log was filled never
		// catches up with live ingest.
		waitCommittedEnd(t, c, fmt.Sprintf("catch-up-%d", i), backlog)
		drained := time.Since(start)
		rss := peakRSS(t, p.cmd.Process.Pid)
		p.stop(t)
		checkBlocksHold(t, dir, res.Acked, res.AckedSpans)
		t.Logf("%s: drained in %v, %.0f spans/s, %.1fx the ingest rate; peak RSS %d MiB",
			b[0], drained.Round(100*time.Millisecond), float64(res.AckedSpans)/drained.Seconds(),
			backlog.Seconds()/drained.Seconds(), rss>>20)
	}
}

// topicBytes returns the size of the record values in the log.
func topicBytes(t *testing.T, c *cluster) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka.Brokers()...), kgo.ConsumeTopics("spanlog-traces"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := tracelog.EndOffsets(t.Context(), cl, "spanlog-traces")
	if err != nil {
		t.Fatal(err)
	}
	var want, got, bytes int64
	for _, end := range ends {
		want += end
	}
	for got < want {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		if err := fetches.Err0(); err != nil {
			t.Fatalf("read the log: %v", err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value))
		})
	}
	return bytes
}

// peakRSS returns the peak resident set of process pid (Linux's VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if kb, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", kb, err)
			}
			return n << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// checkBlocksHold fails unless the blocks in the local bucket dir hold
// every acked span once and no other.
func checkBlocksHold(t *testing.T, dir string, acked map[trace.TraceID][]trace.SpanID, spans int64) {
	t.Helper()
	ctx := t.Context()
	bkt, err := objstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	stored := make(map[[24]byte]int)
	tenants, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range tenants {
		ids, err := os.ReadDir(filepath.Join(dir, tenant.Name()))
		if err != nil {
			continue
		}
		for _, e := range ids {
			id, err := uuid.Parse(e.Name())
			if err != nil {
				continue
			}
			m, err := block.ReadMeta(ctx, bkt, tenant.Name(), id)
			if err != nil {
				t.Fatalf("block %s/%s: %v", tenant.Name(), id, err)
			}
			r, err := block.Open(ctx, bkt, m)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Scan(ctx, block.ScanOptions{Columns: block.SpanIDs}, func(row *schema.SpanRow) error {
				var k [24]byte
				copy(k[:16], row.TraceID[:])
				copy(k[16:], row.SpanID[:])
				stored[k]++
				return nil
			})
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if int64(len(stored)) != spans {
		t.Errorf("blocks hold %d distinct spans, %d were acked", len(stored), spans)
	}
	for id, sids := range acked {
		for _, sid := range sids {
			var k [24]byte
			copy(k[:16], id[:])
			copy(k[16:], sid[:])
			if n := stored[k]; n != 1 {
				t.Fatalf("span %s/%s stored %d times", id, sid, n)
			}
		}
	}
}
