package block_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spanlog/spanlog/objstore"
)

func newDir(t testing.TB) *objstore.Dir {
	t.Helper()
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// recordingBucket records the names of the objects uploaded, in order, and
// fails uploads of failName.
type recordingBucket struct {
	objstore.Bucket
	failName string

	mu       sync.Mutex
	uploaded []string
}

func (b *recordingBucket) Upload(ctx context.Context, name string, r io.Reader) error {
	if name == b.failName {
		return errors.New("injected upload failure")
	}
	if err := b.Bucket.Upload(ctx, name, r); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.uploaded = append(b.uploaded, name)
	return nil
}

// countingBucket counts the bytes and read calls of the objects it opens.
type countingBucket struct {
	objstore.Bucket
	bytes, reads atomic.Int64
}

func (b *countingBucket) Open(ctx context.Context, name string) (objstore.ReaderAt, error) {
	r, err := b.Bucket.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return &countingReaderAt{ReaderAt: r, b: b}, nil
}

type countingReaderAt struct {
	objstore.ReaderAt
	b *countingBucket
}

func (r *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.ReaderAt.ReadAt(p, off)
	r.b.bytes.Add(int64(n))
	r.b.reads.Add(1)
	return n, err
}

// discardBucket keeps nothing, but the size of the last object uploaded.
type discardBucket struct {
	objstore.Bucket
	lastSize int64
}

func (b *discardBucket) Upload(_ context.Context, _ string, r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	b.lastSize = n
	return err
}
