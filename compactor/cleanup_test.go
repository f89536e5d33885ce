package compactor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// overrides returns limits with the overrides file content.
func overrides(t testing.TB, content string) *limits.Overrides {
	t.Helper()
	cfg := limits.Config{OverridesFile: filepath.Join(t.TempDir(), "overrides.yaml"), OverridesPeriod: time.Minute}
	if err := os.WriteFile(cfg.OverridesFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := limits.NewOverrides(cfg, discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestRetentionDeletesWhollyOlderBlocks: blocks whose spans all ended
// before their tenant's retention (its override, or the compactor's) are
// deleted, meta and data, and the index drops them; a block with a span
// within retention stays, whatever else it holds.
func TestRetentionDeletesWhollyOlderBlocks(t *testing.T) {
	log := kafkatest.New(t).Log(t, 2)
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	days := func(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }
	blocks := writeBlocks(t, bkt,
		blockSpec{tenant: "short", partition: 0, start: 0, end: 10, ended: days(2)},
		blockSpec{tenant: "short", partition: 1, start: 0, end: 10, ended: days(3)},
		blockSpec{tenant: "short", partition: 0, start: 10, end: 20, ended: now},
		blockSpec{tenant: "long", partition: 0, start: 0, end: 10, ended: days(2)},
		blockSpec{tenant: "long", partition: 1, start: 0, end: 10, ended: days(5)},
	)
	// Beyond the builders' commits: retention does not wait for them.
	commit(t, log, map[int32]int64{0: 5, 1: 5})
	cfg := testConfig()
	cfg.BlockRetention = 4 * 24 * time.Hour
	c := runCompactor(t, cfg, log, overrides(t, "overrides:\n  short:\n    block-retention: 24h\n"), bkt)

	want := map[string][]uuid.UUID{"short": idsOf(blocks[2:3]), "long": idsOf(blocks[3:4])}
	await(t, 20*time.Second, "blocks past retention deleted, meta and data", func() bool {
		for tenant, ids := range want {
			if _, exist := view(t, bkt, tenant); !slices.Equal(exist, ids) {
				return false
			}
		}
		for _, m := range []*schema.BlockMeta{blocks[0], blocks[1], blocks[4]} {
			if len(objects(t, bkt, block.Prefix(m.Tenant, m.BlockID))) > 0 {
				return false
			}
		}
		return promtest.Value(t, c.reg, "spanlog_compactor_blocks_deleted_total", "reason", "retention") == 3
	})
	await(t, 10*time.Second, "indexes without the blocks past retention", func() bool {
		for tenant, ids := range want {
			x, err := block.ReadIndex(context.Background(), bkt, tenant)
			if err != nil || !slices.Equal(idsOf(x.Metas), ids) {
				return false
			}
		}
		return true
	})
	if age := promtest.Value(t, c.reg, "spanlog_compactor_oldest_block_age_seconds", "tenant", "long"); age < (47 * time.Hour).Seconds() {
		t.Errorf("oldest block age of tenant long: %vs, want about 2 days", age)
	}
}

// TestLeftoversAreRemoved: the objects of a block without a meta (a
// writer killed before it, a deletion cut short) and abandoned uploads
// are removed once older than the leftover grace; younger ones, and a
// block whose meta exists but cannot be used, stay.
func TestLeftoversAreRemoved(t *testing.T) {
	ctx := context.Background()
	t.Run("dir", func(t *testing.T) {
		log := kafkatest.New(t).Log(t, 1)
		root := t.TempDir()
		bkt, err := objstore.NewDir(root)
		if err != nil {
			t.Fatal(err)
		}
		good := writeBlocks(t, bkt, blockSpec{tenant: "t1", partition: 0, start: 0, end: 10})
		old := time.Now().Add(-2 * time.Hour)
		backdate := func(name string) {
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		put := func(name, content string) string {
			if err := bkt.Upload(ctx, name, strings.NewReader(content)); err != nil {
				t.Fatal(err)
			}
			return name
		}
		orphan := put(block.DataName("t1", uuid.New()), "data of a block never given a meta")
		backdate(orphan)
		fresh := put(block.DataName("t1", uuid.New()), "data of a block being written")
		unusable := uuid.New()
		backdate(put(block.DataName("t1", unusable), "data"))
		backdate(put(block.MetaName("t1", unusable), "{not a meta"))
		tmp := filepath.Join(root, "t1", uuid.New().String(), "data.parquet.123.spanlog-tmp")
		if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tmp, []byte("an upload cut short"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, old, old); err != nil {
			t.Fatal(err)
		}
		commit(t, log, map[int32]int64{0: 10})

		c := runCompactor(t, testConfig(), log, noLimits(t), bkt)
		await(t, 20*time.Second, "the leftover and the abandoned upload removed", func() bool {
			return promtest.Value(t, c.reg, "spanlog_compactor_blocks_deleted_total", "reason", "leftover") == 1 &&
				promtest.Value(t, c.reg, "spanlog_compactor_abandoned_uploads_removed_total") == 1
		})
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Errorf("abandoned upload: %v, want it removed", err)
		}
		left := objects(t, bkt, "t1/")
		for name, want := range map[string]bool{
			orphan: false, fresh: true,
			block.DataName("t1", unusable): true, block.MetaName("t1", unusable): true,
			block.DataName("t1", good[0].BlockID): true, block.MetaName("t1", good[0].BlockID): true,
		} {
			if slices.Contains(left, name) != want {
				t.Errorf("%s in the bucket: %v, want %v", name, !want, want)
			}
		}
	})
	t.Run("minio", func(t *testing.T) {
		log := kafkatest.New(t).Log(t, 1)
		srv := miniotest.Start(t)
		s3cfg := srv.NewBucket(t)
		bkt, err := objstore.NewS3(s3cfg, prometheus.NewRegistry(), discard())
		if err != nil {
			t.Fatal(err)
		}
		good := writeBlocks(t, bkt, blockSpec{tenant: "t1", partition: 0, start: 0, end: 10})
		orphan := block.DataName("t1", uuid.New())
		if err := bkt.Upload(ctx, orphan, strings.NewReader("data of a block never given a meta")); err != nil {
			t.Fatal(err)
		}
		// A writer killed in a multipart upload, a part in.
		client, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3cfg.AccessKeyID, s3cfg.SecretAccessKey, "")})
		if err != nil {
			t.Fatal(err)
		}
		core, key := minio.Core{Client: client}, block.DataName("t1", uuid.New())
		id, err := core.NewMultipartUpload(ctx, s3cfg.Bucket, key, minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		part := bytes.Repeat([]byte("p"), 5<<20)
		if _, err := core.PutObjectPart(ctx, s3cfg.Bucket, key, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
		commit(t, log, map[int32]int64{0: 10})

		cfg := testConfig()
		cfg.LeftoverGrace = time.Second
		c := runCompactor(t, cfg, log, noLimits(t), bkt)
		await(t, 30*time.Second, "the leftover and the abandoned upload removed", func() bool {
			return promtest.Value(t, c.reg, "spanlog_compactor_blocks_deleted_total", "reason", "leftover") == 1 &&
				promtest.Value(t, c.reg, "spanlog_compactor_abandoned_uploads_removed_total") == 1
		})
		left := objects(t, bkt, "t1/")
		if slices.Contains(left, orphan) || !slices.Contains(left, block.MetaName("t1", good[0].BlockID)) {
			t.Errorf("objects left %q: want the block, and not the leftover", left)
		}
	})
}
