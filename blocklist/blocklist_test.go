package blocklist

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// countingBucket counts the calls a poll makes.
type countingBucket struct {
	objstore.Bucket
	lists, gets atomic.Int64
}

func (b *countingBucket) List(ctx context.Context, prefix string, fn func(string) error) error {
	b.lists.Add(1)
	return b.Bucket.List(ctx, prefix, fn)
}

func (b *countingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	b.gets.Add(1)
	return b.Bucket.Get(ctx, name)
}

func newBucket(t *testing.T) *countingBucket {
	t.Helper()
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &countingBucket{Bucket: dir}
}

// writeBlock stores a one-span block of tenant covering [start, end) of
// partition 0.
func writeBlock(t *testing.T, bkt objstore.Bucket, tenant string, start, end int64) *schema.BlockMeta {
	t.Helper()
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{0: 1, 15: byte(start)})
	s.SetSpanID(pcommon.SpanID{0: 1})
	b := block.NewBuilder(tenant, block.DefaultOptions())
	b.Add(td)
	m, err := b.Write(context.Background(), bkt, []schema.OffsetRange{{Partition: 0, Start: start, End: end}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeIndex(t *testing.T, bkt objstore.Bucket, tenant string, committed int64, metas ...*schema.BlockMeta) {
	t.Helper()
	err := block.WriteIndex(context.Background(), bkt, &schema.TenantIndex{
		Format: schema.TenantIndexFormatV1, Tenant: tenant, BuiltAt: time.Now(),
		Committed: map[int32]int64{0: committed}, Metas: metas,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func newBlocklist(t *testing.T, bkt objstore.Bucket, useIndex bool) *Blocklist {
	t.Helper()
	bl, err := New(DefaultConfig(), bkt, Options{UseIndex: useIndex}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return bl
}

// runBlocklist polls with bl, as its Run does, until the test ends.
func runBlocklist(t *testing.T, bl *Blocklist) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bl.Run(ctx, func() {})
	}()
	t.Cleanup(func() { stop(); <-done })
}

func ids(metas []*schema.BlockMeta) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(metas))
	for _, m := range metas {
		out = append(out, m.BlockID)
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return out
}

func TestListingFindsBlocksAndForgetsDeletedOnes(t *testing.T) {
	ctx := context.Background()
	bkt := newBucket(t)
	a := writeBlock(t, bkt, "t1", 0, 10)
	b := writeBlock(t, bkt, "t1", 10, 20)
	c := writeBlock(t, bkt, "t2", 0, 5)
	// A block being written: data, no meta yet.
	if err := bkt.Upload(ctx, block.DataName("t1", uuid.New()), nilReader{}); err != nil {
		t.Fatal(err)
	}
	bl := newBlocklist(t, bkt, false)
	if err := bl.Poll(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(bl.Metas("t1")), ids([]*schema.BlockMeta{a, b}); !slices.Equal(got, want) {
		t.Fatalf("t1 blocks %v, want %v", got, want)
	}
	if got := ids(bl.Metas("t2")); !slices.Equal(got, []uuid.UUID{c.BlockID}) {
		t.Fatalf("t2 blocks %v", got)
	}
	if got := bl.CoveredEnd("t1", 0); got != 20 {
		t.Fatalf("t1 covered to %d, want 20", got)
	}

	for _, name := range []string{block.MetaName("t1", a.BlockID), block.DataName("t1", a.BlockID)} {
		if err := bkt.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := bl.Poll(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := ids(bl.Metas("t1")); !slices.Equal(got, []uuid.UUID{b.BlockID}) {
		t.Fatalf("after deleting a block: %v", got)
	}
}

func TestIndexMakesAPollOneReadPerTenant(t *testing.T) {
	ctx := context.Background()
	bkt := newBucket(t)
	var metas []*schema.BlockMeta
	for i := range int64(20) {
		metas = append(metas, writeBlock(t, bkt, "t1", i*10, i*10+10))
	}
	writeIndex(t, bkt, "t1", 200, metas...)

	bl := newBlocklist(t, bkt, true)
	bkt.lists.Store(0)
	bkt.gets.Store(0)
	if err := bl.Poll(ctx, map[int32]int64{0: 200}); err != nil {
		t.Fatal(err)
	}
	if l, g := bkt.lists.Load(), bkt.gets.Load(); l != 1 || g != 1 {
		t.Fatalf("poll made %d listings and %d reads; want 1 (tenants) and 1 (the index)", l, g)
	}
	if got := len(bl.Metas("t1")); got != 20 {
		t.Fatalf("%d blocks known, want 20", got)
	}
}

// An index built before the caller's view of the log starts may miss the
// newest blocks; the poll must list rather than leave a gap.
func TestIndexBehindTheLogIsToppedUpByListing(t *testing.T) {
	ctx := context.Background()
	bkt := newBucket(t)
	old := writeBlock(t, bkt, "t1", 0, 10)
	writeIndex(t, bkt, "t1", 10, old)
	newer := writeBlock(t, bkt, "t1", 10, 30) // written and committed after the index

	bl := newBlocklist(t, bkt, true)
	bkt.gets.Store(0)
	if err := bl.Poll(ctx, map[int32]int64{0: 30}); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(bl.Metas("t1")), ids([]*schema.BlockMeta{old, newer}); !slices.Equal(got, want) {
		t.Fatalf("blocks %v, want %v", got, want)
	}
	if g := bkt.gets.Load(); g != 2 {
		t.Fatalf("%d reads; want 2: the index and the one meta it lacks", g)
	}
	if got := bl.CoveredEnd("t1", 0); got != 30 {
		t.Fatalf("covered to %d, want 30", got)
	}
}

func TestMissingOrCorruptIndexFallsBackToListing(t *testing.T) {
	ctx := context.Background()
	bkt := newBucket(t)
	m := writeBlock(t, bkt, "t1", 0, 10)
	writeBlock(t, bkt, "t2", 0, 10)
	if err := bkt.Upload(ctx, block.IndexName("t2"), nilReader{}); err != nil { // empty: corrupt
		t.Fatal(err)
	}
	bl := newBlocklist(t, bkt, true)
	if err := bl.Poll(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := ids(bl.Metas("t1")); !slices.Equal(got, []uuid.UUID{m.BlockID}) {
		t.Fatalf("t1 without index: %v", got)
	}
	if got := len(bl.Metas("t2")); got != 1 {
		t.Fatalf("t2 with corrupt index: %d blocks, want 1", got)
	}
}

func TestWaitLoaded(t *testing.T) {
	bl := newBlocklist(t, newBucket(t), true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := bl.WaitLoaded(ctx); err == nil {
		t.Fatal("loaded before any poll")
	}
	if err := bl.Poll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := bl.WaitLoaded(context.Background()); err != nil {
		t.Fatal(err)
	}
}

type nilReader struct{}

func (nilReader) Read([]byte) (int, error) { return 0, io.EOF }

// TestRequireAndRefresh checks the two ways a querier makes its blocklist
// know every block below where a live tail starts: Require for the tail it
// consumes itself (Run polls at once, and WaitRequiredFor says when), and
// Refresh for one tenant when another querier's tail was trimmed further.
func TestRequireAndRefresh(t *testing.T) {
	bkt := newBucket(t)
	old := writeBlock(t, bkt, "t1", 0, 10)
	writeIndex(t, bkt, "t1", 10, old)
	bl := newBlocklist(t, bkt, true)
	bl.cfg.PollInterval = time.Hour // only Require may make Run poll again

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runBlocklist(t, bl)
	if err := bl.WaitRequiredFor(ctx, []string{"t1"}, map[int32]int64{}); err != nil {
		t.Fatal(err)
	}

	newer := writeBlock(t, bkt, "t1", 10, 30) // not in the index
	bl.Require(map[int32]int64{0: 30})
	if err := bl.WaitRequiredFor(ctx, []string{"t1"}, map[int32]int64{0: 30}); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(bl.Metas("t1")), ids([]*schema.BlockMeta{old, newer}); !slices.Equal(got, want) {
		t.Fatalf("after Require: blocks %v, want %v", got, want)
	}

	newest := writeBlock(t, bkt, "t1", 30, 40)
	if got := bl.CoveredEnd("t1", 0); got != 30 {
		t.Fatalf("covered to %d before Refresh, want 30", got)
	}
	if err := bl.Refresh(ctx, "t1", map[int32]int64{0: 40}); err != nil {
		t.Fatal(err)
	}
	if got := bl.CoveredEnd("t1", 0); got != 40 {
		t.Fatalf("covered to %d after Refresh, want 40", got)
	}
	if got, want := ids(bl.Metas("t1")), ids([]*schema.BlockMeta{old, newer, newest}); !slices.Equal(got, want) {
		t.Fatalf("after Refresh: blocks %v, want %v", got, want)
	}
}

// TestOlderIndexForgetsNoBlockAListingFound: the compactor lists a tenant,
// a block is written, a querier's listing finds it and its live tail is
// trimmed past it; then the compactor writes the index of its earlier
// listing. That index covers the querier's need (the live tail's start)
// but lacks the block, and a poll that took it whole would forget a block
// that exists while the live tail no longer holds its spans: a gap in
// reads until the next index (DESIGN guarantee 6). The blocklist keeps
// what it knew beyond the index's commits, and forgets only what the
// index, complete below them, shows deleted.
func TestOlderIndexForgetsNoBlockAListingFound(t *testing.T) {
	ctx := context.Background()
	need := map[int32]int64{0: 10} // where the live tail started
	for _, learn := range []struct {
		name string
		poll func(bl *Blocklist) error
	}{
		// No index yet: Run's poll lists.
		{"run poll", func(bl *Blocklist) error { return bl.Poll(ctx, need) }},
		// Another querier's tail starts further: Refresh lists.
		{"refresh", func(bl *Blocklist) error { return bl.Refresh(ctx, "t1", map[int32]int64{0: 20}) }},
	} {
		t.Run(learn.name, func(t *testing.T) {
			bkt := newBucket(t)
			a := writeBlock(t, bkt, "t1", 0, 10)
			bl := newBlocklist(t, bkt, true)
			if learn.name == "refresh" {
				writeIndex(t, bkt, "t1", 10, a)
				if err := bl.Poll(ctx, need); err != nil {
					t.Fatal(err)
				}
			}
			b := writeBlock(t, bkt, "t1", 10, 20) // after the compactor's listing
			if err := learn.poll(bl); err != nil {
				t.Fatal(err)
			}
			if got := bl.CoveredEnd("t1", 0); got != 20 {
				t.Fatalf("covered to %d after the listing, want 20", got)
			}
			// What the live tail is trimmed to now.
			trimmed := bl.CoveredEnd("t1", 0)

			writeIndex(t, bkt, "t1", 10, a) // the compactor's, from before b
			if err := bl.Poll(ctx, need); err != nil {
				t.Fatal(err)
			}
			if got, want := ids(bl.Metas("t1")), ids([]*schema.BlockMeta{a, b}); !slices.Equal(got, want) {
				t.Fatalf("after polling an older index: blocks %v, want %v", got, want)
			}
			if got := bl.CoveredEnd("t1", 0); got < trimmed {
				t.Fatalf("covered to %d, below %d where the live tail was trimmed: offsets [%d, %d) are in no block and no tail", got, trimmed, got, trimmed)
			}

			// A newer index, complete to 20, that lacks a: a was deleted.
			if err := bkt.Delete(ctx, block.MetaName("t1", a.BlockID)); err != nil {
				t.Fatal(err)
			}
			writeIndex(t, bkt, "t1", 20, b)
			if err := bl.Poll(ctx, need); err != nil {
				t.Fatal(err)
			}
			if got := ids(bl.Metas("t1")); !slices.Equal(got, []uuid.UUID{b.BlockID}) {
				t.Fatalf("after an index without the deleted block: %v, want only %v", got, b.BlockID)
			}
		})
	}
}

// TestConcurrentPolls: a compactor polls one blocklist from two loops at
// once, from the start; each poll installs what it found, and the first
// to complete marks the blocklist loaded, once.
func TestConcurrentPolls(t *testing.T) {
	bkt := newBucket(t)
	a := writeBlock(t, bkt, "t1", 0, 10)
	for range 200 {
		bl := newBlocklist(t, bkt, false)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if err := bl.Poll(context.Background(), nil); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if err := bl.WaitLoaded(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := ids(bl.Metas("t1")); !slices.Equal(got, []uuid.UUID{a.BlockID}) {
			t.Fatalf("blocks %v, want %v", got, a.BlockID)
		}
	}
}
