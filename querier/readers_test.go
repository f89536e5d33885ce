package querier

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/schema"
)

func TestReadersEvictWithoutClosingReadersInUse(t *testing.T) {
	ctx := context.Background()
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var metas []*schema.BlockMeta
	for i := range byte(3) {
		b := block.NewBuilder("t", block.DefaultOptions())
		b.Add(querytest.Spans([2]byte{i + 1, 1}))
		m, err := b.Write(ctx, bkt, []schema.OffsetRange{{Start: int64(i), End: int64(i) + 1}})
		if err != nil {
			t.Fatal(err)
		}
		metas = append(metas, m)
	}
	c := newReaders(bkt, 2)

	held, release, err := c.get(ctx, metas[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas[1:] { // evicts block 0 while it is held
		_, rel, err := c.get(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	if _, ok, err := blocktest.FindTrace(ctx, held, querytest.TraceID(1)); err != nil || !ok {
		t.Fatalf("evicted reader in use: found %v, %v", ok, err)
	}
	release()
	if c.lru.Len() != 2 {
		t.Fatalf("%d readers open, want 2", c.lru.Len())
	}

	// Concurrent gets of one block share one reader.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			r, rel, err := c.get(ctx, metas[0])
			if err != nil {
				t.Error(err)
				return
			}
			defer rel()
			if _, ok, err := blocktest.FindTrace(ctx, r, pcommon.TraceID{15: 1}); err != nil || !ok {
				t.Errorf("found %v, %v", ok, err)
			}
		})
	}
	wg.Wait()
	if c.lru.Len() != 2 {
		t.Fatalf("%d readers open after concurrent gets, want 2", c.lru.Len())
	}
	c.close()
}

func TestReadersRetainClosesTheOthers(t *testing.T) {
	ctx := context.Background()
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var metas []*schema.BlockMeta
	for i := range byte(3) {
		metas = append(metas, querytest.WriteBlock(t, bkt, int(i), querytest.Spans([2]byte{i + 1, 1})))
	}
	c := newReaders(bkt, 10)
	defer c.close()
	held, release, err := c.get(ctx, metas[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas[1:] {
		_, rel, err := c.get(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	c.retain(func(id uuid.UUID) bool { return id == metas[2].BlockID })
	if c.lru.Len() != 1 || c.byID[metas[2].BlockID] == nil {
		t.Fatalf("%d readers open after retaining one", c.lru.Len())
	}
	// One in use reads on until released.
	if _, ok, err := blocktest.FindTrace(ctx, held, querytest.TraceID(1)); err != nil || !ok {
		t.Fatalf("reader in use, no longer retained: found %v, %v", ok, err)
	}
	release()
	// A block asked for again is opened again.
	r, rel, err := c.get(ctx, metas[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := blocktest.FindTrace(ctx, r, querytest.TraceID(1)); err != nil || !ok {
		t.Fatalf("reopened: found %v, %v", ok, err)
	}
	rel()
}

// TestQuerierClosesReadersOfBlocksNoLongerRead: once a poll finds a block
// deleted, or merged into another, the querier closes its reader. Kept
// until open-blocks newer ones pushed it out, it held the block's memory
// and, on a directory bucket, the disk of its deleted data file: in
// e2e.TestSoak that grew past the size of the bucket itself.
func TestQuerierClosesReadersOfBlocksNoLongerRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bkt, err := objstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	deleted := querytest.WriteBlock(t, bkt, 1, querytest.Spans([2]byte{1, 1}))
	merged := querytest.WriteBlock(t, bkt, 2, querytest.Spans([2]byte{2, 1}))
	q := startQuerier(t, bkt)
	for _, id := range []byte{1, 2} {
		if _, found, err := q.FindTrace(ctx, []string{querytest.Tenant}, querytest.TraceID(id), TimeRange{}); err != nil || !found {
			t.Fatalf("trace %d: found %v, %v", id, found, err)
		}
	}
	if n := openReaders(q.readers); n != 2 {
		t.Fatalf("%d readers open, want 2", n)
	}

	for _, name := range []string{block.MetaName(querytest.Tenant, deleted.BlockID), block.DataName(querytest.Tenant, deleted.BlockID)} {
		if err := bkt.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// A merge's output: a block whose range holds the other's.
	b := block.NewBuilder(querytest.Tenant, block.DefaultOptions())
	b.Add(querytest.Spans([2]byte{2, 1}))
	if _, err := b.Write(ctx, bkt, []schema.OffsetRange{{Partition: merged.KafkaRanges[0].Partition, Start: 0, End: 2}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for openReaders(q.readers) > 0 || openDeleted(t, dir) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after polls: %d readers open, %d deleted files held open; want none", openReaders(q.readers), openDeleted(t, dir))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, found, err := q.FindTrace(ctx, []string{querytest.Tenant}, querytest.TraceID(2), TimeRange{}); err != nil || !found {
		t.Fatalf("trace 2 from the merged block: found %v, %v", found, err)
	}
}

// openDeleted counts the deleted files under dir this process holds open.
func openDeleted(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir) && strings.HasSuffix(target, " (deleted)") {
			n++
		}
	}
	return n
}

// openReaders counts the readers open, while a querier may open or close
// others.
func openReaders(c *readers) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
