package blocklist

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

func newLoggedBlocklist(t *testing.T, bkt objstore.Bucket, useIndex bool) (*Blocklist, *logtest.Buffer, *prometheus.Registry) {
	t.Helper()
	logs := &logtest.Buffer{}
	reg := prometheus.NewRegistry()
	bl, err := New(DefaultConfig(), bkt, Options{UseIndex: useIndex}, logs.Logger(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return bl, logs, reg
}

// unreadableMetas are meta.json contents a poll cannot use, as found in
// buckets: a block a newer spanlog wrote, a copy cut short, garbage.
func unreadableMetas(t *testing.T, tenant string) map[uuid.UUID][]byte {
	t.Helper()
	meta := func(format string) (uuid.UUID, []byte) {
		r := []schema.OffsetRange{{Partition: 0, Start: 100, End: 200}}
		id := schema.BlockID(tenant+format, r)
		b, err := schema.MarshalMeta(&schema.BlockMeta{Format: format, BlockID: id, Tenant: tenant, KafkaRanges: r})
		if err != nil {
			t.Fatal(err)
		}
		return id, b
	}
	newer, newerMeta := meta("spanlog-parquet-v9")
	cut, whole := meta(schema.BlockFormatV1)
	return map[uuid.UUID][]byte{
		newer:      newerMeta,
		cut:        whole[:len(whole)/2],
		uuid.New(): []byte("\x00\x01 not json"),
	}
}

// TestUnreadableMetaIsSkippedNotFatal: a block whose meta cannot be read
// is skipped and counted, logged once with its path, and every other
// block of its tenant and of the others is served.
func TestUnreadableMetaIsSkippedNotFatal(t *testing.T) {
	for name, newBucket := range miniotest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			bkt := newBucket(t)
			good := writeBlock(t, bkt, "t1", 0, 10)
			other := writeBlock(t, bkt, "t2", 0, 10)
			bad := unreadableMetas(t, "t1")
			for id, b := range bad {
				if err := bkt.Upload(ctx, block.MetaName("t1", id), bytes.NewReader(b)); err != nil {
					t.Fatal(err)
				}
			}
			bl, logs, reg := newLoggedBlocklist(t, bkt, false)
			for range 3 {
				if err := bl.Poll(ctx, nil); err != nil {
					t.Fatalf("poll failed for every tenant: %v", err)
				}
			}
			if got := ids(bl.Metas("t1")); !slices.Equal(got, []uuid.UUID{good.BlockID}) {
				t.Errorf("t1 blocks %v, want only %v", got, good.BlockID)
			}
			if got := ids(bl.Metas("t2")); !slices.Equal(got, []uuid.UUID{other.BlockID}) {
				t.Errorf("t2 blocks %v, want %v", got, other.BlockID)
			}
			if got := bl.CoveredEnd("t1", 0); got != 10 {
				t.Errorf("t1 covered to %d, want 10", got)
			}
			if err := bl.WaitLoaded(ctx); err != nil {
				t.Error(err)
			}
			if got := promtest.Value(t, reg, "spanlog_blocklist_unreadable_blocks", "tenant", "t1"); got != float64(len(bad)) {
				t.Errorf("unreadable blocks of t1: %v, want %d", got, len(bad))
			}
			for id := range bad {
				if n := strings.Count(logs.String(), block.MetaName("t1", id)); n != 1 {
					t.Errorf("%s logged %d times in 3 polls, want once", block.MetaName("t1", id), n)
				}
			}

			// Once the bad blocks are gone, so is the count.
			for id := range bad {
				if err := bkt.Delete(ctx, block.MetaName("t1", id)); err != nil {
					t.Fatal(err)
				}
			}
			if err := bl.Poll(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if got := promtest.Value(t, reg, "spanlog_blocklist_unreadable_blocks", "tenant", "t1"); got != 0 {
				t.Errorf("unreadable blocks of t1 after deleting them: %v", got)
			}
		})
	}
}

// faultyBucket fails the listings under some prefixes and the reads of
// some objects, as an outage of part of a bucket or a permission does.
type faultyBucket struct {
	objstore.Bucket
	mu       sync.Mutex
	failList map[string]bool // prefixes
	failGet  map[string]bool // names
}

var errInjected = errors.New("injected fault")

func (b *faultyBucket) set(list, get []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failList, b.failGet = map[string]bool{}, map[string]bool{}
	for _, p := range list {
		b.failList[p] = true
	}
	for _, n := range get {
		b.failGet[n] = true
	}
}

func (b *faultyBucket) List(ctx context.Context, prefix string, fn func(string) error) error {
	b.mu.Lock()
	fail := b.failList[prefix]
	b.mu.Unlock()
	if fail {
		return errInjected
	}
	return b.Bucket.List(ctx, prefix, fn)
}

