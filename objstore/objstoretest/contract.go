// Package objstoretest holds the contract every objstore.Bucket must keep,
// as a test any backend runs against itself.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

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
		for _, off := range []int64{10, 11} {
			if n, err := r.ReadAt(make([]byte, 1), off); n != 0 || err != io.EOF {
				t.Fatalf("ReadAt(%d) = %d, %v; want 0, EOF", off, n, err)
			}
		}
	})

	t.Run("open with a known size", func(t *testing.T) {
		b := newBucket(t)
		if err := b.Upload(ctx, "s", strings.NewReader("version 1")); err != nil {
			t.Fatal(err)
		}
		r, err := objstore.OpenSized(ctx, b, "s", 9)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		p := make([]byte, 4)
		if _, err := r.ReadAt(p, 0); err != nil || string(p) != "vers" || r.Size() != 9 {
			t.Fatalf("ReadAt(0) = %q, %v, size %d; want vers, 9", p, err, r.Size())
		}
		// The version the first read found is the one later reads keep
		// to: the old bytes or an error, never parts of both.
		if err := b.Upload(ctx, "s", strings.NewReader("VERSION 2")); err != nil {
			t.Fatal(err)
		}
		if n, err := r.ReadAt(p, 5); err == nil && string(p[:n]) != "on 1" {
			t.Fatalf("ReadAt after a replace = %q, want \"on 1\" or an error", p[:n])
		}
		if _, err := objstore.OpenSized(ctx, b, "nope", 9); err == nil {
			// Backends that skip the store at open fail at the first read.
			r, _ := objstore.OpenSized(ctx, b, "nope", 9)
			if _, err := r.ReadAt(p, 0); !objstore.IsNotExist(err) {
				t.Fatalf("reading a missing object opened with its size: %v, want not-exist", err)
			}
		} else if !objstore.IsNotExist(err) {
			t.Fatalf("opening a missing object with its size: %v, want not-exist", err)
		}
	})

	t.Run("reads under their own context", func(t *testing.T) {
		b := newBucket(t)
		if err := b.Upload(ctx, "c", strings.NewReader("0123456789")); err != nil {
			t.Fatal(err)
		}
		openCtx, endOpen := context.WithCancel(ctx)
		r, err := b.Open(openCtx, "c")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// An object outlives the request that opened it: a read is
		// bounded by its own context, not by Open's.
		endOpen()
		p := make([]byte, 4)
		if _, err := objstore.ReadAt(ctx, r, p, 2); err != nil || string(p) != "2345" {
			t.Fatalf("read %q, %v after Open's context ended; want 2345", p, err)
		}
		ended, end := context.WithCancel(ctx)
		end()
		if _, err := objstore.ReadAt(ended, r, p, 2); !errors.Is(err, context.Canceled) {
			t.Fatalf("read under an ended context: %v, want context.Canceled", err)
		}
	})

	t.Run("an opened object keeps its version", func(t *testing.T) {
		b := newBucket(t)
		if err := b.Upload(ctx, "v", strings.NewReader("version 1")); err != nil {
			t.Fatal(err)
		}
		r, err := b.Open(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := b.Upload(ctx, "v", strings.NewReader("version 2")); err != nil {
			t.Fatal(err)
		}
		// The old bytes or an error, never parts of both versions.
		p := make([]byte, 9)
		if n, err := r.ReadAt(p, 0); err == nil && string(p[:n]) != "version 1" {
			t.Fatalf("ReadAt after a replace = %q, want version 1 or an error", p[:n])
		}
	})

	t.Run("empty object", func(t *testing.T) {
		b := newBucket(t)
		if err := b.Upload(ctx, "e", strings.NewReader("")); err != nil {
			t.Fatal(err)
		}
		if got, err := objstore.ReadAll(ctx, b, "e"); err != nil || len(got) != 0 {
			t.Fatalf("ReadAll = %q, %v; want empty", got, err)
		}
		r, err := b.Open(ctx, "e")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if n, err := r.ReadAt(make([]byte, 1), 0); r.Size() != 0 || n != 0 || err != io.EOF {
			t.Fatalf("size %d, ReadAt = %d, %v; want 0, 0, EOF", r.Size(), n, err)
		}
	})

	t.Run("upload sends the rest of a seeker", func(t *testing.T) {
		b := newBucket(t)
		r := strings.NewReader("skip:body")
		if _, err := r.Seek(5, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if err := b.Upload(ctx, "s", r); err != nil {
			t.Fatal(err)
		}
		if got, err := objstore.ReadAll(ctx, b, "s"); err != nil || string(got) != "body" {
			t.Fatalf("got %q, %v; want body", got, err)
		}
	})

	t.Run("upload from a stream", func(t *testing.T) {
		b := newBucket(t)
		want := bytes.Repeat([]byte("stream"), 10000)
		// Hides Seek, ReadAt and Len: only Read is left.
		stream := struct{ io.Reader }{bytes.NewReader(want)}
		if err := b.Upload(ctx, "s", stream); err != nil {
			t.Fatal(err)
		}
		if got, err := objstore.ReadAll(ctx, b, "s"); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(want))
		}
	})

	t.Run("names every backend refuses", func(t *testing.T) {
		b := newBucket(t)
		for _, name := range []string{"", "/a", "a/", "a//b", "a/./b", "a/../b", ".", ".."} {
			if err := b.Upload(ctx, name, strings.NewReader("x")); err == nil {
				t.Errorf("Upload(%q) succeeded, want an error", name)
			}
			if _, err := b.Get(ctx, name); err == nil || objstore.IsNotExist(err) {
				t.Errorf("Get(%q) = %v, want an invalid-name error", name, err)
			}
		}
		for _, prefix := range []string{"a", "/", "/a/", "a//"} {
			if err := b.List(ctx, prefix, func(string) error { return nil }); err == nil {
				t.Errorf("List(%q) succeeded, want an error", prefix)
			}
		}
	})

	t.Run("a directory is not an object", func(t *testing.T) {
		b := newBucket(t)
		if err := b.Upload(ctx, "d/x", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "d"); !objstore.IsNotExist(err) {
			t.Errorf("Get(d) = %v, want ErrNotExist", err)
		}
		if _, err := b.Open(ctx, "d"); !objstore.IsNotExist(err) {
			t.Errorf("Open(d) = %v, want ErrNotExist", err)
		}
		if err := b.Delete(ctx, "d"); err != nil {
			t.Errorf("Delete(d) = %v, want nil", err)
		}
		if _, err := objstore.ReadAll(ctx, b, "d/x"); err != nil {
			t.Errorf("d/x after Delete(d): %v", err)
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

	t.Run("list order mixes objects and directories", func(t *testing.T) {
		b := newBucket(t)
		// '.' sorts before '/', so object b.x comes before directory b/.
		for _, n := range []string{"p/c", "p/b/x", "p/b.x", "p/a"} {
			if err := b.Upload(ctx, n, strings.NewReader(n)); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		if err := b.List(ctx, "p/", func(n string) error { got = append(got, n); return nil }); err != nil {
			t.Fatal(err)
		}
		if want := "p/a p/b.x p/b/ p/c"; strings.Join(got, " ") != want {
			t.Errorf("List(p/) = %q, want %q", got, want)
		}
	})

	t.Run("attributes", func(t *testing.T) {
		b := newBucket(t)
		before := time.Now().Add(-time.Minute) // the store's clock may differ a little
		if err := b.Upload(ctx, "a/x", strings.NewReader("0123456789")); err != nil {
			t.Fatal(err)
		}
		attrs, err := b.Attributes(ctx, "a/x")
		if err != nil {
			t.Fatal(err)
		}
		if attrs.Size != 10 || attrs.LastModified.Before(before) || attrs.LastModified.After(time.Now().Add(time.Minute)) {
			t.Errorf("attributes %+v, want size 10 and a modification time about now", attrs)
		}
		for _, name := range []string{"a/missing", "a"} {
			if _, err := b.Attributes(ctx, name); !objstore.IsNotExist(err) {
				t.Errorf("Attributes(%q) = %v, want ErrNotExist", name, err)
			}
		}
	})

	t.Run("no abandoned uploads", func(t *testing.T) {
		b := newBucket(t)
		if err := b.Upload(ctx, "t1/b/data", strings.NewReader("complete")); err != nil {
			t.Fatal(err)
		}
		for _, prefix := range []string{"", "t1/", "t9/"} {
			if n, err := b.RemoveAbandonedUploads(ctx, prefix, time.Now().Add(time.Hour)); n != 0 || err != nil {
				t.Errorf("RemoveAbandonedUploads(%q) = %d, %v; want 0, nil", prefix, n, err)
			}
		}
		if got, err := objstore.ReadAll(ctx, b, "t1/b/data"); err != nil || string(got) != "complete" {
			t.Errorf("a complete object after RemoveAbandonedUploads: %q, %v", got, err)
		}
		if _, err := b.RemoveAbandonedUploads(ctx, "t1", time.Now()); err == nil {
			t.Error("RemoveAbandonedUploads(\"t1\") succeeded, want an invalid-prefix error")
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
