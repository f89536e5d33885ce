package blocktest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/spanlog/spanlog/block"
)

// A dataset is built once: later uses, in a directory or in MinIO, find
// the same blocks without building or copying them again.
func TestCachedDatasetIsBuiltOnce(t *testing.T) {
	t.Setenv(CacheEnv, t.TempDir())
	ctx := context.Background()
	_, first := Dir(t, testSpec)
	bkt, again := Dir(t, testSpec)
	if again.BuildTime != first.BuildTime || again.Stats.Spans != first.Stats.Spans {
		t.Fatalf("second use built again: %+v, then %+v", first, again)
	}
	want, err := block.ReadIndex(ctx, bkt, testSpec.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"copies", "reuses"} {
		t.Run(run, func(t *testing.T) {
			_, err := os.Stat(filepath.Join(CacheDir(), testSpec.key(), minioDone))
			if copied := err == nil; copied != (run == "reuses") {
				t.Fatalf("before the %s run: copy into MinIO done: %v", run, copied)
			}
			s3, man := MinIO(t, testSpec)
			if man.BuildTime != first.BuildTime {
				t.Errorf("MinIO dataset built again")
			}
			got, err := block.ListBlocks(ctx, s3, testSpec.Tenant)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want.Metas) {
				t.Fatalf("MinIO holds %d blocks, the directory %d", len(got), len(want.Metas))
			}
			if _, err := block.ReadIndex(ctx, s3, testSpec.Tenant); err != nil {
				t.Fatal(err)
			}
		})
	}
}
