package objstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Attributes implements Bucket with a HEAD request.
func (s *S3) Attributes(ctx context.Context, name string) (Attributes, error) {
	key, err := s.key(name)
	if err != nil {
		return Attributes{}, err
	}
	info, err := s.stat(ctx, opAttributes, name, key)
	if err != nil {
		return Attributes{}, err
	}
	return Attributes{Size: info.Size, LastModified: info.LastModified}, nil
}

// stat is a HEAD request for name's object at key, as the call op.
func (s *S3) stat(ctx context.Context, op, name, key string) (minio.ObjectInfo, error) {
	var info minio.ObjectInfo
	err := s.call(ctx, op, name, func() error {
		ctx, cancel := s.attemptContext(ctx, 0)
		defer cancel()
		var err error
		info, err = s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
		return err
	})
	return info, err
}

// RemoveAbandonedUploads implements Bucket: it aborts the multipart
// uploads under prefix initiated before cutoff. S3 keeps the parts of an
// upload that was neither completed nor aborted, a writer killed midway,
// for ever, and bills them; a bucket lifecycle rule can abort them too,
// but spanlog does not count on one.
func (s *S3) RemoveAbandonedUploads(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	if err := checkPrefix(prefix); err != nil {
		return 0, err
	}
	var stale []minio.ObjectMultipartInfo
	err := s.call(ctx, opListUploads, prefix, func() error {
		ctx, cancel := s.attemptContext(ctx, 0)
		defer cancel()
		stale = stale[:0]
		var err error
		// The whole bucket's, filtered here: MinIO lists the uploads of
		// a bucket or of one key, not of a prefix. Read to the end:
		// minio-go's goroutine behind the channel sends its last error
		// even after ctx ends.
		for u := range s.client.ListIncompleteUploads(ctx, s.cfg.Bucket, "", true) {
			switch {
			case u.Err != nil:
				err = u.Err
			case u.Initiated.Before(cutoff) && strings.HasPrefix(u.Key, s.prefix+prefix):
				stale = append(stale, u)
			}
		}
		if err != nil {
			return err
		}
		return ctx.Err()
	})
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, u := range stale {
		name := strings.TrimPrefix(u.Key, s.prefix)
		err := s.call(ctx, opAbortUpload, name, func() error {
			ctx, cancel := s.attemptContext(ctx, 0)
			defer cancel()
			return minio.Core{Client: s.client}.AbortMultipartUpload(ctx, s.cfg.Bucket, u.Key, u.UploadID)
		})
		switch {
		case err == nil:
			removed++
		case isNoSuchUpload(err):
			// Completed or aborted since the listing.
		default:
			return removed, err
		}
	}
	return removed, nil
}

// isNoSuchUpload reports whether S3 answered that a multipart upload does
// not exist.
func isNoSuchUpload(err error) bool {
	resp, ok := errors.AsType[minio.ErrorResponse](err)
	return ok && resp.Code == "NoSuchUpload"
}
