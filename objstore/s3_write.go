package objstore

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
)

// Upload implements Bucket. A body that is an io.ReaderAt and io.Seeker
// (*bytes.Reader, *os.File...) is sent from its current offset, large
// ones in parallel parts, and sent again by a retry; each attempt has
// RequestTimeout per PartSizeBytes. Any other body is a stream: it is
// read once, a part at a time, in a single attempt that has
// RequestTimeout for each part; minio-go learns its size in advance only
// if it has a Len method (*bytes.Buffer).
func (s *S3) Upload(ctx context.Context, name string, r io.Reader) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if rs, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	}); ok {
		return s.uploadSection(ctx, name, key, rs)
	}
	return s.uploadStream(ctx, name, key, r)
}

func (s *S3) uploadSection(ctx context.Context, name, key string, r interface {
	io.ReaderAt
	io.Seeker
}) error {
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("s3 upload %s: %w", name, err)
	}
	end, err := r.Seek(0, io.SeekEnd) // leaves r read, as a copy would
	if err != nil {
		return fmt.Errorf("s3 upload %s: %w", name, err)
	}
	// A section reads from offset 0, which is where minio-go's parallel
	// parts read whatever r's offset.
	body := io.NewSectionReader(r, start, end-start)
	return s.call(ctx, opUpload, name, func() error {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return &permanentError{err}
		}
		ctx, cancel := s.attemptContext(ctx, body.Size())
		defer cancel()
		return s.put(ctx, key, body, body.Size())
	})
}

func (s *S3) uploadStream(ctx context.Context, name, key string, r io.Reader) error {
	size := int64(-1)
	if l, ok := r.(interface{ Len() int }); ok {
		size = int64(l.Len())
	}
	return s.call(ctx, opUpload, name, func() error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		deadline := time.AfterFunc(s.cfg.RequestTimeout, cancel)
		defer deadline.Stop()
		body := &partClock{r: r, partSize: s.cfg.PartSizeBytes, onPart: func() {
			deadline.Reset(s.cfg.RequestTimeout)
		}}
		if err := s.put(ctx, key, body, size); err != nil {
			return &permanentError{err} // what was read is gone
		}
		return nil
	})
}

func (s *S3) put(ctx context.Context, key string, body io.Reader, size int64) error {
	_, err := s.client.PutObject(ctx, s.cfg.Bucket, key, body, size, minio.PutObjectOptions{
		PartSize:    uint64(s.cfg.PartSizeBytes),
		ContentType: "application/octet-stream",
	})
	return err
}

// partClock calls onPart each time another partSize bytes have been read
// from r, and at its end, so that each part of a stream gets its own time
// to go up. The count is atomic because minio-go may read from another
// goroutine than the one that started the upload.
type partClock struct {
	r        io.Reader
	read     atomic.Int64
	partSize int64
	onPart   func()
}

func (c *partClock) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	read := c.read.Add(int64(n))
	if (read-int64(n))/c.partSize != read/c.partSize || err == io.EOF {
		c.onPart()
	}
	return n, err
}

// Delete implements Bucket.
func (s *S3) Delete(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	err = s.call(ctx, opDelete, name, func() error {
		ctx, cancel := s.attemptContext(ctx, 0)
		defer cancel()
		return s.client.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{})
	})
	if IsNotExist(err) {
		return nil // AWS answers a missing key with success; other S3 APIs may not
	}
	return err
}
