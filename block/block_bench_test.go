package block_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
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

// BenchmarkDecodeRecords measures turning records' values into a block's
// rows: through pdata's objects (Add), as block-builders did, and straight
// from the protobuf (AddValue). Records hold 2 traces of 5 to 20 spans,
// as the distributor writes them under load.
func BenchmarkDecodeRecords(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	var values [][]byte
	spans := 0
	for range 500 {
		td := genTraces(rng, 2)
		spans += td.SpanCount()
		v, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			b.Fatal(err)
		}
		values = append(values, v)
	}
	run := func(b *testing.B, add func(bl *block.Builder, v []byte) error) {
		b.ReportAllocs()
		for b.Loop() {
			bl := block.NewBuilder("t", block.DefaultOptions())
			for _, v := range values {
				if err := add(bl, v); err != nil {
					b.Fatal(err)
				}
			}
			if bl.Spans() != spans {
				b.Fatalf("%d spans, want %d", bl.Spans(), spans)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
	}
	b.Run("pdata", func(b *testing.B) {
		run(b, func(bl *block.Builder, v []byte) error {
			td, err := schema.DecodeSpans(v)
			if err == nil {
				bl.Add(td)
			}
			return err
		})
	})
	b.Run("direct", func(b *testing.B) {
		run(b, (*block.Builder).AddValue)
	})
}
