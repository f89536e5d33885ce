package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// maxParallelFsyncs bounds the fsyncs one group commit runs at once. A
// disk serves concurrent fsyncs together (on the test machine 16 of them
// took 2ms, one after another 8 to 18ms), and each one in flight holds a
// thread.
const maxParallelFsyncs = 16

// segmentFiles fsyncs the files in which the embedded Kafka (kfake, with a
// data directory) keeps a topic's partitions. kfake writes each produced
// record batch to its partition's files before it acknowledges it, and
// fsyncs nothing on the way unless told to sync every write
// (kfake.SyncWrites), which it does in its one goroutine, one partition
// after another, blocking every other request meanwhile. Here the fsyncs
// run outside it, all at once, and for many writes together (groupCommit).
//
// kfake's layout, which this depends on: a partition's files are in
// <data-dir>/partitions/<topic, path-escaped>-<partition>/, a segment
// per <base offset>.dat of record batches, each with a <base offset>.idx,
// and kfake appends to the newest segment only, rolling to a new one when
// it is full; trimming deletes whole segments. A partition written to
// without a segment file found is an error, so that a change of layout
// fails writes rather than leaving them unsynced.
//
// Only the segments (.dat) are synced, not their index files (.idx),
// which halves the fsyncs of a round and so its time (see
// docs/benchmarks.md). A segment holds the records whole; an index entry
// holds what kfake adds to a batch: its leader epoch and whether it is
// part of a transaction. For a batch without its entry, as after a power
// cut took an index's unsynced tail, kfake loads epoch 0 and no
// transaction, which is what every entry says here: a single broker never
// changes a partition's leader, and the distributor writes no
// transactions (TestEmbeddedKafkaLoadsWithoutIndexes).
//
// Rounds in flight call sync concurrently. Each starts from the newest
// segments of the syncs that had succeeded when it started, which may
// cover less than the rounds still running will, never more: a segment
// is skipped only once a successful fsync of it, complete, returned.
type segmentFiles struct {
	dataDir string
	topic   string

	mu sync.Mutex
	// newest is the base offset of each partition's newest segment at a
	// successful sync, the greatest of them: older segments were complete
	// then, and synced.
	newest map[int32]int64
	// fsync syncs the file or directory at path; a file that does not
	// exist is not an error.
	fsync func(path string) error
}

func newSegmentFiles(dataDir, topic string) *segmentFiles {
	return &segmentFiles{dataDir: dataDir, topic: topic, newest: make(map[int32]int64), fsync: fsyncPath}
}

// sync fsyncs the segment files of partitions written since their last
// sync: from the newest one then on, or all of them at a partition's
// first sync. When a segment was created since, it fsyncs the partition's
// directory too, which holds the new file's name; at a partition's first
// sync, also the directories above it up to the data directory.
func (s *segmentFiles) sync(partitions map[int32]struct{}) error {
	synced := make(map[int32]int64, len(partitions))
	s.mu.Lock()
	for p := range partitions {
		if b, seen := s.newest[p]; seen {
			synced[p] = b
		}
	}
	s.mu.Unlock()
	var paths []string
	newest := make(map[int32]int64, len(partitions))
	for p := range partitions {
		dir := filepath.Join(s.dataDir, "partitions", url.PathEscape(s.topic)+"-"+strconv.Itoa(int(p)))
		bases, err := segmentBases(dir)
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		from, seen := synced[p]
		if !seen {
			from = bases[0]
			paths = append(paths, filepath.Dir(dir), s.dataDir)
		}
		last := bases[len(bases)-1]
		if !seen || last > from {
			paths = append(paths, dir)
		}
		for _, b := range bases {
			if b >= from {
				paths = append(paths, filepath.Join(dir, strconv.FormatInt(b, 10)+".dat"))
			}
		}
		newest[p] = last
	}
	slices.Sort(paths)
	if err := fsyncAll(slices.Compact(paths), s.fsync); err != nil {
		return err
	}
	// A round that listed the segments earlier may end later: newest
	// only moves on.
	s.mu.Lock()
	for p, b := range newest {
		if old, seen := s.newest[p]; !seen || b > old {
			s.newest[p] = b
		}
	}
	s.mu.Unlock()
	return nil
}

// segmentBases returns the base offsets of the segments in a partition's
// directory, in order; there is at least one.
func segmentBases(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var bases []int64
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".dat"); ok {
			if b, err := strconv.ParseInt(name, 10, 64); err == nil {
				bases = append(bases, b)
			}
		}
	}
	if len(bases) == 0 {
		return nil, fmt.Errorf("no segment file in %s", dir)
	}
	slices.Sort(bases)
	return bases, nil
}

// fsyncAll runs fsync on every path, maxParallelFsyncs at a time, and
// returns the errors.
func fsyncAll(paths []string, fsync func(string) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	slots := make(chan struct{}, maxParallelFsyncs)
	for _, path := range paths {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := fsync(path); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fsyncPath fsyncs the file or directory at path. One that does not exist
// is no error: trimming deleted it, and the records in it with it.
func fsyncPath(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
