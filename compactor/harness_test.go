package compactor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// blockSpec is a block of tenant built from [start, end) of partition,
// holding a span of each of traces (one of trace start when there are
// none), each ending at end (now when zero).
type blockSpec struct {
	tenant     string
	partition  int32
	start, end int64
	ended      time.Time
	traces     []byte
}

// fill adds the spans of block b to td. A span's ID tells its trace, block
// and partition apart, so that spans of one trace in two blocks are two
// spans.
func (b blockSpec) fill(td ptrace.Traces) {
	ended := b.ended
	if ended.IsZero() {
		ended = time.Now()
	}
	traces := b.traces
	if len(traces) == 0 {
		traces = []byte{byte(b.start)}
	}
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for _, tr := range traces {
		s := ss.AppendEmpty()
		s.SetTraceID(traceID(b.partition, tr))
		s.SetSpanID(pcommon.SpanID{0: byte(b.partition), 1: byte(b.start), 2: byte(b.start >> 8), 7: tr})
		s.SetName(fmt.Sprintf("span %d/%d", b.start, tr))
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(ended.Add(-time.Second)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(ended))
		s.Attributes().PutStr("block", fmt.Sprintf("%d-%d", b.start, b.end))
	}
}

// traceID is the ID of trace tr of partition p in these tests.
func traceID(p int32, tr byte) pcommon.TraceID {
	return pcommon.TraceID{0: 1, 1: byte(p), 15: tr}
}

func writeBlocks(t testing.TB, bkt objstore.Bucket, specs ...blockSpec) []*schema.BlockMeta {
	t.Helper()
	var out []*schema.BlockMeta
	for _, b := range specs {
		td := ptrace.NewTraces()
		b.fill(td)
		bb := block.NewBuilder(b.tenant, block.DefaultOptions())
		bb.Add(td)
		m, err := bb.Write(context.Background(), bkt, []schema.OffsetRange{{Partition: b.partition, Start: b.start, End: b.end}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// commit commits offsets for the block-builders' group "builders".
func commit(t testing.TB, log tracelog.Config, at map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(log.ClientOpts("test")...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offsets := kadm.Offsets{}
	for p, off := range at {
		offsets.Add(kadm.Offset{Topic: log.Topic, Partition: p, At: off, LeaderEpoch: -1})
	}
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "builders", offsets); err != nil {
		t.Fatal(err)
	}
}

// testConfig is a compactor's configuration in these tests: fast cycles,
// the grace as short as Validate allows, blocks kept for ever.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Blocklist.PollInterval = 50 * time.Millisecond
	cfg.CompactionInterval = 50 * time.Millisecond
	cfg.SessionTimeout = 6 * time.Second
	cfg.DeletionGrace = 200 * time.Millisecond
	cfg.BlockRetention = 0
	cfg.MaxInputBlocks = 4
	return cfg
}

// noLimits returns limits that set no block retention of their own.
func noLimits(t testing.TB) *limits.Overrides {
	t.Helper()
	o, err := limits.NewOverrides(limits.Config{}, discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// runningCompactor is a compactor run until the test ends or it is
// stopped.
type runningCompactor struct {
	*Compactor
	reg  *prometheus.Registry
	logs *logtest.Buffer
	stop func()
}

// runCompactor runs a compactor of bkt with cfg until the test ends.
func runCompactor(t testing.TB, cfg Config, log tracelog.Config, lim *limits.Overrides, bkt objstore.Bucket) *runningCompactor {
	t.Helper()
	reg, logs := prometheus.NewRegistry(), &logtest.Buffer{}
	c, err := New(cfg, log, "builders", lim, bkt, logs.Logger(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	rc := &runningCompactor{Compactor: c, reg: reg, logs: logs, stop: func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}}
	t.Cleanup(func() {
		rc.stop()
		if t.Failed() {
			t.Logf("compactor log:\n%s", logs)
		}
	})
	return rc
}

// await polls cond every few milliseconds until it holds, or fails the
// test after timeout saying what it waited for.
func await(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// view lists bkt as a reader would: the IDs of the blocks of tenant that
// readers read, and of every block with a meta.
func view(t testing.TB, bkt objstore.Bucket, tenant string) (read, exist []uuid.UUID) {
	t.Helper()
	bl, err := blocklist.New(blocklist.DefaultConfig(), bkt, blocklist.Options{}, discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := bl.Poll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return idsOf(bl.Metas(tenant)), idsOf(bl.Known(tenant))
}

func idsOf(metas []*schema.BlockMeta) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(metas))
	for _, m := range metas {
		out = append(out, m.BlockID)
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return out
}

// objects lists every object under prefix, recursively.
func objects(t testing.TB, bkt objstore.Bucket, prefix string) []string {
	t.Helper()
	var out []string
	var walk func(string)
	walk = func(prefix string) {
		err := bkt.List(context.Background(), prefix, func(name string) error {
			if name[len(name)-1] == '/' {
				walk(name)
			} else {
				out = append(out, name)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	walk(prefix)
	return out
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// backends returns a constructor of empty buckets per backend: a local
// directory, and a real MinIO started once for parent.
func backends(parent *testing.T) map[string]func(*testing.T) objstore.Bucket {
	var (
		once   sync.Once
		server *miniotest.Server
	)
	return map[string]func(*testing.T) objstore.Bucket{
		"dir": func(t *testing.T) objstore.Bucket {
			bkt, err := objstore.NewDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return bkt
		},
		"minio": func(t *testing.T) objstore.Bucket {
			once.Do(func() { server = miniotest.Start(parent) })
			bkt, err := objstore.NewS3(server.NewBucket(t), prometheus.NewRegistry(), discard())
			if err != nil {
				t.Fatal(err)
			}
			return bkt
		},
	}
}

// spanKey names a span in a block.
type spanKey struct {
	trace [16]byte
	span  [8]byte
}

// spans returns how many times each span is in the blocks of metas.
func spans(t testing.TB, bkt objstore.Bucket, metas []*schema.BlockMeta) map[spanKey]int {
	t.Helper()
	out := make(map[spanKey]int)
	for _, m := range metas {
		r, err := block.Open(context.Background(), bkt, m)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Scan(context.Background(), block.ScanOptions{Columns: block.SpanIDs}, func(row *schema.SpanRow) error {
			out[spanKey{row.TraceID, row.SpanID}]++
			return nil
		})
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// readMetas returns the blocks of tenant readers read.
func readMetas(t testing.TB, bkt objstore.Bucket, tenant string) []*schema.BlockMeta {
	t.Helper()
	bl, err := blocklist.New(blocklist.DefaultConfig(), bkt, blocklist.Options{}, discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := bl.Poll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return bl.Metas(tenant)
}
