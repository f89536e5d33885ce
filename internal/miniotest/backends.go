package miniotest

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/objstore"
)

// Backends returns a constructor of empty buckets per backend, for tests
// that must hold on both: "dir", a local directory, and "minio", a bucket
// of its own on a MinIO server started for parent the first time one is
// asked for.
func Backends(parent *testing.T) map[string]func(*testing.T) objstore.Bucket {
	var (
		once   sync.Once
		server *Server
	)
	return map[string]func(*testing.T) objstore.Bucket{
		"dir": func(t *testing.T) objstore.Bucket {
			bkt, err := objstore.NewDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return bkt
		},
		"minio": func(t *testing.T) objstore.Bucket {
			once.Do(func() { server = Start(parent) })
			bkt, err := objstore.NewS3(server.NewBucket(t), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			return bkt
		},
	}
}
