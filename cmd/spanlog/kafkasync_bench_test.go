package main

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/logtest"
)

// BenchmarkEmbeddedDurableProduce writes to the embedded Kafka on disk as
// the distributor does under 4 clients: each op is one request's records,
// one of ~10 KB to each of 8 partitions (20 traces of 10 spans), acked and
// then on disk, with 4 requests in flight. It compares kfake's
// SyncWrites, which fsyncs each partition's batch in the broker's one
// goroutine, with the group commit, beside no sync at all (not durable:
// the ceiling).
func BenchmarkEmbeddedDurableProduce(b *testing.B) {
	const (
		clients     = 4
		partitions  = 8
		recordBytes = 10 << 10
	)
	for _, mode := range []string{"kfake-sync-writes", "group-commit", "no-sync"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(partitions, "bench")}
			if mode == "kfake-sync-writes" {
				opts = append(opts, kfake.SyncWrites())
			}
			c, err := kfake.NewCluster(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			g := newGroupCommit(newSegmentFiles(dir, "bench").sync, defaultConfig().EmbeddedKafka.SyncRoundsInFlight, (&logtest.Buffer{}).Logger(), prometheus.NewRegistry())
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("bench"),
				kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			value := make([]byte, recordBytes)
			request := func() (time.Duration, error) {
				start := time.Now()
				var wg sync.WaitGroup
				errs := make(chan error, partitions)
				for p := range int32(partitions) {
					wg.Add(1)
					cl.Produce(context.Background(), &kgo.Record{Partition: p, Value: value}, func(_ *kgo.Record, err error) {
						errs <- err
						wg.Done()
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						return 0, err
					}
				}
				if mode == "group-commit" {
					all := make([]int32, partitions)
					for p := range all {
						all[p] = int32(p)
					}
					if err := g.Sync(context.Background(), all); err != nil {
						return 0, err
					}
				}
				return time.Since(start), nil
			}
			if _, err := request(); err != nil { // the partitions' files exist
				b.Fatal(err)
			}
			var (
				mu        sync.Mutex
				latencies []time.Duration
				next      = make(chan struct{})
				wg        sync.WaitGroup
			)
			b.ResetTimer()
			for range clients {
				wg.Go(func() {
					for range next {
						d, err := request()
						if err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						latencies = append(latencies, d)
						mu.Unlock()
					}
				})
			}
			for b.Loop() {
				next <- struct{}{}
			}
			close(next)
			wg.Wait()
			b.StopTimer()
			slices.Sort(latencies)
			if len(latencies) > 0 {
				b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
			}
			b.ReportMetric(float64(len(latencies))*200/b.Elapsed().Seconds(), "spans/s")
			if mode == "group-commit" {
				var rounds dto.Metric
				if err := g.rounds.Write(&rounds); err != nil {
					b.Fatal(err)
				}
				h := rounds.GetHistogram()
				b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount())*1000, "round-ms")
				b.ReportMetric(float64(len(latencies)+1)/float64(h.GetSampleCount()), "writes/round")
			}
		})
	}
}
