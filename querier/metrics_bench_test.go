package querier

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/traceql"
)

// BenchmarkMetricsQuery counts the 20,000 spans of 5,000 traces in four
// blocks, by service: where they are stored (a span-local query), and
// from whole traces (the same spans, selected through a pipeline stage).
func BenchmarkMetricsQuery(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	bkt, err := objstore.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for blk := range 4 {
		td := ptrace.NewTraces()
		for range 1250 {
			querytest.TraceSpans(randomID(rng), rng.IntN(60), 0, 1, 2, 3).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		querytest.WriteBlock(b, bkt, blk, td)
	}
	q := startQuerier(b, bkt)
	start, end := querytest.Base, querytest.Base.Add(time.Hour)
	for _, bc := range []struct{ name, query string }{
		{"where-stored", `{ } | rate() by (resource.service.name)`},
		{"whole-traces", `{ } | count() > 0 | rate() by (resource.service.name)`},
	} {
		parsed, err := traceql.ParseMetrics(bc.query)
		if err != nil {
			b.Fatal(err)
		}
		req := MetricsRequest{Query: parsed, Start: uint64(start.UnixNano()), End: uint64(end.UnixNano()), Step: uint64(time.Minute)}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				res, err := q.MetricsQueryRange(context.Background(), []string{querytest.Tenant}, req)
				if err != nil || len(res.Series) != 4 {
					b.Fatalf("%v: %d series", err, len(res.Series))
				}
			}
		})
	}
}
