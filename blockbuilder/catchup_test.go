package blockbuilder

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/schema"
)

// The terms of the block-builder's memory bound that are not settings, as
// docs/design.md states them: a part of a tenant block being written takes
// about partExpansion times its records' bytes (decoded spans, then their
// Parquet encoding), the block's file and the index of its spans about
// blockFileShare of the block's records, plus parquetWriterBytes of
// encoder state; and the process's Kafka clients and runtime take about
// baseBytes before any of it.
const (
	partExpansion      = 8
	blockFileShare     = 0.25
	parquetWriterBytes = 32 << 20
	baseBytes          = 32 << 20
)

// memoryBound is the heap a builder with cfg stays under, draining a log
// whose records are not compressed, however long the backlog.
func memoryBound(cfg Config) int64 {
	part := min(cfg.MaxPartBytes, cfg.MaxBlockBytes)
	return int64(cfg.FlushConcurrency)*(partExpansion*part+int64(blockFileShare*float64(cfg.MaxBlockBytes))+parquetWriterBytes) +
		cfg.MaxBufferedBytes + cfg.MaxBlockBytes +
		2*int64(cfg.MaxConcurrentFetches)*cfg.FetchMaxBytes +
		baseBytes
}

// A builder started on a backlog of many cycles over many partitions
// drains it within the memory bound of its settings, and every span of the
// backlog ends in a block once. A builder once decoded every cut
// partition's block before the flush concurrency applied, and held what it
// fetched, so its memory grew with the partitions and the fetch sizes.
func TestCatchUpStaysWithinTheMemoryBound(t *testing.T) {
	const (
		parts         = 12
		cycles        = 2
		tracesPerPart = 56 // per cycle: about 1 MiB
		spansPerTrace = 40
	)
	// The log lives on disk, so that the heap measured is the builder's.
	f := newFixtureOf(t, parts, kfake.DataDir(t.TempDir()))
	cl, err := kgo.NewClient(append(f.kafka.ClientOpts("backlog"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))...)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var logBytes int64
	traces := 0
	for c := range cycles {
		for i := range tracesPerPart {
			var rs []*kgo.Record
			for p := range int32(parts) {
				traces++
				r := backlogRecord(t, traces, spansPerTrace)
				r.Topic, r.Partition = f.kafka.Topic, p
				r.Timestamp = base.Add(time.Duration(c)*time.Second + time.Duration(i)*time.Millisecond)
				logBytes += int64(len(r.Value))
				rs = append(rs, r)
			}
			if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	cl.Close()

	set := func(c *Config) {
		c.MaxBlockBytes = 1 << 20
		c.FlushConcurrency = 1
		c.MaxBufferedBytes = 4 << 20
		c.FetchMaxBytes = 1 << 20
		c.FetchMaxPartitionBytes = 256 << 10
		c.MaxConcurrentFetches = 1
	}
	start := time.Now()
	got, bound := f.drainWithinBound("catch-up", set)
	t.Logf("backlog of %d MiB over %d partitions drained in %v: peak live heap %d MiB, bound %d MiB",
		logBytes>>20, parts, time.Since(start).Round(time.Millisecond), got>>20, bound>>20)
	f.checkEverySpanOnce(traces * spansPerTrace)
}

// drainWithinBound runs a builder of group, with set applied to the
// defaults, until it committed the end of the log, and fails the test if
// its live heap passed memoryBound meanwhile. It returns the peak and the
// bound.
func (f *fixture) drainWithinBound(group string, set func(*Config)) (peak, bound int64) {
	f.t.Helper()
	cfg := DefaultConfig()
	set(&cfg)
	bound = memoryBound(cfg)
	// A tighter GC makes the live heap it reports follow the peak closely.
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	runtime.GC()
	sampled := sampleLiveHeap()
	f.start(group, set)
	f.waitCommitted(group)
	peak = int64(sampled())
	if peak > bound {
		f.t.Errorf("peak live heap %d MiB while draining, over the bound of %d MiB", peak>>20, bound>>20)
	}
	return peak, bound
}

// sampleLiveHeap samples the heap live after each GC until the returned
// function is called, which returns the peak.
func sampleLiveHeap() func() uint64 {
	stop, done := make(chan struct{}), make(chan struct{})
	var peak uint64
	go func() {
		defer close(done)
		s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			rtmetrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak
	}
}

// backlogRecord returns a record of one trace of spans spans, each with
// ten attributes, as a service sends them.
func backlogRecord(t *testing.T, trace, spans int) *kgo.Record {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("shop-%d", trace%5))
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0: 3, 12: byte(trace >> 24), 13: byte(trace >> 16), 14: byte(trace >> 8), 15: byte(trace)})
		s.SetSpanID(pcommon.SpanID{0: 3, 6: byte(i >> 8), 7: byte(i)})
		s.SetName(fmt.Sprintf("GET /api/v1/items/%d", i%7))
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(trace)*1000 + int64(i)))
		s.SetEndTimestamp(s.StartTimestamp() + 1_000_000)
		a := s.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("url.full", fmt.Sprintf("https://shop.example.com/api/v1/items/%d?page=%d", trace, i))
		a.PutInt("http.response.status_code", 200)
		a.PutStr("server.address", "shop.example.com")
		a.PutInt("server.port", 443)
		a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
		a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", trace%256, i%256))
		a.PutInt("item.count", int64(i))
		a.PutBool("cache.hit", i%2 == 0)
		a.PutStr("session.id", fmt.Sprintf("%016x", trace*7919+i))
	}
	r, err := schema.EncodeRecord("t1", td)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Past max-buffered-bytes a builder reads one partition at a time, and
// still drains the whole log: every span in a block once, and no partition
// left paused.
func TestBufferedBytesPauseAllPartitionsButOne(t *testing.T) {
	const parts = 4
	f := newFixtureOf(t, parts)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 48 {
		// Four cycles of every partition.
		f.produce("t1", int32(i%parts), 20, base.Add(time.Duration(i/12)*time.Second))
	}
	f.start("throttled", func(c *Config) {
		c.MaxBufferedBytes = 1 // any record held passes it
		c.FetchMaxPartitionBytes = 1 << 10
	})
	paused := 0.0
	deadline := time.Now().Add(60 * time.Second)
	for paused == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no partition was paused")
		}
		paused = max(paused, promtest.Value(t, f.reg, "spanlog_block_builder_paused_partitions"))
		time.Sleep(time.Millisecond)
	}
	f.waitCommitted("throttled")
	f.checkEverySpanOnce(48 * 20)
	for promtest.Value(t, f.reg, "spanlog_block_builder_paused_partitions") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("partitions still paused with nothing held")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
