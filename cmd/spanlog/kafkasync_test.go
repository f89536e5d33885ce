package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The fsyncs of a group commit cover every file the embedded Kafka wrote
// records of the partitions named to since they were last synced, in its
// real layout: the newest segment, the segments it rolled to since, and
// the directories that got a new file; and nothing of other partitions.
func TestSegmentFilesSyncWhatWasWritten(t *testing.T) {
	const segment = 64 << 10
	cfg := defaultConfig()
	cfg.EmbeddedKafka.Port, cfg.EmbeddedKafka.DataDir = 0, t.TempDir()
	cfg.EmbeddedKafka.MaxMessageBytes, cfg.EmbeddedKafka.SegmentBytes = 32<<10, segment
	cfg.Kafka.Partitions = 4
	kafka, cl := embedded(t, cfg.EmbeddedKafka, cfg.Kafka, prometheus.NewRegistry())
	files := newSegmentFiles(cfg.EmbeddedKafka.DataDir, kafka.Topic)
	var (
		mu     sync.Mutex
		synced []string
	)
	files.fsync = func(path string) error {
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
		return fsyncPath(path)
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
		return []string{filepath.Join(dir(p), base+".dat"), filepath.Join(dir(p), base+".idx")}
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
