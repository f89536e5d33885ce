// Package objstoretest holds the contract every objstore.Bucket must keep,
// as a test any backend runs against itself.
package objstoretest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/spanlog/spanlog/objstore"
)

// Contract runs the bucket contract against a fresh, empty bucket from
// newBucket for each case.
func Contract(t *testing.T, newBucket func(t *testing.T) objstore.Bucket) {
	ctx := context.Background()

	t.Run("upload then get", func(t *testing.T) {
		b := newBucket(t)
		want := bytes.Repeat([]byte("spanlog"), 1000)
		if err := b.Upload(ctx, "t1/block/data", bytes.NewReader(want)); err != nil {
			t.Fatal(err)
		}
		got, err := objstore.ReadAll(ctx, b, "t1/block/data")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes, want %d", len(got), len(want))
		}
	})

	t.Run("upload replaces", func(t *testing.T) {
		b := newBucket(t)
		for _, v := range []string{"first", "second"} {
			if err := b.Upload(ctx, "x", strings.NewReader(v)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := objstore.ReadAll(ctx, b, "x")
		if err != nil || string(got) != "second" {
			t.Fatalf("got %q, %v; want second", got, err)
		}
	})

	t.Run("open reads ranges", func(t *testing.T) {
		b := newBucket(t)
		if err := b.Upload(ctx, "r", strings.NewReader("0123456789")); err != nil {
			t.Fatal(err)
		}
		r, err := b.Open(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Size() != 10 {
			t.Fatalf("size %d, want 10", r.Size())
		}
		p := make([]byte, 3)
		if _, err := r.ReadAt(p, 4); err != nil || string(p) != "456" {
			t.Fatalf("ReadAt(4) = %q, %v", p, err)
		}
		if n, err := r.ReadAt(make([]byte, 5), 8); n != 2 || err != io.EOF {
			t.Fatalf("ReadAt past end = %d, %v; want 2, EOF", n, err)
		}
	})

	t.Run("missing objects", func(t *testing.T) {
		b := newBucket(t)
		if _, err := b.Get(ctx, "nope"); !objstore.IsNotExist(err) {
			t.Fatalf("Get missing: %v, want ErrNotExist", err)
		}
		if _, err := b.Open(ctx, "nope"); !objstore.IsNotExist(err) {
			t.Fatalf("Open missing: %v, want ErrNotExist", err)
		}
		if err := b.Delete(ctx, "nope"); err != nil {
			t.Fatalf("Delete missing: %v", err)
		}
	})

	t.Run("list one level", func(t *testing.T) {
		b := newBucket(t)
		for _, n := range []string{"t1/b1/meta.json", "t1/b1/data", "t1/b2/meta.json", "t1/index", "t2/b3/meta.json"} {
			if err := b.Upload(ctx, n, strings.NewReader(n)); err != nil {
				t.Fatal(err)
			}
		}
		for prefix, want := range map[string]string{
			"":       "t1/ t2/",
			"t1/":    "t1/b1/ t1/b2/ t1/index",
			"t1/b1/": "t1/b1/data t1/b1/meta.json",
			"t9/":    "",
		} {
			var got []string
			if err := b.List(ctx, prefix, func(n string) error { got = append(got, n); return nil }); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != want {
				t.Errorf("List(%q) = %q, want %q", prefix, got, want)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		b := newBucket(t)
		if err := b.Upload(ctx, "d/x", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, "d/x"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "d/x"); !objstore.IsNotExist(err) {
			t.Fatalf("Get after delete: %v, want ErrNotExist", err)
		}
		var left []string
		if err := b.List(ctx, "", func(n string) error { left = append(left, n); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(left) != 0 {
			t.Fatalf("List after deleting the only object = %q, want nothing", left)
		}
	})
}
