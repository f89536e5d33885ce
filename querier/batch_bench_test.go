package querier

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
)

// benchBlocks and benchTracesPerBlock shape the blocks the batch benchmark
// reads: 300 blocks of 100 traces of 8 spans, about 240,000 spans.
const (
	benchBlocks         = 300
	benchTracesPerBlock = 100
	benchBatch          = 100
)

// benchTrace returns a trace of 8 spans with the attributes of an HTTP
// service, at minute.
func benchTrace(rng *rand.Rand, id pcommon.TraceID, minute int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", fmt.Sprintf("service-%d", rng.IntN(10)))
	ra.PutStr("host.name", fmt.Sprintf("node-%d", rng.IntN(5)))
	ra.PutStr("k8s.pod.name", fmt.Sprintf("pod-%d", rng.IntN(50)))
	ss := rs.ScopeSpans().AppendEmpty()
	start := querytest.Base.Add(time.Duration(minute) * time.Minute)
	for n := range 8 {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(id)
		s.SetSpanID(pcommon.SpanID{0: id[0], 1: id[1], 2: id[2], 7: byte(n + 1)})
		s.SetName(fmt.Sprintf("GET /api/v1/resource%d", rng.IntN(20)))
		begin := start.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(begin))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(begin.Add(time.Duration(rng.IntN(500)) * time.Millisecond)))
		a := s.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("url.full", fmt.Sprintf("https://shop.example.com/api/v1/resource%d?id=%d", rng.IntN(20), rng.IntN(100_000)))
		a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", rng.IntN(256), rng.IntN(256)))
		a.PutInt("app.user_id", rng.Int64N(1_000_000))
		a.PutBool("app.cache_hit", rng.IntN(2) == 0)
	}
	return td
}

// seedBenchBlocks writes benchBlocks blocks to bkt, block b holding the
// traces of minute b, and returns the trace IDs of each block.
func seedBenchBlocks(b *testing.B, bkt objstore.Bucket) [][]pcommon.TraceID {
	rng := rand.New(rand.NewPCG(3, 4))
	ids := make([][]pcommon.TraceID, benchBlocks)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for blk := range ids {
		td := ptrace.NewTraces()
		for range benchTracesPerBlock {
			id := randomID(rng)
			ids[blk] = append(ids[blk], id)
			benchTrace(rng, id, blk).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			querytest.WriteBlock(b, bkt, blk, td)
		})
	}
	wg.Wait()
	return ids
}

// BenchmarkBatchTraceByID fetches 100 traces from 300 blocks with one
// batch lookup, and with 100 trace-by-ID lookups one after the other (as a
// client that knows no batch would) and 16 at a time. The IDs are either
// spread over all blocks, or from 5 blocks (the results of a search over a
// few minutes). Block readers are open (warm), as they are on a querier
// that has served a while. It reports ms per 100 traces.
func BenchmarkBatchTraceByID(b *testing.B) {
	for _, storage := range []string{"dir", "minio"} {
		b.Run(storage, func(b *testing.B) {
			var bkt objstore.Bucket
			var err error
			if storage == "dir" {
				bkt, err = objstore.NewDir(b.TempDir())
			} else {
				bkt, err = objstore.NewS3(miniotest.Start(b).NewBucket(b), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			}
			if err != nil {
				b.Fatal(err)
			}
			byBlock := seedBenchBlocks(b, bkt)
			counted := &readCountingBucket{Bucket: bkt}
			q := startQuerier(b, counted)
			tenants := []string{querytest.Tenant}
			rng := rand.New(rand.NewPCG(5, 6))
			batches := map[string][]pcommon.TraceID{}
			for range benchBatch {
				blk := byBlock[rng.IntN(benchBlocks)]
				batches["spread"] = append(batches["spread"], blk[rng.IntN(len(blk))])
			}
			for i := range benchBatch {
				batches["clustered"] = append(batches["clustered"], byBlock[100+i%5][i/5])
			}
			// Open every block reader, as a querier that served a while has.
			for _, ids := range batches {
				if _, err := q.FindTraces(b.Context(), tenants, ids, TimeRange{}, func(pcommon.TraceID, ptrace.Traces) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}

			// report adds what one lookup of 100 traces took and read.
			report := func(b *testing.B, ids []pcommon.TraceID) {
				per := benchBatch / float64(len(ids)) / float64(b.N)
				b.ReportMetric(b.Elapsed().Seconds()*1000*per, "ms/100-traces")
				b.ReportMetric(float64(counted.reads.Load())*per, "reads/100-traces")
			}
			for _, spread := range []string{"spread", "clustered"} {
				ids := UniqueIDs(batches[spread])
				b.Run(spread+"/batch", func(b *testing.B) {
					counted.reads.Store(0)
					for b.Loop() {
						found := 0
						sum, err := q.FindTraces(b.Context(), tenants, ids, TimeRange{}, func(pcommon.TraceID, ptrace.Traces) error {
							found++
							return nil
						})
						if err != nil || found != len(ids) {
							b.Fatalf("found %d of %d (not found %d), error %v", found, len(ids), len(sum.NotFound), err)
						}
					}
					report(b, ids)
				})
				b.Run(spread+"/single-sequential", func(b *testing.B) {
					counted.reads.Store(0)
					for b.Loop() {
						for _, id := range ids {
							if _, found, err := q.FindTrace(b.Context(), tenants, id, TimeRange{}); err != nil || !found {
								b.Fatalf("trace %s: found %v, error %v", id, found, err)
							}
						}
					}
					report(b, ids)
				})
				b.Run(spread+"/single-16-in-flight", func(b *testing.B) {
					counted.reads.Store(0)
					for b.Loop() {
						var wg sync.WaitGroup
						sem := make(chan struct{}, 16)
						for _, id := range ids {
							sem <- struct{}{}
							wg.Go(func() {
								defer func() { <-sem }()
								if _, found, err := q.FindTrace(b.Context(), tenants, id, TimeRange{}); err != nil || !found {
									b.Errorf("trace %s: found %v, error %v", id, found, err)
								}
							})
						}
						wg.Wait()
					}
					report(b, ids)
				})
			}
		})
	}
}
