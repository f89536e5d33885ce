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
// A round lists a partition's directory only when a new segment may be in
// it, and otherwise fsyncs the newest segment through a handle it keeps
// open: a listing, an open and a close per partition were about a third
// of a round's CPU (docs/benchmarks.md). The rule, from kfake's
// code (persistBatchToSegment): it rolls only before a write, and only
// when the newest segment holds segment.bytes or more, and a segment's
// file never shrinks below what kfake counted it to hold; a trim or a
// compaction deletes files, and may then create one of a name seen
// before. So while the file held open still has a name (a link) and holds
// fewer than segment.bytes, no segment newer than it exists. That needs
// segment.bytes to be no less than spanlog set it, at each start
// (configureEmbeddedTopic): one changed through the broker's API to less
// would let a round miss a new segment.
//
// Rounds in flight call sync concurrently. Each starts from the newest
// segments of the syncs that had succeeded when it started, which may
// cover less than the rounds still running will, never more: a segment
// is skipped only once a successful fsync of it, complete, returned.
type segmentFiles struct {
	dataDir string
	topic   string
	// segmentBytes is the topic's segment.bytes: kfake rolls to a new
	// segment once the newest holds that many bytes.
	segmentBytes int64

	mu sync.Mutex
	// newest is the base offset of each partition's newest segment at a
	// successful sync, the greatest of them: older segments were complete
	// then, and synced.
	newest map[int32]int64
	// held is each partition's newest segment a successful sync listed,
	// open: one file per partition written to, closed by close.
	held map[int32]*heldSegment
	// closed is set by close; rounds after it hold no file.
	closed bool
	// fsync syncs the file or directory at path, through f when it is
	// not nil (a file held open); a file that does not exist is not an
	// error.
	fsync func(path string, f *os.File) error
}

// heldSegment is a segment file held open. It counts its references
// under segmentFiles.mu: one while segmentFiles.held has it, one per
// round using it; the last one closes it, so no round fsyncs it closed.
type heldSegment struct {
	base int64
	path string
	f    *os.File
	refs int
}

// newSegmentFiles returns the files of topic's partitions under dataDir,
// whose segment.bytes is segmentBytes.
func newSegmentFiles(dataDir, topic string, segmentBytes int64) *segmentFiles {
	return &segmentFiles{
		dataDir: dataDir, topic: topic, segmentBytes: segmentBytes,
		newest: make(map[int32]int64), held: make(map[int32]*heldSegment), fsync: fsyncFile,
	}
}

// fsyncTarget is a file or directory a round fsyncs: through f, held
// open, or by path when f is nil.
type fsyncTarget struct {
	path string
	f    *os.File
}

