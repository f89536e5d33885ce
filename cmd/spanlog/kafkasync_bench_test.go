package main

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spanlog/spanlog/blockbuilder"
	"github.com/spanlog/spanlog/generator"
	"github.com/spanlog/spanlog/internal/cputime"
	"github.com/spanlog/spanlog/internal/loadgen/workload"
	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/tracelog"
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
			opts := benchBrokerOpts(dir, partitions)
			if mode == "kfake-sync-writes" {
				opts = append(opts, kfake.SyncWrites())
			}
			c, err := kfake.NewCluster(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			files := newSegmentFiles(dir, "bench", defaultConfig().EmbeddedKafka.SegmentBytes)
			defer files.close()
			g := newGroupCommit(files.sync, defaultConfig().EmbeddedKafka.SyncRoundsInFlight, (&logtest.Buffer{}).Logger(), prometheus.NewRegistry())
			cl := benchProducer(b, c.ListenAddrs(), kgo.ProducerBatchCompression(kgo.NoCompression()))
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
			latencies := driveClients(b, clients, request)
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

// BenchmarkEmbeddedLogCompression writes the load generator's records to
// the embedded Kafka on disk as target all does, with each codec of
// kafka.compression, while the block-builder, the live tail and the
// metrics-generator read every record, with their fetch settings (see
// benchEmbeddedLog).
func BenchmarkEmbeddedLogCompression(b *testing.B) {
	for _, codec := range []string{tracelog.CompressionNone, tracelog.CompressionSnappy, tracelog.CompressionLZ4, tracelog.CompressionZstd} {
		b.Run(codec, func(b *testing.B) { benchEmbeddedLog(b, codec, logReaders(true)) })
	}
}

// BenchmarkEmbeddedLogFetch compares the readers' fetches as configured,
// each waiting for a batch of new records (fetch-min-bytes and
// fetch-max-wait of the block-builder and the metrics-generator,
// live-tail-fetch-* of the querier), with fetches that return on any new
// record, as they did before those settings.
func BenchmarkEmbeddedLogFetch(b *testing.B) {
	b.Run("min-bytes-1", func(b *testing.B) { benchEmbeddedLog(b, tracelog.CompressionSnappy, logReaders(false)) })
	b.Run("batched", func(b *testing.B) { benchEmbeddedLog(b, tracelog.CompressionSnappy, logReaders(true)) })
}

// logReaders returns the fetch options of the block-builder, the
// metrics-generator and the live tail, with their defaults; unbatched,
// their fetches return on any new record and otherwise wait as long as
// they did before fetch-min-bytes was set.
func logReaders(batched bool) [][]kgo.Opt {
	bb, gen, q := blockbuilder.DefaultConfig(), generator.DefaultConfig(), querier.DefaultConfig()
	builder := []kgo.Opt{
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(int32(bb.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(bb.FetchMaxPartitionBytes)),
		kgo.MaxConcurrentFetches(bb.MaxConcurrentFetches),
	}
	metrics := []kgo.Opt{
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(int32(gen.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(min(gen.FetchMaxBytes, 1<<20))),
		kgo.MaxConcurrentFetches(2),
	}
	var live []kgo.Opt
	if batched {
		builder = append(builder, kgo.FetchMinBytes(int32(bb.FetchMinBytes)), kgo.FetchMaxWait(bb.FetchMaxWait))
		metrics = append(metrics, kgo.FetchMinBytes(int32(gen.FetchMinBytes)), kgo.FetchMaxWait(gen.FetchMaxWait))
		live = append(live, kgo.FetchMinBytes(int32(q.LiveTailFetchMinBytes)), kgo.FetchMaxWait(q.LiveTailFetchMaxWait))
	} else {
		builder = append(builder, kgo.FetchMaxWait(bb.IdleCutDelay))
	}
	return [][]kgo.Opt{builder, metrics, live}
}

// benchEmbeddedLog writes the load generator's records to the embedded
// Kafka on disk as target all does, with codec: 4 requests in flight, each
// op one request's records (8 of them, one per partition, 200 spans in
// all) acked and synced by the group commit, while a consumer with each
// of readers' options, and the readers' pools (tracelog.ReaderPools),
// reads every record. It reports the CPU time of the whole process
// (broker, writer, readers, kernel work on their behalf) per span, the
// readers' fetch requests per second, a request's median time to ack and
// sync, the bytes of the data directory per span, and the mean time of a
// group commit's sync.
func benchEmbeddedLog(b *testing.B, codec string, readers [][]kgo.Opt) {
	const (
		clients    = 4
		partitions = 8
		spans      = 20_000
	)
	records := workload.Records(b, spans, partitions)
	var logBytes int
	for _, r := range records {
		logBytes += len(r.Value)
	}
	spansPerRecord := float64(spans) / float64(len(records))
	dir := b.TempDir()
	c, err := kfake.NewCluster(benchBrokerOpts(dir, partitions)...)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	reg := prometheus.NewRegistry()
	files := newSegmentFiles(dir, "bench", defaultConfig().EmbeddedKafka.SegmentBytes)
	defer files.close()
	g := newGroupCommit(files.sync, defaultConfig().EmbeddedKafka.SyncRoundsInFlight, (&logtest.Buffer{}).Logger(), reg)
	kafka := tracelog.Config{Brokers: c.ListenAddrs(), Compression: codec}
	cl := benchProducer(b, c.ListenAddrs(), kafka.ProducerCompression())
	defer cl.Close()
	var next, produced atomic.Int64
	request := func() (time.Duration, error) {
		start := time.Now()
		i := int(next.Add(partitions)-partitions) % len(records)
		var wg sync.WaitGroup
		errs := make(chan error, partitions)
		var written []int32
		for _, r := range records[i:min(i+partitions, len(records))] {
			written = append(written, r.Partition)
			produced.Add(1)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Partition: r.Partition, Value: r.Value, Headers: r.Headers}, func(_ *kgo.Record, err error) {
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
		return time.Since(start), g.Sync(context.Background(), written)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var fetches fetchCounter
	rd := startBenchReaders(ctx, b, c.ListenAddrs(), readers, true, kgo.WithHooks(&fetches))
	caughtUp := func() { rd.caughtUp(produced.Load()) }
	for range len(records) / partitions { // every partition's file exists
		if _, err := request(); err != nil {
			b.Fatal(err)
		}
	}
	caughtUp()
	base := produced.Load()
	cpu := cputime.Of(b)
	fetches0 := fetches.n.Load()
	// The timer stops once the writers are done: the readers' last
	// fetches may wait out their max wait, which is their CPU, not the
	// writers' time.
	latencies := driveClients(b, clients, request)
	elapsed := b.Elapsed()
	caughtUp()
	cancel()
	rd.wg.Wait()
	b.ReportMetric(float64((cputime.Of(b)-cpu).Nanoseconds())/1e3/(float64(produced.Load()-base)*spansPerRecord), "cpu-µs/span")
	b.ReportMetric(float64(fetches.n.Load()-fetches0)/elapsed.Seconds(), "fetches/s")
	if len(latencies) > 0 {
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	}
	n, err := dirBytes(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/(float64(produced.Load())*spansPerRecord), "disk-B/span")
	b.ReportMetric(float64(logBytes)/float64(spans), "value-B/span")
	b.ReportMetric(histogramMean(b, reg, "spanlog_embedded_kafka_sync_duration_seconds")*1e3, "sync-ms")
}

// driveClients times b.Loop's ops, each one call of request, with clients
// of them at once, and returns each op's latency in ascending order. The
// timer runs only while they do.
func driveClients(b *testing.B, clients int, request func() (time.Duration, error)) []time.Duration {
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
	return latencies
}

// fetchCounter counts the fetch requests of the clients it hooks.
type fetchCounter struct{ n atomic.Int64 }

func (f *fetchCounter) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, _ kgo.BrokerE2E) {
	if key == kmsg.Fetch.Int16() {
		f.n.Add(1)
	}
}

// benchBrokerOpts are those of the benchmarks' broker: one, on disk in
// dir, with the topic bench of partitions partitions, and spanlog's
// default segment size.
func benchBrokerOpts(dir string, partitions int32) []kfake.Opt {
	return []kfake.Opt{
		kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(partitions, "bench"),
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.FormatInt(defaultConfig().EmbeddedKafka.SegmentBytes, 10)}),
	}
}

// benchProducer returns a client that writes the records it is given to
// the partitions they name in the topic "bench" of the brokers at addrs,
// at once, compressed as compression says.
func benchProducer(b *testing.B, addrs []string, compression kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("bench"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), compression)
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// histogramMean returns the mean of the histogram name in reg.
func histogramMean(b *testing.B, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleSum() / float64(h.GetSampleCount())
		}
	}
	b.Fatalf("no metric %s", name)
	return 0
}

