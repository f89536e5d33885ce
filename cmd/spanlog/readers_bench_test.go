package main

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/cputime"
	"github.com/spanlog/spanlog/internal/loadgen/workload"
	"github.com/spanlog/spanlog/tracelog"
)

// BenchmarkLogReaders writes the load generator's records to Kafka in
// memory as the distributor does, with snappy, while the block-builder,
// the live tail and the metrics-generator read every record over TCP,
// with their fetch settings, as in target all. The readers do nothing with
// the records but give them back: beside the writing, which is the same
// in both, it is their cost of fetching, decompressing and decoding the
// batches, with each reader's memory allocated per batch or pooled
// (tracelog.ReaderPools). Each op is one request's records (8 of them,
// one per partition, 200 spans in all), with 4 requests in flight. It
// reports the CPU time of the whole process and the bytes it allocated
// per span, and the garbage collections per 1000 requests.
func BenchmarkLogReaders(b *testing.B) {
	for _, pooled := range []bool{false, true} {
		name := "allocating"
		if pooled {
			name = "pooled"
		}
		b.Run(name, func(b *testing.B) { benchLogReaders(b, pooled) })
	}
}

func benchLogReaders(b *testing.B, pooled bool) {
	const (
		clients    = 4
		partitions = 8
		spans      = 20_000
	)
	records := workload.Records(b, spans, partitions)
	spansPerRecord := float64(spans) / float64(len(records))
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	kafka := tracelog.Config{Brokers: c.ListenAddrs(), Compression: tracelog.CompressionSnappy}
	cl := benchProducer(b, c.ListenAddrs(), kafka.ProducerCompression())
	defer cl.Close()
	var next, produced atomic.Int64
	request := func() (time.Duration, error) {
		start := time.Now()
		i := int(next.Add(partitions)-partitions) % len(records)
		batch := records[i:min(i+partitions, len(records))]
		rs := make([]*kgo.Record, len(batch))
		for j, r := range batch {
			rs[j] = &kgo.Record{Partition: r.Partition, Value: r.Value, Headers: r.Headers}
		}
		produced.Add(int64(len(rs)))
		return time.Since(start), cl.ProduceSync(context.Background(), rs...).FirstErr()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rd := startBenchReaders(ctx, b, c.ListenAddrs(), logReaders(true), pooled)
	caughtUp := func() { rd.caughtUp(produced.Load()) }
	for range len(records) / partitions {
		if _, err := request(); err != nil {
			b.Fatal(err)
		}
	}
	caughtUp()
	base := produced.Load()
	cpu := cputime.Of(b)
	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	driveClients(b, clients, request)
	caughtUp()
	runtime.ReadMemStats(&mem1)
	cancel()
	rd.wg.Wait()
	spansRead := float64(produced.Load()-base) * spansPerRecord
	b.ReportMetric(float64((cputime.Of(b)-cpu).Nanoseconds())/1e3/spansRead, "cpu-µs/span")
	b.ReportMetric(float64(mem1.TotalAlloc-mem0.TotalAlloc)/spansRead, "alloc-B/span")
	b.ReportMetric(float64(mem1.NumGC-mem0.NumGC)*1000*float64(partitions)/float64(produced.Load()-base), "gc/1000req")
}
