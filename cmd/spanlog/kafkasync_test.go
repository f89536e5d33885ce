package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/tracelog"
)

// The fsyncs of a group commit cover every segment file the embedded
// Kafka wrote records of the partitions named to since they were last
// synced, in its real layout: the newest segment, the segments it rolled
// to since, and the directories that got a new file; and nothing of other
// partitions, nor the segments' index files.
func TestSegmentFilesSyncWhatWasWritten(t *testing.T) {
	const segment = 64 << 10
	cfg := defaultConfig()
	cfg.EmbeddedKafka.Port, cfg.EmbeddedKafka.DataDir = 0, t.TempDir()
	cfg.EmbeddedKafka.MaxMessageBytes, cfg.EmbeddedKafka.SegmentBytes = 32<<10, segment
	cfg.Kafka.Partitions = 4
	kafka, cl := embedded(t, cfg.EmbeddedKafka, cfg.Kafka, prometheus.NewRegistry())
	files := newSegmentFiles(cfg.EmbeddedKafka.DataDir, kafka.Topic, segment)
	t.Cleanup(files.close)
	var (
		mu     sync.Mutex
		synced []string
	)
	files.fsync = func(path string, f *os.File) error {
		rel, err := filepath.Rel(cfg.EmbeddedKafka.DataDir, path)
		if err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("synced %s: %v", rel, err)
		}
		mu.Lock()
		synced = append(synced, rel)
		mu.Unlock()
		return fsyncFile(path, f)
	}
	produce := func(partition int32, records, bytes int) {
		t.Helper()
		var recs []*kgo.Record
		for range records {
			recs = append(recs, &kgo.Record{Topic: kafka.Topic, Partition: partition, Value: make([]byte, bytes)})
		}
		// One at a time: a batch per record, and each batch a write.
		for _, r := range recs {
			if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(want ...string) {
		t.Helper()
		synced = nil
		partitions := make(map[int32]struct{})
		for _, p := range []int32{0, 1} {
			partitions[p] = struct{}{}
		}
		if err := files.sync(partitions); err != nil {
			t.Fatal(err)
		}
		slices.Sort(synced)
		slices.Sort(want)
		if !slices.Equal(synced, want) {
			t.Errorf("synced\n\t%s\nwant\n\t%s", strings.Join(synced, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
	dir := func(p string) string { return filepath.Join("partitions", kafka.Topic+"-"+p) }
	seg := func(p, base string) []string {
		return []string{filepath.Join(dir(p), base+".dat")}
	}

	// The first sync of a partition: its files and the directories up to
	// the data directory, which may have been created since the last
	// one that was synced.
	produce(0, 1, 100)
	produce(1, 1, 100)
	produce(2, 1, 100) // not named
	check(slices.Concat([]string{".", "partitions", dir("0"), dir("1")}, seg("0", "0"), seg("1", "0"))...)

	// Partition 0 rolls twice: kfake writes to a new segment once the
	// newest holds 64 KiB, so 4 records are in the first, 3 in the
	// second, 2 in the third. Partition 1 gets nothing new; its newest
	// segment is synced again, at little cost, as kfake may have written
	// to it.
	produce(0, 8, 30<<10)
	bases := segmentNames(t, filepath.Join(cfg.EmbeddedKafka.DataDir, dir("0")))
	if len(bases) != 3 {
		t.Fatalf("partition 0 has segments %v, want 3", bases)
	}
	check(slices.Concat([]string{dir("0")}, seg("0", bases[0]), seg("0", bases[1]), seg("0", bases[2]), seg("1", "0"))...)

	// No new segment: the newest ones only.
	produce(0, 1, 100)
	check(slices.Concat(seg("0", bases[2]), seg("1", "0"))...)

	// A partition named but without a file of records: kfake's layout is
	// not what this expects, and writes must fail rather than go unsynced.
	if err := files.sync(map[int32]struct{}{3: {}}); err == nil {
		t.Error("sync of a partition without segment files succeeded")
	}
}

// Rounds in flight sync concurrently. One that starts while another runs
// syncs from where the last sync that succeeded left off, so it does not
// skip the segments the one running has yet to sync; and one that listed
// the segments earlier but ends later does not move a partition's newest
// segment back, to sync again what was synced.
func TestSegmentFilesConcurrentSyncs(t *testing.T) {
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, "partitions", "spans-0")
	// segment rolls as kfake does, to a new segment once the newest is
	// full: here, of segment.bytes 1.
	newest := ""
	segment := func(base string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if newest != "" {
			if err := os.WriteFile(filepath.Join(dir, newest+".dat"), []byte{1}, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, base+".dat"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		newest = base
	}
	files := newSegmentFiles(dataDir, "spans", 1)
	t.Cleanup(files.close)
	var (
		mu     sync.Mutex
		synced []string
		// hold, when set, is where the next fsync of 0.dat waits.
		hold    chan struct{}
		holding = make(chan struct{})
	)
	files.fsync = func(path string, _ *os.File) error {
		rel, err := filepath.Rel(dataDir, path)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		synced = append(synced, rel)
		wait := hold
		if filepath.Base(path) == "0.dat" {
			hold = nil
		} else {
			wait = nil
		}
		mu.Unlock()
		if wait != nil {
			holding <- struct{}{}
			<-wait
		}
		return nil
	}
	partition0 := map[int32]struct{}{0: {}}
	syncs := func(want ...string) {
		t.Helper()
		if err := files.sync(partition0); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := slices.Sorted(slices.Values(synced))
		synced = nil
		mu.Unlock()
		if !slices.Equal(got, want) {
			t.Errorf("synced %v, want %v", got, want)
		}
	}
	seg := func(base string) string { return filepath.Join("partitions", "spans-0", base+".dat") }

	segment("0")
	syncs(".", "partitions", filepath.Join("partitions", "spans-0"), seg("0"))

	// A lists segments 0 and 10, and waits in its fsync of 0.
	segment("10")
	release := make(chan struct{})
	mu.Lock()
	hold = release
	mu.Unlock()
	a := make(chan error, 1)
	go func() { a <- files.sync(partition0) }()
	<-holding
	// A's other fsyncs run beside the one held: let them be counted as
	// A's, not B's.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(synced)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A made %d fsyncs, want 3", n)
		}
	}
	mu.Lock()
	synced = nil
	mu.Unlock()

	// B, while A runs, syncs from 0 too, though A already listed 10.
	segment("20")
	syncs(filepath.Join("partitions", "spans-0"), seg("0"), seg("10"), seg("20"))

	close(release)
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	synced = nil
	mu.Unlock()
	// A ended last, having listed up to 10: the newest stays 20.
	syncs(seg("20"))
}

// segmentNames returns the base offsets of the segments in dir, as text,
// in order.
func segmentNames(t *testing.T, dir string) []string {
	t.Helper()
	bases, err := segmentBases(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bases {
		names = append(names, strconv.FormatInt(b, 10))
	}
	return names
}

// A group commit does not sync the segments' index files: a power cut may
// take an index's tail, or the whole file, while the records in the
// segment beside it are on disk. The embedded Kafka then loads every
// record as it was acknowledged, with the same offsets and leader epochs,
// visible to read-committed readers such as the block-builders, and goes
// on writing after them; whether it loads from the snapshot a clean stop
// left or replays the segments, as after a crash.
func TestEmbeddedKafkaLoadsWithoutIndexes(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run("crash="+strconv.FormatBool(crash), func(t *testing.T) {
			cfg := defaultConfig()
			cfg.EmbeddedKafka.Port, cfg.EmbeddedKafka.DataDir = 0, t.TempDir()
			cfg.EmbeddedKafka.MaxMessageBytes, cfg.EmbeddedKafka.SegmentBytes = 32<<10, 64<<10
			cfg.Kafka.Partitions = 3
			dataDir := cfg.EmbeddedKafka.DataDir

			// Batches of several records and single ones, some segments
			// rolled, in the distributor's produce mode (idempotent,
			// acks=all).
			written := restartEmbedded(t, cfg, func(kafka tracelog.Config, cl *kgo.Client) {
				for i := range 40 {
					var recs []*kgo.Record
					for p := range int32(cfg.Kafka.Partitions) {
						for j := range 1 + i%3 {
							recs = append(recs, &kgo.Record{Topic: kafka.Topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d-%d-%s", i, p, j, make([]byte, 3<<10))})
						}
					}
					if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
						t.Fatal(err)
					}
				}
			})
			var indexes int
			err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				switch {
				case strings.HasSuffix(path, ".idx"):
					indexes++
				case crash && d.Name() == "snapshot.json":
				default:
					return nil
				}
				return os.Remove(path)
			})
			if err != nil {
				t.Fatal(err)
			}
			if indexes < 2*int(cfg.Kafka.Partitions) {
				t.Fatalf("removed %d index files, want 2 segments' or more per partition; kfake's layout changed?", indexes)
			}

			// Everything is back, and the log goes on after it.
			loaded := restartEmbedded(t, cfg, func(kafka tracelog.Config, cl *kgo.Client) {
				for p := range int32(cfg.Kafka.Partitions) {
					if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: kafka.Topic, Partition: p, Value: []byte("after")}).FirstErr(); err != nil {
						t.Fatal(err)
					}
				}
			})
			if !reflect.DeepEqual(loaded.leaderEpochs, written.leaderEpochs) {
				t.Errorf("leader epochs %v after the load, %v before", loaded.leaderEpochs, written.leaderEpochs)
			}
			if !slices.Equal(loaded.loaded, written.records) {
				t.Errorf("%d records loaded, %d written; or not the same", len(loaded.loaded), len(written.records))
			}
			want := slices.Clone(written.records)
			for p := range cfg.Kafka.Partitions {
				want = append(want, loggedRecord{partition: p, offset: loaded.ends[p], value: "after"})
			}
			slices.SortFunc(want, compareLogged)
			if !slices.Equal(loaded.records, want) {
				t.Errorf("%d records after the writes that followed the load, want %d; or not the same", len(loaded.records), len(want))
			}
			again := restartEmbedded(t, cfg, func(tracelog.Config, *kgo.Client) {})
			if !slices.Equal(again.loaded, want) {
				t.Errorf("%d records after another restart, want %d; or not the same", len(again.loaded), len(want))
			}
		})
	}
}

// loggedRecord is a record as a read-committed reader gets it.
type loggedRecord struct {
	partition int32
	offset    int64
	value     string
}

func compareLogged(a, b loggedRecord) int {
	if a.partition != b.partition {
		return int(a.partition - b.partition)
	}
	return int(a.offset - b.offset)
}

// embeddedLog is what a start of the embedded Kafka holds.
type embeddedLog struct {
	// loaded are the records it started with, and records those it
	// held after write, by partition and offset.
	loaded, records []loggedRecord
	// ends and leaderEpochs are per partition, as it started.
	ends         []int64
	leaderEpochs []int32
}

// restartEmbedded starts the embedded Kafka on cfg's data directory, reads
// every record it loaded, read committed, lets write write, and stops it
// cleanly.
func restartEmbedded(t *testing.T, cfg Config, write func(tracelog.Config, *kgo.Client)) embeddedLog {
	t.Helper()
	c, _, err := startEmbeddedKafka(t.Context(), cfg.EmbeddedKafka, cfg.Kafka, (&logtest.Buffer{}).Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kafka := cfg.Kafka
	kafka.Brokers = c.ListenAddrs()
	cl, err := kgo.NewClient(append(kafka.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(t.Context(), kafka.Topic)
	if err != nil {
		t.Fatal(err)
	}
	md, err := adm.Metadata(t.Context(), kafka.Topic)
	if err != nil {
		t.Fatal(err)
	}
	var log embeddedLog
	for p := range cfg.Kafka.Partitions {
		end, _ := ends.Lookup(kafka.Topic, p)
		log.ends = append(log.ends, end.Offset)
		log.leaderEpochs = append(log.leaderEpochs, md.Topics[kafka.Topic].Partitions[p].LeaderEpoch)
	}
	log.loaded = readCommitted(t, kafka, ends)
	write(kafka, cl)
	if ends, err = adm.ListEndOffsets(t.Context(), kafka.Topic); err != nil {
		t.Fatal(err)
	}
	log.records = readCommitted(t, kafka, ends)
	return log
}

// readCommitted reads the log up to ends, as the block-builders read it.
func readCommitted(t *testing.T, kafka tracelog.Config, ends kadm.ListedOffsets) []loggedRecord {
	t.Helper()
	want := 0
	start := make(map[int32]kgo.Offset)
	ends.Each(func(o kadm.ListedOffset) {
		want += int(o.Offset)
		start[o.Partition] = kgo.NewOffset().AtStart()
	})
	cl, err := kgo.NewClient(append(kafka.ClientOpts("test-reader"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafka.Topic: start}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var records []loggedRecord
	for len(records) < want {
		fetches := cl.PollFetches(ctx)
		if err := fetches.Err0(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(records), want, err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			records = append(records, loggedRecord{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
		})
	}
	slices.SortFunc(records, compareLogged)
	return records
}

// syncedFiles records the fsyncs of a segmentFiles that returned: the
// inode of each file or directory, and how many bytes it held when its
// fsync was called, in the order the fsyncs returned.
type syncedFiles struct {
	mu    sync.Mutex
	files []syncedFile
}

type syncedFile struct {
	inode uint64
	size  int64
}

// hook makes files record its fsyncs in s.
func (s *syncedFiles) hook(t *testing.T, files *segmentFiles) {
	files.fsync = func(path string, f *os.File) error {
		info, err := os.Stat(path)
		if f != nil {
			info, err = f.Stat()
		}
		if err != nil {
			t.Errorf("fsync %s: %v", path, err)
			return err
		}
		if err := fsyncFile(path, f); err != nil {
			return err
		}
		s.mu.Lock()
		s.files = append(s.files, syncedFile{inode: inode(t, info), size: info.Size()})
		s.mu.Unlock()
		return nil
	}
}

// returned returns how many fsyncs have returned.
func (s *syncedFiles) returned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.files)
}

// since reports whether an fsync of the inode returned after the first
// since.
func (s *syncedFiles) since(since int, ino uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.files[since:], func(f syncedFile) bool { return f.inode == ino })
}

// covered reports whether an fsync of the inode returned that was called
// once the file held size bytes or more: the records in those bytes are on
// disk.
func (s *syncedFiles) covered(ino uint64, size int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.files, func(f syncedFile) bool { return f.inode == ino && f.size >= size })
}

func inode(t *testing.T, info fs.FileInfo) uint64 {
	t.Helper()
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("no inode for %s", info.Name())
	}
	return st.Ino
}

// segmentHolding returns the inode of the segment in dir that holds the
// record at offset, the one of the greatest base offset not above it, and
// its size.
func segmentHolding(t *testing.T, dir string, offset int64) (uint64, int64) {
	t.Helper()
	bases, err := segmentBases(dir)
	if err != nil {
		t.Fatal(err)
	}
	i, found := slices.BinarySearch(bases, offset)
	if !found {
		i--
	}
	info, err := os.Stat(segmentPath(dir, bases[i]))
	if err != nil {
		t.Fatal(err)
	}
	return inode(t, info), info.Size()
}

// openSegments returns how many of the process's file descriptors are of
// segment files under dir, and how many of those were deleted.
func openSegments(t *testing.T, dir string) (open, deleted int) {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd to count open files: %v", err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil || !strings.HasPrefix(target, dir+string(filepath.Separator)) {
			continue // closed meanwhile, or not under dir
		}
		target, gone := strings.CutSuffix(target, " (deleted)")
		if strings.HasSuffix(target, ".dat") {
			open++
			if gone {
				deleted++
			}
		}
	}
	return open, deleted
}

