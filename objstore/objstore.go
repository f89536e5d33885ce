// Package objstore is spanlog's view of object storage: a bucket of named
// objects that can be uploaded whole, read whole or in ranges, listed and
// deleted. It owns the backends (a local directory, and S3 with its
// timeouts, retries and metrics) and the contract both keep
// (objstoretest), and nothing about what the objects mean.
package objstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned (wrapped) for an object that does not exist.
var ErrNotExist = errors.New("object does not exist")

// IsNotExist reports whether err says an object does not exist.
func IsNotExist(err error) bool { return errors.Is(err, ErrNotExist) }

// Bucket is a flat namespace of objects whose names use "/" as a separator.
type Bucket interface {
	// Upload stores r's content under name. Readers see either the old
	// object or the whole new one, never a part.
	Upload(ctx context.Context, name string, r io.Reader) error
	// Get opens the object for a sequential read.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// Open opens the object for random-access reads.
	Open(ctx context.Context, name string) (ReaderAt, error)
	// List calls fn for each entry directly below prefix, in lexical
	// order: an object's full name, or a "directory" as its full name with
	// a trailing "/". prefix is empty or ends with "/".
	List(ctx context.Context, prefix string, fn func(name string) error) error
	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, name string) error
	// Attributes returns what the store knows of the object besides its
	// content.
	Attributes(ctx context.Context, name string) (Attributes, error)
	// RemoveAbandonedUploads removes what uploads of objects under
	// prefix (empty or ending with "/") that started before cutoff and
	// never completed left behind, and returns how many it removed: on
	// S3 incomplete multipart uploads, which S3 keeps, and bills, until
	// they are aborted; in a directory the temporary files of uploads
	// that a crash cut short. An upload still running that started
	// before cutoff fails, and its writer must upload again.
	RemoveAbandonedUploads(ctx context.Context, prefix string, cutoff time.Time) (int, error)
}

// Attributes are what a bucket knows of an object besides its content.
type Attributes struct {
	// Size is the object's size in bytes.
	Size int64
	// LastModified is when the object, as it is now, was written, by the
	// store's clock.
	LastModified time.Time
}

// ReaderAt reads ranges of one object.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	// Size is the object's size in bytes.
	Size() int64
}

// ContextReaderAt is a ReaderAt whose reads can each be bounded by a
// context of their own instead of the one the object was opened with, so
// that an object kept open across requests reads for each under that
// request's context, and stops when it ends.
type ContextReaderAt interface {
	ReaderAt
	ReadAtContext(ctx context.Context, p []byte, off int64) (int, error)
}

// ReadAt reads len(p) bytes of r at off under ctx: with ReadAtContext
// where r has it, else, as a read that cannot be stopped midway, only if
// ctx is not done yet.
func ReadAt(ctx context.Context, r io.ReaderAt, p []byte, off int64) (int, error) {
	if cr, ok := r.(ContextReaderAt); ok {
		return cr.ReadAtContext(ctx, p, off)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return r.ReadAt(p, off)
}

// Local reports whether reads of r are local, as those of a directory
// bucket's files are: a read costs a system call, not a round trip, so a
// reader fetches only the bytes it needs rather than merging ranges far
// apart into fewer requests.
func Local(r io.ReaderAt) bool {
	l, ok := r.(interface{ Local() bool })
	return ok && l.Local()
}

// SizedOpener is a Bucket that can open an object whose size the caller
// already knows without asking the store for it: on S3, one request fewer
// per object opened.
type SizedOpener interface {
	OpenSized(ctx context.Context, name string, size int64) (ReaderAt, error)
}

// OpenSized opens name, whose size in bytes the caller knows (a block's
// meta records its data object's), with b's OpenSized where b has it,
// else with Open. An object of another size than given reads wrong.
func OpenSized(ctx context.Context, b Bucket, name string, size int64) (ReaderAt, error) {
	if so, ok := b.(SizedOpener); ok && size > 0 {
		return so.OpenSized(ctx, name, size)
	}
	return b.Open(ctx, name)
}

// ReadAll returns the whole content of the object name.
func ReadAll(ctx context.Context, b Bucket, name string) ([]byte, error) {
	r, err := b.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}