// sync fsyncs the segment files of partitions written since their last
// sync: from the newest one then on, or all of them at a partition's
// first sync. When a segment was created since, it fsyncs the partition's
// directory too, which holds the new file's name; at a partition's first
// sync, also the directories above it up to the data directory.
func (s *segmentFiles) sync(partitions map[int32]struct{}) error {
	synced := make(map[int32]int64, len(partitions))
	// used are the files this round fsyncs through, held or opened by
	// it; it lets go of them when it ends.
	used := make(map[int32]*heldSegment, len(partitions))
	s.mu.Lock()
	for p := range partitions {
		if b, seen := s.newest[p]; seen {
			synced[p] = b
			if h := s.held[p]; h != nil && h.base == b {
				h.refs++
				used[p] = h
			}
		}
	}
	s.mu.Unlock()
	defer s.release(used)

	var targets []fsyncTarget
	stale := make(map[int32]*heldSegment)
	newest := make(map[int32]int64, len(partitions))
	for p := range partitions {
		if h := used[p]; h != nil {
			if s.newestStill(h.f) {
				targets = append(targets, fsyncTarget{path: h.path, f: h.f})
				newest[p] = h.base
				continue
			}
			stale[p] = h
		}
		dir := filepath.Join(s.dataDir, "partitions", url.PathEscape(s.topic)+"-"+strconv.Itoa(int(p)))
		bases, err := segmentBases(dir)
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		from, seen := synced[p]
		if !seen {
			from = bases[0]
			targets = append(targets, fsyncTarget{path: filepath.Dir(dir)}, fsyncTarget{path: s.dataDir})
		}
		last := bases[len(bases)-1]
		if !seen || last > from {
			targets = append(targets, fsyncTarget{path: dir})
		}
		for _, b := range bases {
			if b >= from && b < last {
				targets = append(targets, fsyncTarget{path: segmentPath(dir, b)})
			}
		}
		path := segmentPath(dir, last)
		f, err := os.Open(path)
		switch {
		case err == nil:
			// The one it replaces, if any, is let go of with the others.
			s.release(map[int32]*heldSegment{p: used[p]})
			used[p] = &heldSegment{base: last, path: path, f: f, refs: 1}
			targets = append(targets, fsyncTarget{path: path, f: f})
		case errors.Is(err, fs.ErrNotExist):
			// Trimmed since the listing, and its records with it.
		default:
			return fmt.Errorf("partition %d: %w", p, err)
		}
		newest[p] = last
	}
	slices.SortFunc(targets, func(a, b fsyncTarget) int { return strings.Compare(a.path, b.path) })
	targets = slices.CompactFunc(targets, func(a, b fsyncTarget) bool { return a.path == b.path })
	if err := fsyncAll(targets, s.fsync); err != nil {
		return err
	}
	// A round that listed the segments earlier may end later: newest
	// only moves on, and so does the file held.
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, h := range stale {
		if s.held[p] == h {
			s.drop(p)
		}
	}
	for p, b := range newest {
		if old, seen := s.newest[p]; !seen || b > old {
			s.newest[p] = b
		}
		h, held := used[p], s.held[p]
		if h != nil && h != held && h.base == s.newest[p] && !s.closed && (held == nil || held.base < h.base) {
			s.drop(p)
			h.refs++
			s.held[p] = h
		}
	}
	return nil
}

// newestStill reports whether f, the newest segment of its partition when
// it was listed, is so still. When it cannot tell, it says no, and the
// round lists the directory.
func (s *segmentFiles) newestStill(f *os.File) bool {
	info, err := f.Stat()
	if err != nil {
		return false
	}
	return linked(info) && info.Size() < s.segmentBytes
}

// release lets go of the files in used, a round's, closing those no
// longer held.
func (s *segmentFiles) release(used map[int32]*heldSegment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range used {
		if h != nil {
			s.unref(h)
		}
	}
}

// unref drops a reference to h, closing its file with the last one. s.mu
// must be held.
func (s *segmentFiles) unref(h *heldSegment) {
	h.refs--
	if h.refs == 0 {
		h.f.Close()
	}
}

// drop stops holding partition p's file; the last round using it closes
// it. s.mu must be held.
func (s *segmentFiles) drop(p int32) {
	h := s.held[p]
	if h == nil {
		return
	}
	delete(s.held, p)
	s.unref(h)
}

// close closes the files held, or has the rounds using them close them
// when they end. Rounds after it list and open every time.
func (s *segmentFiles) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for p := range s.held {
		s.drop(p)
	}
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

// segmentPath returns the path of the segment of base offset base in the
// partition directory dir.
func segmentPath(dir string, base int64) string {
	return filepath.Join(dir, strconv.FormatInt(base, 10)+".dat")
}

// fsyncAll runs fsync on every target, maxParallelFsyncs at a time, and
// returns the errors.
func fsyncAll(targets []fsyncTarget, fsync func(string, *os.File) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	slots := make(chan struct{}, maxParallelFsyncs)
	for _, t := range targets {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := fsync(t.path, t.f); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fsyncFile fsyncs the file or directory at path, through f if it is not
// nil: a segment held open, whose data alone is synced (syncData).
func fsyncFile(path string, f *os.File) error {
	if f != nil {
		return syncData(f)
	}
	return fsyncPath(path)
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
