package block_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// BenchmarkScanTracesWhole measures what a search reads of a quarter of
// the traces of a block of about 50,000 spans, by a scan and by lookups:
// the columns a hit reads, and whole rows, as a query on events, links or
// scopes reads them.
func BenchmarkScanTracesWhole(b *testing.B) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(3, 3)), 4000)
	var ids []pcommon.TraceID
	i := 0
	for id := range spansByTrace(b, td) {
		if i%4 == 0 {
			ids = append(ids, id)
		}
		i++
	}
	dir, err := objstore.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	bkt := &countingBucket{Bucket: dir}
	r := writeBlock(b, bkt, block.DefaultOptions(), td)
	hit := block.SpanIDs | block.Name | block.Duration | block.Status | block.ServiceName
	for _, bc := range []struct {
		name string
		cols block.Columns
		read func(context.Context, block.Columns, []string, []pcommon.TraceID, func(pcommon.TraceID, []schema.SpanRow) error) error
	}{
		{"scan-hit-columns", hit, r.ScanTraces},
		{"scan-whole", block.Whole, r.ScanTraces},
		{"lookup-hit-columns", hit, r.FindTraceColumns},
		{"lookup-whole", block.Whole, r.FindTraceColumns},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bkt.bytes.Store(0)
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.read(ctx, bc.cols, nil, ids, func(pcommon.TraceID, []schema.SpanRow) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bkt.bytes.Load())/float64(b.N), "read-B/op")
		})
	}
}
