// Package blocktest fills object storage with blocks for tests and
// benchmarks of the read path.
package blocktest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// SeedMetas writes n block metas of one tenant, and their index, to bkt.
// Polling reads only metas and indexes, so the blocks have no data.
func SeedMetas(b testing.TB, bkt objstore.Bucket, tenant string, n int) {
	b.Helper()
	ctx := context.Background()
	metas := make([]*schema.BlockMeta, n)
	now := time.Now().UTC()
	for i := range metas {
		r := []schema.OffsetRange{{Partition: int32(i % 16), Start: int64(i) * 1000, End: int64(i+1) * 1000}}
		metas[i] = &schema.BlockMeta{
			Format: schema.BlockFormatV3, BlockID: schema.BlockID(tenant, r), Tenant: tenant,
			Created: now, MinStart: now.Add(-time.Minute), MaxEnd: now,
			TotalSpans: 50_000, TotalTraces: 5_000, Size: 3 << 20,
			MinTraceID: "00000000000000000000000000000000", MaxTraceID: "ffffffffffffffffffffffffffffffff",
			KafkaRanges: r,
		}
	}
	work := make(chan *schema.BlockMeta)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for m := range work {
				data, _ := schema.MarshalMeta(m)
				if err := bkt.Upload(ctx, block.MetaName(tenant, m.BlockID), bytes.NewReader(data)); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for _, m := range metas {
		work <- m
	}
	close(work)
	wg.Wait()
	committed := map[int32]int64{}
	for p := range int32(16) {
		committed[p] = int64(n) * 1000
	}
	if err := block.WriteIndex(ctx, bkt, &schema.TenantIndex{
		Format: schema.TenantIndexFormatV1, Tenant: tenant, BuiltAt: now, Committed: committed, Metas: metas,
	}); err != nil {
		b.Fatal(err)
	}
}
