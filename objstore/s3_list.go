package objstore

import (
	"context"
	"strings"

	"github.com/minio/minio-go/v7"
)

// List implements Bucket. One attempt reads the whole level, page by page,
// within RequestTimeout, so that a retry starts over without calling fn
// twice for a name; fn then runs outside any deadline.
func (s *S3) List(ctx context.Context, prefix string, fn func(name string) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	fetchOwner := false
	var names []string
	err := s.call(ctx, opList, prefix, func() error {
		ctx, cancel := s.attemptContext(ctx, 0)
		defer cancel()
		names = names[:0]
		for obj := range s.client.ListObjectsIter(ctx, s.cfg.Bucket, minio.ListObjectsOptions{
			Prefix:     s.prefix + prefix,
			FetchOwner: &fetchOwner,
		}) {
			if obj.Err != nil {
				return obj.Err
			}
			name := strings.TrimPrefix(obj.Key, s.prefix)
			if name == prefix {
				continue // a "folder" marker some S3 tools write, not an object
			}
			names = append(names, name)
		}
		// The iterator ends quietly when ctx does: a listing cut short
		// must not pass for a complete one.
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	// minio-go gives each page's objects, then its common prefixes.
	return emitSorted(ctx, names, fn)
}
