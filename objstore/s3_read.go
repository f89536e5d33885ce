package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// Get implements Bucket. The body must be read within RequestTimeout per
// PartSizeBytes of the object (at least one) from when it starts; a read
// that fails midway is not retried. Use Open for slow or partial reads.
func (s *S3) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	var body *getBody
	err = s.call(ctx, opGet, name, func() error {
		// A timer rather than a context deadline: the deadline grows once
		// the size is known.
		ctx, cancel := context.WithCancelCause(ctx)
		expired := fmt.Errorf("s3 get %s: body not read in time: %w", name, context.DeadlineExceeded)
		deadline := time.AfterFunc(s.cfg.RequestTimeout, func() { cancel(expired) })
		r, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
		if err != nil {
			deadline.Stop()
			cancel(nil)
			if context.Cause(ctx) == expired {
				return context.DeadlineExceeded // call names the object
			}
			return err
		}
		deadline.Reset(s.attemptTimeout(info.Size))
		body = &getBody{ReadCloser: r, ctx: ctx, expired: expired, stop: func() {
			deadline.Stop()
			cancel(nil)
		}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}

// getBody ends the request of a Get when closed, and says so when its
// deadline cut it off.
type getBody struct {
	io.ReadCloser
	ctx     context.Context
	expired error // the cause ctx ends with at the deadline
	stop    func()
}

func (b *getBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && context.Cause(b.ctx) == b.expired {
		err = b.expired
	}
	return n, err
}

func (b *getBody) Close() error {
	err := b.ReadCloser.Close()
	b.stop()
	return err
}

// Open implements Bucket. Each ReadAt is a ranged GET, a call of its own
// under the context given to Open, that reads the version of the object
// Open saw: one replaced since fails rather than mixing two versions.
func (s *S3) Open(ctx context.Context, name string) (ReaderAt, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	info, err := s.stat(ctx, opOpen, name, key)
	if err != nil {
		return nil, err
	}
	return &s3Object{s: s, ctx: ctx, name: name, key: key, size: info.Size, etag: info.ETag}, nil
}

// OpenSized implements SizedOpener: Open without the HEAD request. The
// version the reads keep to is the one the first read found.
func (s *S3) OpenSized(ctx context.Context, name string, size int64) (ReaderAt, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	return &s3Object{s: s, ctx: ctx, name: name, key: key, size: size}, nil
}

// s3Object is an opened object. It holds no connection between reads.
type s3Object struct {
	s         *S3
	ctx       context.Context
	name, key string
	size      int64

	mu   sync.Mutex
	etag string // the version read; empty until the first read of OpenSized
}

// version returns the ETag reads must match, empty if none yet.
func (o *s3Object) version() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.etag
}

// keep records the ETag a read found, and fails if another read found
// another: the object was replaced between them.
func (o *s3Object) keep(etag string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch o.etag {
	case "":
		o.etag = etag
	case etag:
	default:
		return errors.New("replaced since it was opened")
	}
	return nil
}

func (o *s3Object) Size() int64 { return o.size }

func (o *s3Object) Close() error { return nil }

// ReadAt implements io.ReaderAt like *os.File does: a read that reaches
// the end returns io.EOF with the bytes before it. It reads under the
// context given to Open.
func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	return o.ReadAtContext(o.ctx, p, off)
}

// ReadAtContext implements ContextReaderAt: ReadAt under ctx rather than
// the context given to Open.
func (o *s3Object) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	switch {
	case off < 0:
		return 0, fmt.Errorf("s3 read %s: negative offset %d", o.name, off)
	case len(p) == 0:
		return 0, nil
	case off >= o.size:
		return 0, io.EOF
	}
	n := min(int64(len(p)), o.size-off)
	err := o.s.call(ctx, opReadAt, o.name, func() error {
		ctx, cancel := o.s.attemptContext(ctx, n)
		defer cancel()
		var opts minio.GetObjectOptions
		if err := opts.SetRange(off, off+n-1); err != nil {
			return &permanentError{err}
		}
		if etag := o.version(); etag != "" {
			if err := opts.SetMatchETag(etag); err != nil {
				return &permanentError{err}
			}
		}
		r, info, _, err := minio.Core{Client: o.s.client}.GetObject(ctx, o.s.cfg.Bucket, o.key, opts)
		if resp, ok := errors.AsType[minio.ErrorResponse](err); ok && resp.Code == "PreconditionFailed" {
			return fmt.Errorf("replaced since it was opened: %w", err)
		}
		if err != nil {
			return err
		}
		defer r.Close()
		if err := o.keep(info.ETag); err != nil {
			return &permanentError{err}
		}
		_, err = io.ReadFull(r, p[:n])
		return err
	})
	if err != nil {
		return 0, err
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}
