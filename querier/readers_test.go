package querier

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
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
		b.Add(spans([2]byte{i + 1, 1}))
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
	if _, ok, err := held.FindTrace(ctx, traceID(1)); err != nil || !ok {
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
			if _, ok, err := r.FindTrace(ctx, pcommon.TraceID{15: 1}); err != nil || !ok {
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
