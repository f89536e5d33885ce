package blocktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
)

// CacheEnv names the variable that says where datasets are kept between
// runs; by default, spanlog-bench-data in the system's temporary directory.
// Deleting the directory is always safe: what is missing is built again.
const CacheEnv = "SPANLOG_BENCH_DATA"

// datasetVersion is part of every cache key. Bump it whenever the blocks
// a Spec yields change (the generator, the block format or its options),
// so that no benchmark reads a dataset an older build wrote.
const datasetVersion = 3

// CacheDir returns where datasets are cached.
func CacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "spanlog-bench-data")
}

// key names the dataset's folder in the cache: everything that shapes
// its blocks.
func (s Spec) key() string {
	k := fmt.Sprintf("v%d-%s-p%d-c%d-s%d-cycle%s-seed%d-%d",
		datasetVersion, s.Tenant, s.Partitions, s.Cycles, s.SpansPerBlock, s.Cycle, s.Seed, s.Start.Unix())
	if s.CompactWindow > 0 {
		k += "-compacted" + s.CompactWindow.String()
	}
	return k
}

// The parts of a cached dataset, under CacheDir()/key.
const (
	blocksDir    = "blocks"        // an objstore.Dir
	manifestFile = "manifest.json" // written last: the dataset is complete
	minioDir     = "minio"         // the data of a MinIO server holding the blocks
	minioDone    = "minio.done"    // the MinIO copy is complete
	minioLock    = "minio.lock"    // held while a server runs on minioDir
	minioBucket  = "bench"
)

// Dir returns the dataset spec describes in a local directory, building
// it on first use, and its manifest. The directory is shared by every run
// and must not be written to.
func Dir(tb testing.TB, spec Spec) (objstore.Bucket, *Manifest) {
	tb.Helper()
	dir, man := cached(tb, spec)
	bkt, err := objstore.NewDir(filepath.Join(dir, blocksDir))
	if err != nil {
		tb.Fatal(err)
	}
	return bkt, man
}

// MinIO returns the dataset spec describes in a MinIO server of its own,
// which the end of tb stops, and its manifest. The server runs on a data
// directory kept in the cache: the first use copies the blocks into it,
// later ones only start the server. A second process wanting the same
// dataset waits until the first is done with it.
func MinIO(tb testing.TB, spec Spec) (objstore.Bucket, *Manifest) {
	tb.Helper()
	dir, man := cached(tb, spec)
	unlock, err := lockFile(filepath.Join(dir, minioLock))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(unlock) // registered first, so it runs after the server stops
	_, err = os.Stat(filepath.Join(dir, minioDone))
	copied := err == nil
	if !copied {
		// What a copy that was interrupted left is of no use.
		if err := os.RemoveAll(filepath.Join(dir, minioDir)); err != nil {
			tb.Fatal(err)
		}
	}
	srv := miniotest.StartIn(tb, filepath.Join(dir, minioDir))
	bkt, err := objstore.NewS3(srv.Bucket(tb, minioBucket), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	if !copied {
		began := time.Now()
		if err := copyDir(tb.Context(), filepath.Join(dir, blocksDir), bkt); err != nil {
			tb.Fatalf("copy dataset into MinIO: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, minioDone), nil, 0o644); err != nil {
			tb.Fatal(err)
		}
		tb.Logf("dataset %s: copied into MinIO in %s", spec.key(), time.Since(began).Round(time.Millisecond))
	}
	return bkt, man
}

// cached returns the folder of spec's dataset, building it unless a
// complete one is there. A dataset is built in a folder of its own and
// renamed into place, so a run that dies leaves nothing half-built under
// the key, and of two runs building at once, one wins and the other
// uses its result.
func cached(tb testing.TB, spec Spec) (string, *Manifest) {
	tb.Helper()
	dir := filepath.Join(CacheDir(), spec.key())
	if man, err := readManifest(dir); err == nil {
		tb.Logf("dataset %s: cached in %s", spec.key(), dir)
		return dir, man
	} else if !errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("dataset %s: %v (delete %s to build it again)", spec.key(), err, dir)
	}
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp, err := os.MkdirTemp(CacheDir(), spec.key()+".building-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp) // gone once renamed
	bkt, err := objstore.NewDir(filepath.Join(tmp, blocksDir))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("dataset %s: building %d blocks of about %d spans in %s", spec.key(), spec.Blocks(), spec.SpansPerBlock, dir)
	man, err := Build(tb.Context(), bkt, spec)
	if err != nil {
		tb.Fatalf("build dataset %s: %v", spec.key(), err)
	}
	data, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, manifestFile), data, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if man, rerr := readManifest(dir); rerr == nil {
			return dir, man // another run finished first
		}
		tb.Fatalf("dataset %s: %v", spec.key(), err)
	}
	tb.Logf("dataset %s: built in %s: %d blocks, %d traces, %d spans, %d MB",
		spec.key(), man.BuildTime.Round(time.Second), man.Stats.Blocks, man.Stats.Traces, man.Stats.Spans, man.Stats.Bytes>>20)
	return dir, man
}

func readManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return &m, nil
}

// copyDir uploads every file under dir to bkt, named by its path below dir.
func copyDir(ctx context.Context, dir string, bkt objstore.Bucket) error {
	names := make(chan string)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range 8 {
		wg.Go(func() {
			for name := range names {
				if err := copyFile(ctx, dir, name, bkt); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	walkErr := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		names <- filepath.ToSlash(rel)
		return ctx.Err()
	})
	close(names)
	wg.Wait()
	return errors.Join(append(errs, walkErr)...)
}

func copyFile(ctx context.Context, dir, name string, bkt objstore.Bucket) error {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := bkt.Upload(ctx, name, f); err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return nil
}