// Writers on the same partitions, each acked then synced through a group
// commit whose rounds overlap, while kfake rolls to new segments often:
// when a Sync returns, an fsync of the segment that holds the writer's
// record, called once the record was in it, has returned, though the
// group commit lists a partition's segments only when the one it holds
// open is full. It holds one segment
// open per partition, and none once closed.
func TestGroupCommitSyncsRolledSegments(t *testing.T) {
	const (
		partitions = 4
		writers    = 4
		records    = 60 // per writer: 60 of 1 KiB per partition, 4 or so segments
	)
	cfg := defaultConfig()
	cfg.EmbeddedKafka.Port, cfg.EmbeddedKafka.DataDir = 0, t.TempDir()
	cfg.EmbeddedKafka.MaxMessageBytes, cfg.EmbeddedKafka.SegmentBytes = 4<<10, 16<<10
	cfg.Kafka.Partitions = partitions
	kafka, cl := embedded(t, cfg.EmbeddedKafka, cfg.Kafka, prometheus.NewRegistry())
	files := newSegmentFiles(cfg.EmbeddedKafka.DataDir, kafka.Topic, cfg.EmbeddedKafka.SegmentBytes)
	var synced syncedFiles
	synced.hook(t, files)
	g := newGroupCommit(files.sync, 4, (&logtest.Buffer{}).Logger(), prometheus.NewRegistry())
	partitionDir := func(p int32) string {
		return filepath.Join(cfg.EmbeddedKafka.DataDir, "partitions", kafka.Topic+"-"+strconv.Itoa(int(p)))
	}

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range records {
				p := int32((i + w) % partitions)
				r, err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: kafka.Topic, Partition: p, Value: make([]byte, 1<<10)}).First()
				if err != nil {
					t.Error(err)
					return
				}
				// The record is in the segment's first size bytes. A
				// round of another writer's may have fsynced them, and
				// moved on to the next segment, before this one's Sync.
				segment, size := segmentHolding(t, partitionDir(p), r.Offset)
				if err := g.Sync(t.Context(), []int32{p}); err != nil {
					t.Error(err)
					return
				}
				if !synced.covered(segment, size) {
					t.Errorf("partition %d offset %d: no fsync of its segment's first %d bytes returned", p, r.Offset, size)
				}
			}
		})
	}
	wg.Wait()
	for p := range int32(partitions) {
		if bases := segmentNames(t, partitionDir(p)); len(bases) < 3 {
			t.Errorf("partition %d has segments %v, want 3 or more: no roll to test", p, bases)
		}
	}

	// kfake holds its newest segment open, and so do the group commits.
	if open, deleted := openSegments(t, cfg.EmbeddedKafka.DataDir); open > 2*partitions || deleted > 0 {
		t.Errorf("%d segment files open (%d deleted), want at most 2 per partition", open, deleted)
	}
	files.close()
	if open, _ := openSegments(t, cfg.EmbeddedKafka.DataDir); open > partitions {
		t.Errorf("%d segment files open after close, want kfake's only, one per partition", open)
	}
}

