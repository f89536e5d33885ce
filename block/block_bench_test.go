package block_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/objstore"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// BenchmarkBuilderWrite measures building a block from OTLP: Add and Write
// of about 25,000 spans, without the cost of storage.
func BenchmarkBuilderWrite(b *testing.B) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(1, 1)), 2000)
	spans := td.SpanCount()
	var dataBytes int64
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		bkt := &discardBucket{}
		bl := block.NewBuilder("t", block.DefaultOptions())
		bl.Add(td)
		meta, err := bl.Write(ctx, bkt, testRanges)
		if err != nil {
			b.Fatal(err)
		}
		dataBytes = meta.Size
	}
	b.ReportMetric(float64(spans*b.N)/time.Since(start).Seconds(), "spans/s")
	b.ReportMetric(float64(dataBytes)/float64(spans), "B/span")
}

// BenchmarkFindTrace measures trace-by-ID lookups in an open block of about
// 50,000 spans, on local disk, with what each lookup reads.
func BenchmarkFindTrace(b *testing.B) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(2, 2)), 4000)
	var ids []pcommon.TraceID
	for id := range spansByTrace(b, td) {
		ids = append(ids, id)
	}
	dir, err := objstore.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	bkt := &countingBucket{Bucket: dir}
	r := writeBlock(b, bkt, block.DefaultOptions(), td)
	bkt.bytes.Store(0)
	bkt.reads.Store(0)

	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok, err := blocktest.FindTrace(ctx, r, ids[i%len(ids)]); err != nil || !ok {
			b.Fatalf("found %v, error %v", ok, err)
		}
		i++
	}
	b.ReportMetric(float64(bkt.bytes.Load())/float64(b.N), "read-B/op")
	b.ReportMetric(float64(bkt.reads.Load())/float64(b.N), "reads/op")
}
