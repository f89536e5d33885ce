package querier

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

// benchStart is when every benchmark dataset begins; fixed, so that the
// datasets and their cache keys do not change from run to run.
var benchStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// benchPartitions is the log's partition count the datasets were written
// from, and that of the log the benchmark queriers read.
const benchPartitions = 8

// traceByIDSpec is a dataset of blocks of about 500 spans (50 traces),
// eight per 15-second cycle: small blocks, so that 10,000 of them fit on
// the machine (5 million spans).
func traceByIDSpec(blocks int) blocktest.Spec {
	return blocktest.Spec{
		Tenant: querytest.Tenant, Seed: 1, Partitions: benchPartitions,
		Cycles: blocks / benchPartitions, SpansPerBlock: 500,
		Cycle: 15 * time.Second, Start: benchStart,
	}
}

// traceByIDDatasets are the datasets the trace-by-ID and block search
// benchmarks read, by name: 1,000 and 10,000 blocks as block-builders
// write them, and the 10,000 compacted, each partition's blocks of an hour
// or of the whole dataset (5.2 hours; a day's window) into one.
func traceByIDDatasets() []struct {
	name string
	spec blocktest.Spec
} {
	compacted := func(window time.Duration) blocktest.Spec {
		s := traceByIDSpec(10_000)
		s.CompactWindow = window
		return s
	}
	return []struct {
		name string
		spec blocktest.Spec
	}{
		{"blocks=1000", traceByIDSpec(1000)},
		{"blocks=10000", traceByIDSpec(10_000)},
		{"compacted=1h", compacted(time.Hour)},
		{"compacted=24h", compacted(24 * time.Hour)},
	}
}

// benchLog is a kfake log of benchPartitions partitions for benchmark
// queriers to start on; it stays empty, so every answer comes from blocks.
func benchLog(b *testing.B) tracelog.Config {
	return kafkatest.New(b).Log(b, benchPartitions)
}

// runBenchQuerier starts a querier over bkt and log, waits until it knows
// every block, and returns it with the function that stops it.
func runBenchQuerier(b *testing.B, cfg Config, log tracelog.Config, bkt objstore.Bucket) (*Querier, func() error) {
	// Alone in its group: no other querier calls the address.
	cfg.AdvertiseAddress = "127.0.0.1:1"
	q, err := New(cfg, Deps{Kafka: log, Tenants: tenant.DefaultConfig(), Limits: querytest.NoLimits(b), BlocksGroup: "builders", Bucket: bkt, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	stop := func() error {
		cancel()
		return <-done
	}
	for q.Ready() != nil {
		time.Sleep(time.Millisecond)
	}
	if err := q.blocklist.WaitLoaded(ctx); err != nil {
		b.Fatal(errors.Join(err, stop()))
	}
	return q, stop
}

// stopAtEnd stops a querier when tb ends.
func stopAtEnd(tb testing.TB, stop func() error) {
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Error(err)
		}
	})
}

// latencies collects the time of each lookup of a run.
type latencies []time.Duration

// report reports the percentiles of the lookups, and per lookup the
// blocks read beyond their bloom filters and the requests made to bkt.
func (l latencies) report(b *testing.B, blocksRead int64, bkt *readCountingBucket) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	at := func(p float64) float64 { return ms(s[min(len(s)-1, int(p*float64(len(s))))]) }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(ms(s[len(s)-1]), "max-ms")
	n := float64(len(s))
	b.ReportMetric(float64(blocksRead)/n, "blocks-read/op")
	b.ReportMetric(float64(bkt.opens.Load()+bkt.reads.Load())/n, "requests/op")
}

// lookup finds id and checks the answer: a known ID must be found, an
// absent one not. It returns the blocks read beyond their bloom filters.
func lookup(b *testing.B, q *Querier, id pcommon.TraceID, known bool) int64 {
	found := false
	sum, err := q.FindTraces(b.Context(), []string{querytest.Tenant}, []pcommon.TraceID{id}, TimeRange{}, func(pcommon.TraceID, ptrace.Traces) error {
		found = true
		return nil
	})
	if err != nil || found != known {
		b.Fatalf("trace %s: found %v, want %v; error %v", id, found, known, err)
	}
	return sum.InspectedBlocks
}