// A trim that deletes the segment the group commit holds open, its
// partition's newest, and a write to a new segment after it: the next
// round fsyncs the new segment and the directory that names it, and
// closes the deleted one.
func TestSegmentFilesTrimmedWhileHeld(t *testing.T) {
	cfg := defaultConfig()
	cfg.EmbeddedKafka.Port, cfg.EmbeddedKafka.DataDir = 0, t.TempDir()
	cfg.Kafka.Partitions = 1
	kafka, cl := embedded(t, cfg.EmbeddedKafka, cfg.Kafka, prometheus.NewRegistry())
	files := newSegmentFiles(cfg.EmbeddedKafka.DataDir, kafka.Topic, cfg.EmbeddedKafka.SegmentBytes)
	t.Cleanup(files.close)
	var synced syncedFiles
	synced.hook(t, files)
	dir := filepath.Join(cfg.EmbeddedKafka.DataDir, "partitions", kafka.Topic+"-0")
	partition0 := map[int32]struct{}{0: {}}
	produce := func() int64 {
		t.Helper()
		r, err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: kafka.Topic, Value: []byte("span")}).First()
		if err != nil {
			t.Fatal(err)
		}
		return r.Offset
	}

	produce()
	if err := files.sync(partition0); err != nil {
		t.Fatal(err)
	}
	end := produce() + 1
	deletes := kadm.Offsets{}
	deletes.Add(kadm.Offset{Topic: kafka.Topic, Partition: 0, At: end})
	if _, err := kadm.NewClient(cl).DeleteRecords(t.Context(), deletes); err != nil {
		t.Fatal(err)
	}
	if bases, err := segmentBases(dir); err == nil {
		t.Fatalf("segments %v left after the trim, want none", bases)
	}
	offset := produce()

	since := synced.returned()
	if err := files.sync(partition0); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if segment, _ := segmentHolding(t, dir, offset); !synced.since(since, segment) {
		t.Error("the segment written after the trim was not fsynced")
	}
	if !synced.since(since, inode(t, info)) {
		t.Error("the directory that names the new segment was not fsynced")
	}
	if _, deleted := openSegments(t, cfg.EmbeddedKafka.DataDir); deleted > 0 {
		t.Errorf("%d deleted segments still open", deleted)
	}
}

