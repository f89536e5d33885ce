package compactor

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

func TestIndexListsBlocksAndTheCommitsBeforeTheListing(t *testing.T) {
	ctx := context.Background()
	log := kafkatest.New(t).Log(t, 2)
	cl, err := kgo.NewClient(log.ClientOpts("test")...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	// Two blocks of t1 in partition 0, one of t2 in partition 1, and the
	// builders' commits behind them.
	var want []*schema.BlockMeta
	for _, b := range []struct {
		tenant     string
		partition  int32
		start, end int64
	}{{"t1", 0, 0, 5}, {"t1", 0, 5, 9}, {"t2", 1, 0, 3}} {
		td := ptrace.NewTraces()
		s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0: 1, 15: byte(b.start)})
		s.SetSpanID(pcommon.SpanID{0: 1})
		bb := block.NewBuilder(b.tenant, block.DefaultOptions())
		bb.Add(td)
		m, err := bb.Write(ctx, bkt, []schema.OffsetRange{{Partition: b.partition, Start: b.start, End: b.end}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: log.Topic, Partition: 0, At: 9, LeaderEpoch: -1})
	offsets.Add(kadm.Offset{Topic: log.Topic, Partition: 1, At: 3, LeaderEpoch: -1})
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "builders", offsets); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.Blocklist.PollInterval = 50 * time.Millisecond
	c, err := New(cfg, log, "builders", bkt, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	indexes := map[string]*schema.TenantIndex{}
	deadline := time.Now().Add(10 * time.Second)
	for len(indexes) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("indexes written: %d of 2", len(indexes))
		}
		for _, tenant := range []string{"t1", "t2"} {
			if x, err := block.ReadIndex(ctx, bkt, tenant); err == nil {
				indexes[tenant] = x
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range want {
		x := indexes[m.Tenant]
		found := false
		for _, im := range x.Metas {
			found = found || (im.BlockID == m.BlockID && im.TotalSpans == m.TotalSpans)
		}
		if !found {
			t.Errorf("index of %s lacks block %s", m.Tenant, m.BlockID)
		}
		if !maps.Equal(x.Committed, map[int32]int64{0: 9, 1: 3}) {
			t.Errorf("index of %s: committed %v, want the group's commits", m.Tenant, x.Committed)
		}
	}
	if n := len(indexes["t1"].Metas) + len(indexes["t2"].Metas); n != 3 {
		t.Errorf("indexes hold %d blocks, want 3", n)
	}
}
