package objstore_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/objstore/objstoretest"
)

func TestDirContract(t *testing.T) {
	objstoretest.Contract(t, func(t *testing.T) objstore.Bucket {
		b, err := objstore.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestDirReadsAreLocal: readers may read a file as they need, with no
// round trip to save.
func TestDirReadsAreLocal(t *testing.T) {
	b, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(t.Context(), "t/x", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	r, err := b.Open(t.Context(), "t/x")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !objstore.Local(r) {
		t.Error("a directory's file reads are not local")
	}
}

// TestDirRemovesAbandonedUploads: the temporary file of an upload a crash
// cut short is removed once it is older than the cutoff, with the
// directories it leaves empty; one still being written, and every object,
// stay.
func TestDirRemovesAbandonedUploads(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	b, err := objstore.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(ctx, "t1/b1/meta.json", strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	tmp := func(name string, mtime time.Time) string {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("part of an upload"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	abandoned := tmp("t1/b2/data.parquet.123.spanlog-tmp", old)
	beside := tmp("t1/b1/data.parquet.456.spanlog-tmp", old)
	writing := tmp("t1/b3/data.parquet.789.spanlog-tmp", time.Now())
	elsewhere := tmp("t2/b4/data.parquet.1.spanlog-tmp", old)

	n, err := b.RemoveAbandonedUploads(ctx, "t1/", time.Now().Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("RemoveAbandonedUploads(t1/) = %d, %v; want 2", n, err)
	}
	for p, want := range map[string]bool{abandoned: false, beside: false, writing: true, elsewhere: true, filepath.Dir(abandoned): false} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", p, err == nil, want)
		}
	}
	if _, err := objstore.ReadAll(ctx, b, "t1/b1/meta.json"); err != nil {
		t.Errorf("an object beside an abandoned upload: %v", err)
	}
	if n, err := b.RemoveAbandonedUploads(ctx, "", time.Now().Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("RemoveAbandonedUploads of the bucket = %d, %v; want 1", n, err)
	}
}
