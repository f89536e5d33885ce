package querier

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/schema"
)

// BenchmarkLiveTraceByIDThroughPeer looks up traces held only by live
// tails (no blocks), from the querier that owns their partition and from
// one that must ask the owner over HTTP: the cost of sharing the partitions
// between queriers.
func BenchmarkLiveTraceByIDThroughPeer(b *testing.B) {
	bkt, err := objstore.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	qs := startQueriers(b, bkt, 2)
	ctx := context.Background()
	for {
		n := len(qs[0].live.Tail().Owned()) + len(qs[1].live.Tail().Owned())
		if n == int(qs[0].partitions) && len(qs[0].live.Tail().Owned()) > 0 && len(qs[1].live.Tail().Owned()) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	// Traces of partitions querier 0 owns, each of 8 spans.
	var ids []pcommon.TraceID
	for len(ids) < 200 {
		id := randomID(rng)
		if _, ok := qs[0].live.Tail().Owned()[schema.Partition(querytest.Tenant, id, qs[0].partitions)]; !ok {
			continue
		}
		ids = append(ids, id)
		qs[0].produce(b, querytest.TraceSpans(id, len(ids), 0, 1, 2, 3, 4, 5, 6, 7))
	}
	for name, q := range map[string]*runningQuerier{"owner": qs[0], "peer": qs[1]} {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				res, found, err := q.FindTrace(ctx, []string{querytest.Tenant}, ids[i%len(ids)], TimeRange{})
				if err != nil || !found || res.Trace.SpanCount() != 8 {
					b.Fatalf("found %v, %d spans, %v", found, res.Trace.SpanCount(), err)
				}
				i++
			}
		})
	}
}
