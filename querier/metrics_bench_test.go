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
// blocks, by service, where they are stored: span by span (a span-local
// query) and trace by trace (the same spans, selected through a pipeline
// stage); and, for comparison, from whole traces read as a search reads
// them, which compare() does.
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
	ctx := context.Background()
	for _, bc := range []struct {
		name, query string
		whole       bool
	}{
		{"where-stored-span-local", `{ } | rate() by (resource.service.name)`, false},
		{"where-stored-per-trace", `{ } | count() > 0 | rate() by (resource.service.name)`, false},
		{"whole-traces", `{ } | rate() by (resource.service.name)`, true},
	} {
		parsed, err := traceql.ParseMetrics(bc.query)
		if err != nil {
			b.Fatal(err)
		}
		req := MetricsRequest{Query: parsed, Start: uint64(start.UnixNano()), End: uint64(end.UnixNano()), Step: uint64(time.Minute)}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if !bc.whole {
					res, err := q.MetricsQueryRange(ctx, []string{querytest.Tenant}, req)
					if err != nil || len(res.Series) != 4 {
						b.Fatalf("%v: %d series", err, len(res.Series))
					}
					continue
				}
				grid, _ := newStepGrid(req.Start, req.End, req.Step, false)
				set := newSeriesSet(parsed, grid, 1000, 0)
				s := traceScan{tenants: []string{querytest.Tenant}, tr: grid.timeRange(), query: parsed.Spans, columns: hitColumns(parsed.Spans), keys: hitKeys(parsed.Spans)}
				if _, _, err := q.metricsOfWholeTraces(ctx, s, set); err != nil || len(set.result()) != 4 {
					b.Fatal(err)
				}
			}
		})
	}
}