// BenchmarkTraceByIDBlocks measures trace-by-ID latency over 1,000 and
// 10,000 blocks in MinIO (blocks of about 500 spans; see traceByIDSpec),
// and over the 10,000 after compaction (traceByIDDatasets), for IDs the
// blocks hold and IDs they do not, reporting the median and 99th
// percentile of the lookups of the run (-benchtime Nx sets their number):
//
//   - cold: each lookup is the first of a new querier, whose block readers
//     are not open yet, so it opens every block whose trace ID range may
//     hold the ID (all of them: IDs are random) to read its bloom filters;
//   - warm: one querier that keeps every block open (OpenBlocks at least
//     the block count), after one lookup opened them all;
//   - warm-default: the same with the default OpenBlocks (2,000), which is
//     fewer than the blocks of the 10,000 case.
//
// The datasets are built on the first run and kept (internal/blocktest).
func BenchmarkTraceByIDBlocks(b *testing.B) {
	for _, ds := range traceByIDDatasets() {
		b.Run(ds.name, func(b *testing.B) {
			parent := b
			stored, man := blocktest.MinIO(b, ds.spec)
			blocks := man.Stats.Blocks
			bkt := &readCountingBucket{Bucket: stored}
			b.Logf("%d blocks, %d traces, %d spans, %d MB of Parquet", man.Stats.Blocks, man.Stats.Traces, man.Stats.Spans, man.Stats.Bytes>>20)
			log := benchLog(b)
			known := make([]pcommon.TraceID, len(man.SampleTraceIDs))
			for i, h := range man.SampleTraceIDs {
				if _, err := hex.Decode(known[i][:], []byte(h)); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(9, uint64(ds.spec.Blocks())))
			pick := map[string]func() pcommon.TraceID{
				"found": func() pcommon.TraceID { return known[rng.IntN(len(known))] },
				"absent": func() pcommon.TraceID {
					var id pcommon.TraceID
					for i := range id {
						id[i] = byte(rng.Uint32())
					}
					return id
				},
			}
			// Lookups go through the Go API, which querier.query-timeout
			// does not bound: slow ones are measured, not failed.
			warm := DefaultConfig()
			warm.OpenBlocks = max(warm.OpenBlocks, blocks)
			for _, kind := range []string{"found", "absent"} {
				b.Run("cold/"+kind, func(b *testing.B) {
					var lat latencies
					var read int64
					bkt.opens.Store(0)
					bkt.reads.Store(0)
					for range b.N {
						b.StopTimer()
						q, stop := runBenchQuerier(b, warm, log, bkt)
						id := pick[kind]()
						b.StartTimer()
						began := time.Now()
						read += lookup(b, q, id, kind == "found")
						lat = append(lat, time.Since(began))
						b.StopTimer()
						if err := stop(); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
					lat.report(b, read, bkt)
				})
			}
			runs := map[string]Config{"warm": warm}
			if d := DefaultConfig(); d.OpenBlocks < blocks {
				runs["warm-default"] = d
			}
			for _, name := range slices.Sorted(maps.Keys(runs)) {
				// Started by the first lookup run, so that a -bench
				// pattern that picks only cold runs opens no block.
				var q *Querier
				for _, kind := range []string{"found", "absent"} {
					b.Run(name+"/"+kind, func(b *testing.B) {
						if q == nil {
							var stop func() error
							q, stop = runBenchQuerier(b, runs[name], log, bkt)
							stopAtEnd(parent, stop)
							// A lookup opens only the blocks of its trace's
							// partition: one lookup per partition opens
							// every block.
							for p := range q.live.Partitions() {
								id := pick["absent"]()
								for schema.Partition(querytest.Tenant, id, q.live.Partitions()) != p {
									id = pick["absent"]()
								}
								lookup(b, q, id, false)
							}
						}
						var lat latencies
						var read int64
						bkt.opens.Store(0)
						bkt.reads.Store(0)
						for b.Loop() {
							id := pick[kind]()
							began := time.Now()
							read += lookup(b, q, id, kind == "found")
							lat = append(lat, time.Since(began))
						}
						lat.report(b, read, bkt)
					})
				}
			}
		})
	}
}
