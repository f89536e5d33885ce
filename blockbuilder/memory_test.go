package blockbuilder

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/schema"
)

// What a block-builder holds of a span it read and has not written yet:
// its record compressed, about a third of the record's bytes. Each pending
// span once took a copy of its record and more, and a builder holds a
// cycle of its partitions: under the 36,000 spans/s of issue 11's
// workload, about 250 MB.
func TestPendingSpansAreHeldCompressed(t *testing.T) {
	const spans = 100_000
	held, logBytes, _ := pendingHeap(t, loadgenRecords(t, spans))
	t.Logf("%d spans pending: %.0f bytes of heap each, their records %.0f bytes each",
		spans, float64(held)/spans, float64(logBytes)/spans)
	if held > logBytes/2 {
		t.Errorf("pending spans take %d bytes of heap, over half their records' %d", held, logBytes)
	}
}

// BenchmarkPendingMemory reports the heap a builder holds per pending span
// of the load generator's records (heap-B/span), their size in the log
// (log-B/span), and the time to take each record in (compressing it).
func BenchmarkPendingMemory(b *testing.B) {
	const spans = 200_000
	records := loadgenRecords(b, spans)
	var held, logBytes int64
	var took time.Duration
	for b.Loop() {
		var d time.Duration
		held, logBytes, d = pendingHeap(b, records)
		took += d
	}
	b.ReportMetric(float64(held)/spans, "heap-B/span")
	b.ReportMetric(float64(logBytes)/spans, "log-B/span")
	b.ReportMetric(float64(took.Nanoseconds())/float64(b.N)/spans, "take-ns/span")
}

// pendingHeap takes records into pending blocks as the builder's loop
// does, and returns the heap they hold once taken, their values' bytes,
// and the time taking them took. The records, as fetched, stay: the heap
// counted is what the builder adds.
func pendingHeap(tb testing.TB, records []*kgo.Record) (held, logBytes int64, took time.Duration) {
	tb.Helper()
	for _, r := range records {
		logBytes += int64(len(r.Value))
	}
	cfg := DefaultConfig()
	runtime.GC()
	before := liveHeap()
	start := time.Now()
	parts := make(map[int32]*pending)
	var scratch []byte
	for _, r := range records {
		var h *record
		h, scratch = hold(r, schema.RecordTenancy{Default: "default"}, nil, scratch)
		p := parts[h.partition]
		if p == nil {
			p = newPending(h, cfg.CycleDuration)
			parts[h.partition] = p
		}
		p.offer(h, 1<<62)
	}
	took = time.Since(start)
	scratch = nil
	held = int64(liveHeap() - before)
	runtime.KeepAlive(parts)
	runtime.KeepAlive(records)
	return held, logBytes, took
}

// liveHeap returns the bytes of the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A tenant block larger than max-part-bytes is decoded a part at a time:
// writing it takes memory of the part's size, not the block's. A builder
// once decoded a whole block at once: about 8 times its records' bytes,
// up to half a gigabyte for a block at max-block-bytes.
func TestLargeBlockIsWrittenWithinTheMemoryBound(t *testing.T) {
	records := loadgenRecords(t, 60_000)
	f := newFixtureOf(t, 1, kfake.DataDir(t.TempDir()))
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var logBytes int64
	for _, r := range records {
		r.Topic, r.Partition, r.Timestamp = f.kafka.Topic, 0, base
		logBytes += int64(len(r.Value))
	}
	cl, err := kgo.NewClient(append(f.kafka.ClientOpts("load"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	records = nil

	set := func(c *Config) {
		c.CycleDuration = time.Hour // one block
		c.MaxBlockBytes = 32 << 20
		c.MaxPartBytes = logBytes / 8
		c.FlushConcurrency = 1
		c.MaxBufferedBytes = 32 << 20
		c.FetchMaxBytes = 1 << 20
		c.FetchMaxPartitionBytes = 1 << 20
		c.MaxConcurrentFetches = 1
	}
	got, bound := f.drainWithinBound("builders", set)
	t.Logf("a block of %d MiB of records written in parts of %d MiB: peak live heap %d MiB, bound %d MiB",
		logBytes>>20, logBytes/8>>20, got>>20, bound>>20)
	if n := promtest.Value(t, f.reg, "spanlog_block_builder_parts_decoded_total"); n < 4 {
		t.Errorf("the block was decoded in %v parts, want 4 or more", n)
	}
}
