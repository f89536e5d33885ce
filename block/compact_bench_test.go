package block_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/internal/cputime"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// compactSpec is a dataset of one partition's blocks, n of about spans
// spans each, as a block-builder cuts them every 15 seconds.
func compactSpec(n, spans int) blocktest.Spec {
	return blocktest.Spec{
		Tenant: "bench", Seed: 7, Partitions: 1, Cycles: n, SpansPerBlock: spans,
		Cycle: 15 * time.Second, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

// BenchmarkCompact merges blocks of one partition into one, read from and
// written to local disk, and reports its throughput and its peak heap:
//
//   - inputs=N/spans=S: N blocks of about S spans each (the datasets are
//     built on the first run and kept, see internal/blocktest);
//   - spans/s and spans/cpu-s: spans merged per second of wall time and
//     per second of CPU time (user and system, all threads);
//   - MB/s: Parquet bytes of the inputs read per second;
//   - peak-heap-MB: the most the heap held (live and not yet collected)
//     during a compaction, above what it held before; peak-live-MB: the
//     most that a garbage collection found live.
//
// The cases vary the number of inputs at a fixed block size, and the
// block size at a fixed number of inputs: memory may grow with the first,
// not with the second.
func BenchmarkCompact(b *testing.B) {
	for _, c := range []struct{ inputs, spans int }{
		{10, 5_000}, {100, 5_000}, {10, 50_000}, {1000, 5_000},
	} {
		b.Run(fmt.Sprintf("inputs=%d/spans=%d", c.inputs, c.spans), func(b *testing.B) {
			benchmarkCompact(b, compactSpec(c.inputs, c.spans))
		})
	}
}

func benchmarkCompact(b *testing.B, spec blocktest.Spec) {
	ctx := context.Background()
	in, man := blocktest.Dir(b, spec)
	var inputs []*schema.BlockMeta
	ids, err := block.ListBlocks(ctx, in, spec.Tenant)
	if err != nil {
		b.Fatal(err)
	}
	for _, id := range ids {
		m, err := block.ReadMeta(ctx, in, spec.Tenant, id)
		if err != nil {
			b.Fatal(err)
		}
		inputs = append(inputs, m)
	}
	out := &mergedBucket{Bucket: in, out: newDir(b)}

	var peak memPeak
	var cpu time.Duration
	var size int64
	start := time.Now()
	for b.Loop() {
		cpu0 := cputime.Of(b)
		peak.start()
		meta, err := block.Compact(ctx, out, inputs, block.DefaultOptions())
		peak.stop()
		cpu += cputime.Of(b) - cpu0
		if err != nil {
			b.Fatal(err)
		}
		if meta.TotalSpans != man.Stats.Spans {
			b.Fatalf("merged %d spans, want %d", meta.TotalSpans, man.Stats.Spans)
		}
		size = meta.Size
	}
	elapsed := time.Since(start).Seconds()
	spans := float64(man.Stats.Spans) * float64(b.N)
	b.ReportMetric(spans/elapsed, "spans/s")
	b.ReportMetric(spans/cpu.Seconds(), "spans/cpu-s")
	b.ReportMetric(float64(man.Stats.Bytes)*float64(b.N)/elapsed/1e6, "MB/s")
	b.ReportMetric(float64(peak.heap)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(peak.live)/(1<<20), "peak-live-MB")
	b.ReportMetric(float64(man.Stats.Bytes)/(1<<20), "input-MB")
	b.ReportMetric(float64(size)/(1<<20), "output-MB")
}

// mergedBucket reads the inputs from the dataset and writes the merged
// block elsewhere, leaving the shared dataset as it is.
type mergedBucket struct {
	objstore.Bucket
	out objstore.Bucket
}

func (b *mergedBucket) Upload(ctx context.Context, name string, r io.Reader) error {
	return b.out.Upload(ctx, name, r)
}

// memPeak samples the heap while a compaction runs and keeps the highest
// values seen, above those before it began.
type memPeak struct {
	heap, live uint64 // the highest of any run

	done chan struct{}
	wg   sync.WaitGroup
}

// heapSamples are the metrics memPeak reads: the bytes of heap objects,
// collected or not yet, and the live heap found by the last collection.
var heapSamples = []string{"/memory/classes/heap/objects:bytes", "/gc/heap/live:bytes"}

func (p *memPeak) start() {
	runtime.GC()
	samples := make([]metrics.Sample, len(heapSamples))
	for i, name := range heapSamples {
		samples[i].Name = name
	}
	metrics.Read(samples)
	base := []uint64{samples[0].Value.Uint64(), samples[1].Value.Uint64()}
	p.done = make(chan struct{})
	p.wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			p.heap = max(p.heap, samples[0].Value.Uint64()-min(base[0], samples[0].Value.Uint64()))
			p.live = max(p.live, samples[1].Value.Uint64()-min(base[1], samples[1].Value.Uint64()))
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
		}
	})
}

func (p *memPeak) stop() {
	close(p.done)
	p.wg.Wait()
}
