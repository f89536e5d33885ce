package querier

import (
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/traceql"
)

// searchSpec is a dataset of 5.2 million spans: 104 blocks of about 50,000
// spans, eight per 15-second cycle, as block-builders of an 8-partition
// log write them under about 27,000 spans/s.
func searchSpec() blocktest.Spec {
	return blocktest.Spec{
		Tenant: querytest.Tenant, Seed: 2, Partitions: benchPartitions,
		Cycles: 13, SpansPerBlock: 50_000,
		Cycle: 15 * time.Second, Start: benchStart,
	}
}

// searchQueries are the searches docs/benchmarks.md reports: a dedicated
// column, intrinsics, a generic attribute (the pre-1.23 HTTP status code
// key, which the datasets' legacy services send), no condition at all,
// and a trace-level condition no trace passes.
var searchQueries = []struct {
	name, query string
	none        bool // matches no trace
}{
	{"service", `{resource.service.name="checkout"}`, false},
	{"slow-errors", `{status=error && duration>100ms}`, false},
	{"http-5xx", `{span.http.status_code>=500}`, false},
	{"all", `{}`, false},
	{"trace-duration-none", `{traceDuration>1h}`, true},
}

// BenchmarkSearch measures TraceQL searches with limit 20 over 5.2 million
// spans (see searchSpec) in a local directory and in MinIO, through
// Querier.Search, as /api/search runs them. It reports the spans of the
// dataset searched per second and the traces returned. Block readers are
// open after the first search, as on a querier that has served a while.
// "cached" searches with the search cache, after one search of the same
// query, as a dashboard refreshed over the same blocks finds it;
// "uncached" without it, so that each search reads the blocks, as the
// first search of a query does.
// querier.query-timeout bounds HTTP requests, not Querier.Search: slow
// searches are measured, not failed.
func BenchmarkSearch(b *testing.B) {
	for _, storage := range []string{"dir", "minio"} {
		b.Run(storage, func(b *testing.B) {
			var (
				bkt objstore.Bucket
				man *blocktest.Manifest
			)
			if storage == "dir" {
				bkt, man = blocktest.Dir(b, searchSpec())
			} else {
				bkt, man = blocktest.MinIO(b, searchSpec())
			}
			for _, cached := range []bool{true, false} {
				cfg := DefaultConfig()
				name := "cached"
				if !cached {
					cfg.SearchCacheBytes, name = 0, "uncached"
				}
				b.Run(name, func(b *testing.B) { benchmarkSearches(b, bkt, man, cfg) })
			}
		})
	}
}

// BenchmarkSearchBlocks measures the searches of BenchmarkSearch, limit
// 20, over the trace-by-ID datasets of 10,000 blocks in MinIO, before and
// after compaction (traceByIDDatasets): what searching many small blocks
// costs, and what merging them saves. Every block stays open.
func BenchmarkSearchBlocks(b *testing.B) {
	for _, ds := range traceByIDDatasets() {
		if ds.spec.Blocks() < 10_000 {
			continue
		}
		b.Run(ds.name, func(b *testing.B) {
			bkt, man := blocktest.MinIO(b, ds.spec)
			cfg := DefaultConfig()
			cfg.OpenBlocks = max(cfg.OpenBlocks, man.Stats.Blocks)
			benchmarkSearches(b, bkt, man, cfg)
		})
	}
}

// benchmarkSearches runs each of searchQueries over the blocks of bkt.
func benchmarkSearches(b *testing.B, bkt objstore.Bucket, man *blocktest.Manifest, cfg Config) {
	b.Logf("%d blocks, %d traces, %d spans, %d MB of Parquet", man.Stats.Blocks, man.Stats.Traces, man.Stats.Spans, man.Stats.Bytes>>20)
	q, stop := runBenchQuerier(b, cfg, benchLog(b), bkt)
	stopAtEnd(b, stop)
	// Opens every block, so that what is measured is searching, not
	// opening: a querier that has served a while has its blocks open.
	all, err := traceql.Parse("{}")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := q.Search(b.Context(), []string{querytest.Tenant}, SearchRequest{Query: all, Limit: 1}); err != nil {
		b.Fatal(err)
	}
	for _, sq := range searchQueries {
		query, err := traceql.Parse(sq.query)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(sq.name, func(b *testing.B) {
			if cfg.SearchCacheBytes > 0 {
				// The cache holds what this query's search read
				// of the blocks: measured is the next one.
				if _, err := q.Search(b.Context(), []string{querytest.Tenant}, SearchRequest{Query: query, Limit: 20, SpansPerSpanSet: 3}); err != nil {
					b.Fatal(err)
				}
			}
			var traces int
			for b.Loop() {
				res, err := q.Search(b.Context(), []string{querytest.Tenant}, SearchRequest{Query: query, Limit: 20, SpansPerSpanSet: 3})
				if err != nil {
					b.Fatal(err)
				}
				traces = len(res.Traces)
			}
			if (traces == 0) != sq.none {
				b.Fatalf("%s found %d traces in %d spans", sq.query, traces, man.Stats.Spans)
			}
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/op")
			b.ReportMetric(float64(man.Stats.Spans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(traces), "traces")
		})
	}
}
