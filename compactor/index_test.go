package compactor

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// waitIndexes waits until every one of tenants has an index accepted by
// ok, and returns them.
func waitIndexes(t *testing.T, bkt objstore.Bucket, ok func(*schema.TenantIndex) bool, tenants ...string) map[string]*schema.TenantIndex {
	t.Helper()
	indexes := map[string]*schema.TenantIndex{}
	await(t, 10*time.Second, "tenant indexes", func() bool {
		for _, tenant := range tenants {
			if x, err := block.ReadIndex(context.Background(), bkt, tenant); err == nil && ok(x) {
				indexes[tenant] = x
			}
		}
		return len(indexes) == len(tenants)
	})
	return indexes
}

func TestIndexListsBlocksAndTheCommitsBeforeTheListing(t *testing.T) {
	log := kafkatest.New(t).Log(t, 2)
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Two blocks of t1 in partition 0, one of t2 in partition 1, and the
	// builders' commits behind them.
	want := writeBlocks(t, bkt, blockSpec{tenant: "t1", partition: 0, start: 0, end: 5}, blockSpec{tenant: "t1", partition: 0, start: 5, end: 9}, blockSpec{tenant: "t2", partition: 1, start: 0, end: 3})
	commit(t, log, map[int32]int64{0: 9, 1: 3})
	runCompactor(t, testConfig(), log, noLimits(t), bkt)

	indexes := waitIndexes(t, bkt, func(*schema.TenantIndex) bool { return true }, "t1", "t2")
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

// failingList fails the listing of one prefix.
type failingList struct {
	objstore.Bucket
	prefix string
}

func (b failingList) List(ctx context.Context, prefix string, fn func(string) error) error {
	if prefix == b.prefix {
		return errors.New("injected listing failure")
	}
	return b.Bucket.List(ctx, prefix, fn)
}

// TestIndexBuildSurvivesABadMetaAndAFailedTenant: a block whose meta
// cannot be used is left out of its tenant's index, and a tenant that
// cannot be listed keeps the index it had (a new one from stale blocks
// would claim the new commits), while every other index is rebuilt.
func TestIndexBuildSurvivesABadMetaAndAFailedTenant(t *testing.T) {
	ctx := context.Background()
	log := kafkatest.New(t).Log(t, 2)
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bkt := failingList{Bucket: dir, prefix: "t3/"}
	good := writeBlocks(t, bkt, blockSpec{tenant: "t1", partition: 0, start: 0, end: 5}, blockSpec{tenant: "t2", partition: 1, start: 0, end: 3}, blockSpec{tenant: "t3", partition: 0, start: 5, end: 9})
	if err := bkt.Upload(ctx, block.MetaName("t1", uuid.New()), bytes.NewReader([]byte("{cut sh"))); err != nil {
		t.Fatal(err)
	}
	old := &schema.TenantIndex{Format: schema.TenantIndexFormatV1, Tenant: "t3", BuiltAt: time.Now(), Committed: map[int32]int64{0: 5}}
	if err := block.WriteIndex(ctx, bkt, old); err != nil {
		t.Fatal(err)
	}
	commit(t, log, map[int32]int64{0: 9, 1: 3})
	runCompactor(t, testConfig(), log, noLimits(t), bkt)

	current := func(x *schema.TenantIndex) bool { return x.Committed[0] == 9 }
	indexes := waitIndexes(t, bkt, current, "t1", "t2")
	for i, tenant := range []string{"t1", "t2"} {
		x := indexes[tenant]
		if len(x.Metas) != 1 || x.Metas[0].BlockID != good[i].BlockID {
			t.Errorf("index of %s: %d blocks, want only %s", tenant, len(x.Metas), good[i].BlockID)
		}
	}
	// Another round of rebuilds, and t3's stays the old one.
	first := indexes["t1"].BuiltAt
	waitIndexes(t, bkt, func(x *schema.TenantIndex) bool { return x.BuiltAt.After(first) }, "t1")
	x, err := block.ReadIndex(ctx, bkt, "t3")
	if err != nil {
		t.Fatal(err)
	}
	if x.Committed[0] != 5 {
		t.Fatalf("t3, which cannot be listed, got an index claiming commits %v", x.Committed)
	}
}