// benchReaders are clients reading topic "bench" from its start, each
// counting the records it read.
type benchReaders struct {
	read []atomic.Int64
	wg   sync.WaitGroup
}

// startBenchReaders starts a client per options of readers, with extra
// options each, reading the cluster at addrs until ctx ends; pooled gives
// them the readers' pools (tracelog.ReaderPools) and has them recycle each
// poll's memory. Wait for them on wg once ctx ended.
func startBenchReaders(ctx context.Context, b *testing.B, addrs []string, readers [][]kgo.Opt, pooled bool, extra ...kgo.Opt) *benchReaders {
	rd := &benchReaders{read: make([]atomic.Int64, len(readers))}
	for i, opts := range readers {
		opts = slices.Concat([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("bench"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, extra, opts)
		if pooled {
			opts = append(opts, tracelog.ReaderPools())
		}
		rc, err := kgo.NewClient(opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(rc.Close)
		rd.wg.Go(func() {
			for ctx.Err() == nil {
				fs := rc.PollFetches(ctx)
				rd.read[i].Add(int64(fs.NumRecords()))
				if pooled {
					tracelog.Recycle(fs)
				}
			}
		})
	}
	return rd
}

// caughtUp waits until each reader has read n records.
func (rd *benchReaders) caughtUp(n int64) {
	for i := range rd.read {
		for rd.read[i].Load() < n {
			time.Sleep(time.Millisecond)
		}
	}
}