// Stopping the embedded Kafka closes the segment files its group commit
// held open.
func TestEmbeddedKafkaCloseClosesSegmentFiles(t *testing.T) {
	cfg := defaultConfig()
	cfg.EmbeddedKafka.Port, cfg.EmbeddedKafka.DataDir = 0, t.TempDir()
	cfg.Kafka.Partitions = 2
	c, commit, err := startEmbeddedKafka(t.Context(), cfg.EmbeddedKafka, cfg.Kafka, (&logtest.Buffer{}).Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	kafka := cfg.Kafka
	kafka.Brokers = c.ListenAddrs()
	cl, err := kgo.NewClient(append(kafka.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for p := range int32(cfg.Kafka.Partitions) {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: kafka.Topic, Partition: p, Value: []byte("span")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := commit.Sync(t.Context(), []int32{0, 1}); err != nil {
		t.Fatal(err)
	}
	if open, _ := openSegments(t, cfg.EmbeddedKafka.DataDir); open != 2*int(cfg.Kafka.Partitions) {
		t.Errorf("%d segment files open, want kfake's and the group commit's, one each per partition", open)
	}
	c.Close()
	if open, _ := openSegments(t, cfg.EmbeddedKafka.DataDir); open != 0 {
		t.Errorf("%d segment files open after close", open)
	}
}

// syncData syncs a file written to, and fails on one that is closed
// rather than claiming a sync it did not do.
func TestSyncData(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "segment"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("record")); err != nil {
		t.Fatal(err)
	}
	if err := syncData(f); err != nil {
		t.Fatalf("sync of a written file: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syncData(f); err == nil {
		t.Fatal("sync of a closed file: no error")
	}
}