func (b *faultyBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	b.mu.Lock()
	fail := b.failGet[name]
	b.mu.Unlock()
	if fail {
		return nil, errInjected
	}
	return b.Bucket.Get(ctx, name)
}

// TestFailedTenantKeepsItsBlocksAndBlindsNoOther: a tenant whose listing
// or meta read fails keeps the blocks an earlier poll found and is polled
// again next time; every other tenant is served meanwhile, a fresh
// blocklist loads, and only a wait on the failing tenant waits.
func TestFailedTenantKeepsItsBlocksAndBlindsNoOther(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bkt := &faultyBucket{Bucket: newBucket(t).Bucket}
	a := writeBlock(t, bkt, "t1", 0, 10)
	b := writeBlock(t, bkt, "t2", 0, 10)
	bkt.set([]string{"t2/"}, nil)

	bl, logs, reg := newLoggedBlocklist(t, bkt, false)
	bl.cfg.PollInterval = 20 * time.Millisecond
	runBlocklist(t, bl)

	// A fresh blocklist with one tenant failing from the start.
	need := map[int32]int64{0: 10}
	bl.Require(need)
	if err := bl.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bl.WaitRequiredFor(ctx, []string{"t1", "t3"}, need); err != nil {
		t.Fatalf("t1 (and t3, which has no blocks) waited on t2: %v", err)
	}
	if got := ids(bl.Metas("t1")); !slices.Equal(got, []uuid.UUID{a.BlockID}) {
		t.Fatalf("t1 blocks %v", got)
	}
	if bl.TenantErr("t1") != nil || bl.TenantErr("t2") == nil {
		t.Fatalf("tenant errors: t1 %v, t2 %v; want only t2's", bl.TenantErr("t1"), bl.TenantErr("t2"))
	}
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	if err := bl.WaitRequiredFor(short, []string{"t2"}, need); err == nil {
		t.Fatal("t2's blocks were never read, yet a wait on t2 returned")
	}
	cancelShort()
	waitCounter(t, reg, "spanlog_blocklist_tenant_poll_failures_total", "t2", 3)
	if n := strings.Count(logs.String(), "tenant=t2"); n != 1 {
		t.Errorf("t2's failure logged %d times over several polls, want once:\n%s", n, logs)
	}

	// The fault passes: t2 is served from the next poll.
	bkt.set(nil, nil)
	if err := bl.WaitRequiredFor(ctx, []string{"t2"}, need); err != nil {
		t.Fatal(err)
	}
	if got := ids(bl.Metas("t2")); !slices.Equal(got, []uuid.UUID{b.BlockID}) {
		t.Fatalf("t2 blocks after recovery: %v", got)
	}
	if err := bl.TenantErr("t2"); err != nil {
		t.Fatalf("t2 still failing: %v", err)
	}

	// A meta that cannot be read for now fails the tenant rather than
	// being skipped: skipping would leave a hole below a later block,
	// which the live tail would be trimmed past.
	holeID := schema.BlockID("t2", []schema.OffsetRange{{Partition: 0, Start: 10, End: 20}})
	bkt.set(nil, []string{block.MetaName("t2", holeID)})
	hole := writeBlock(t, bkt, "t2", 10, 20)
	last := writeBlock(t, bkt, "t2", 20, 30)
	failures := promtest.Value(t, reg, "spanlog_blocklist_tenant_poll_failures_total", "tenant", "t2")
	waitCounter(t, reg, "spanlog_blocklist_tenant_poll_failures_total", "t2", failures+2)
	if got := bl.CoveredEnd("t2", 0); got != 10 {
		t.Fatalf("t2 covered to %d while the meta of [10, 20) cannot be read; want 10", got)
	}
	if got := ids(bl.Metas("t2")); !slices.Equal(got, []uuid.UUID{b.BlockID}) {
		t.Fatalf("t2 blocks during the fault: %v, want the ones before it", got)
	}
	bkt.set(nil, nil)
	waitFor(t, ctx, "t2 to know every block", func() bool { return bl.CoveredEnd("t2", 0) == 30 })
	if got, want := ids(bl.Metas("t2")), ids([]*schema.BlockMeta{b, hole, last}); !slices.Equal(got, want) {
		t.Fatalf("t2 blocks after the fault: %v, want %v", got, want)
	}
}

func waitCounter(t *testing.T, reg *prometheus.Registry, name, tenant string, atLeast float64) {
	t.Helper()
	waitFor(t, t.Context(), name+" to reach its value", func() bool { return promtest.Value(t, reg, name, "tenant", tenant) >= atLeast })
}

// waitFor polls cond until it holds, or fails t when ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
