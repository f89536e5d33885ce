package blockbuilder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

const partitions = 3

type fixture struct {
	t       *testing.T
	reg     *prometheus.Registry // of the builder started last
	kafka   tracelog.Config
	cl      *kgo.Client
	bucket  *flakyBucket
	logs    *logtest.Buffer // every builder's log
	nextID  atomic.Uint64
	records atomic.Int64
}

// newFixture starts Kafka, with opts, and a bucket.
func newFixture(t *testing.T, opts ...kfake.Opt) *fixture {
	t.Helper()
	return newFixtureOf(t, partitions, opts...)
}

// newFixtureOf is newFixture with a log of parts partitions.
func newFixtureOf(t *testing.T, parts int32, opts ...kfake.Opt) *fixture {
	t.Helper()
	kafka := kafkatest.New(t, opts...).Log(t, parts)
	cl, err := kgo.NewClient(append(kafka.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, kafka: kafka, cl: cl, bucket: &flakyBucket{Bucket: dir}, logs: &logtest.Buffer{}}
}

// produce writes one record of spans spans (one trace) for tenant to
// partition, stamped at.
func (f *fixture) produce(tenant string, partition int32, spans int, at time.Time) {
	f.t.Helper()
	if err := f.tryProduce(tenant, partition, spans, at); err != nil {
		f.t.Fatal(err)
	}
}

// tryProduce is produce for goroutines other than the test's.
func (f *fixture) tryProduce(tenant string, partition int32, spans int, at time.Time) error {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	id := f.nextID.Add(1)
	for i := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0: 1, 15: byte(id), 14: byte(id >> 8)})
		s.SetSpanID(pcommon.SpanID{0: 1, 7: byte(i)})
		s.SetName(fmt.Sprintf("span %d", i))
	}
	r, err := schema.EncodeRecord(tenant, td)
	if err != nil {
		return err
	}
	r.Topic, r.Partition, r.Timestamp = f.kafka.Topic, partition, at
	if err := f.cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		return err
	}
	f.records.Add(1)
	return nil
}

// start runs a builder of group, with the fixture's short cycles changed
// by opts, until the test ends or stop is called.
func (f *fixture) start(group string, opts ...func(*Config)) (stop func()) {
	f.t.Helper()
	cfg := f.config(group, opts...)
	f.reg = prometheus.NewRegistry()
	b, err := New(cfg, f.kafka, "default", f.bucket, f.logs.Logger(), f.reg)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				f.t.Errorf("builder: %v", err)
			}
		})
	}
	f.t.Cleanup(stop)
	return stop
}

// config returns the settings of a builder of group: the fixture's short
// cycles, changed by opts.
func (f *fixture) config(group string, opts ...func(*Config)) Config {
	cfg := DefaultConfig()
	cfg.ConsumerGroup = group
	cfg.CycleDuration = time.Second
	cfg.IdleCutDelay = 100 * time.Millisecond
	cfg.FetchMaxWait = 50 * time.Millisecond
	cfg.RetryBackoff = 20 * time.Millisecond
	cfg.LagInterval = 20 * time.Millisecond
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// committed returns group's committed offsets.
func (f *fixture) committed(group string) map[int32]int64 {
	f.t.Helper()
	c, err := tracelog.CommittedOffsets(context.Background(), f.cl, group, f.kafka.Topic)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// waitCommitted waits until group committed every partition's end.
func (f *fixture) waitCommitted(group string) {
	f.t.Helper()
	ends, err := tracelog.EndOffsets(context.Background(), f.cl, f.kafka.Topic)
	if err != nil {
		f.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		c := f.committed(group)
		done := true
		for p, end := range ends {
			if end > 0 && c[p] != end {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("group %s committed %v, want %v", group, c, ends)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stored returns every block's meta, and how often each span is stored.
func (f *fixture) stored() (map[uuid.UUID]*schema.BlockMeta, map[string]int) {
	f.t.Helper()
	ctx := context.Background()
	metas := make(map[uuid.UUID]*schema.BlockMeta)
	spans := make(map[string]int)
	var tenants []string
	_ = f.bucket.List(ctx, "", func(name string) error { tenants = append(tenants, strings.TrimSuffix(name, "/")); return nil })
	for _, tenant := range tenants {
		var ids []uuid.UUID
		_ = f.bucket.List(ctx, tenant+"/", func(name string) error {
			if id, err := uuid.Parse(strings.TrimSuffix(strings.TrimPrefix(name, tenant+"/"), "/")); err == nil {
				ids = append(ids, id)
			}
			return nil
		})
		for _, id := range ids {
			m, err := block.ReadMeta(ctx, f.bucket, tenant, id)
			if objstore.IsNotExist(err) {
				// A write abandoned between data and meta, by a
				// builder that stopped or lost the partition: no
				// block, as readers see it.
				continue
			}
			if err != nil {
				f.t.Fatalf("block %s/%s: %v", tenant, id, err)
			}
			metas[id] = m
			r, err := block.Open(ctx, f.bucket, m)
			if err != nil {
				f.t.Fatal(err)
			}
			if err := r.Scan(ctx, block.ScanOptions{Columns: block.SpanIDs}, func(row *schema.SpanRow) error {
				spans[fmt.Sprintf("%s/%x/%x", tenant, row.TraceID, row.SpanID)]++
				return nil
			}); err != nil {
				f.t.Fatal(err)
			}
			r.Close()
		}
	}
	return metas, spans
}

// checkEverySpanOnce fails unless the blocks hold want spans, each once.
func (f *fixture) checkEverySpanOnce(want int) map[uuid.UUID]*schema.BlockMeta {
	f.t.Helper()
	metas, spans := f.stored()
	if len(spans) != want {
		f.t.Fatalf("blocks hold %d distinct spans, want %d", len(spans), want)
	}
	for k, n := range spans {
		if n != 1 {
			f.t.Fatalf("span %s stored %d times", k, n)
		}
	}
	return metas
}

// flakyBucket fails uploads while failing is set, and holds them while
// hanging.
type flakyBucket struct {
	objstore.Bucket
	failing  atomic.Bool
	attempts atomic.Int64

	mu   sync.Mutex
	hang chan struct{} // uploads wait for it to close, or for their context to end
}

// setHanging makes uploads hang, or ends the hang: hung uploads then fail,
// as they would once a storage client's timeout passed.
func (b *flakyBucket) setHanging(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if on && b.hang == nil {
		b.hang = make(chan struct{})
	}
	if !on && b.hang != nil {
		close(b.hang)
		b.hang = nil
	}
}

func (b *flakyBucket) Upload(ctx context.Context, name string, r io.Reader) error {
	b.attempts.Add(1)
	b.mu.Lock()
	hang := b.hang
	b.mu.Unlock()
	if hang != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-hang:
			return errors.New("injected upload timeout")
		}
	}
	if b.failing.Load() {
		return errors.New("injected upload failure")
	}
	return b.Bucket.Upload(ctx, name, r)
}

func TestOffsetsCommittedOnlyAfterBlocksAreStored(t *testing.T) {
	f := newFixture(t)
	f.bucket.failing.Store(true)
	now := time.Now()
	for i := range 6 {
		f.produce("t1", int32(i%partitions), 4, now)
	}
	f.start("builders")

	deadline := time.Now().Add(30 * time.Second)
	for f.bucket.attempts.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("builder never tried to write a block")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := f.committed("builders"); len(c) != 0 {
		t.Fatalf("offsets %v committed while no block could be stored", c)
	}
	// The outage shows as lag: all 6 records, and growing in age.
	lag := func(name string) float64 { return promtest.Value(t, f.reg, name) }
	for lag("spanlog_block_builder_lag_records") != 6 {
		if time.Now().After(deadline) {
			t.Fatalf("lag records %v during the outage, want 6", lag("spanlog_block_builder_lag_records"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	first := lag("spanlog_block_builder_lag_seconds")
	for lag("spanlog_block_builder_lag_seconds") <= first {
		if time.Now().After(deadline) {
			t.Fatal("lag in seconds does not grow during the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}

	f.bucket.failing.Store(false)
	f.waitCommitted("builders")
	for lag("spanlog_block_builder_lag_records") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("lag does not drain after the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	metas := f.checkEverySpanOnce(6 * 4)
	committed := f.committed("builders")
	for _, m := range metas {
		r := m.KafkaRanges[0]
		if len(m.KafkaRanges) != 1 || r.Start != 0 || r.End != committed[r.Partition] {
			t.Errorf("block %s covers %+v; committed %v", m.BlockID, m.KafkaRanges, committed)
		}
		if m.Tenant != "t1" || m.TotalSpans != 8 || m.TotalTraces != 2 {
			t.Errorf("block %s: tenant %s, %d spans, %d traces; want t1, 8, 2", m.BlockID, m.Tenant, m.TotalSpans, m.TotalTraces)
		}
	}
}

// A replay of the log (a new group, as after offsets were lost or reset)
// rebuilds exactly the blocks that exist: same IDs, nothing added.
func TestReplayRebuildsTheSameBlocks(t *testing.T) {
	f := newFixture(t)
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := range 30 {
		// Records spread over several one-second cycles, two tenants.
		f.produce([]string{"t1", "t2"}[i%2], int32(i%partitions), 3, base.Add(time.Duration(i)*300*time.Millisecond))
	}
	stop := f.start("first")
	f.waitCommitted("first")
	stop()
	before := f.checkEverySpanOnce(30 * 3)
	if len(before) < 2*partitions*2 {
		t.Fatalf("only %d blocks; the test needs several cycles per partition", len(before))
	}

	f.start("replay")
	f.waitCommitted("replay")
	after := f.checkEverySpanOnce(30 * 3)
	if len(after) != len(before) {
		t.Fatalf("replay left %d blocks, want the %d there were", len(after), len(before))
	}
	for id, m := range before {
		if a := after[id]; a == nil || a.TotalSpans != m.TotalSpans {
			t.Fatalf("block %s changed in replay", id)
		}
	}
}

// Builders joining and leaving the group mid-stream neither lose nor
// duplicate a span.
func TestRebalanceLosesAndDuplicatesNothing(t *testing.T) {
	f := newFixture(t)
	produceBatch := func(n int) {
		now := time.Now()
		for i := range n {
			f.produce("t1", int32(i%partitions), 2, now)
		}
	}
	stopA := f.start("builders")
	produceBatch(9)
	f.waitCommitted("builders")

	f.start("builders") // B joins: partitions move
	produceBatch(9)
	stopA() // A leaves with whatever it had not written
	produceBatch(9)
	f.waitCommitted("builders")
	f.checkEverySpanOnce(27 * 2)
}

// Records reach blocks whatever codec the distributor wrote them with
// (kafka.compression): franz-go decompresses what it fetches.
func TestBlocksHoldRecordsOfEveryCompression(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	defaults := f.cl
	for i, codec := range []string{tracelog.CompressionNone, tracelog.CompressionSnappy, tracelog.CompressionLZ4, tracelog.CompressionZstd} {
		kafka := f.kafka
		kafka.Compression = codec
		cl, err := kgo.NewClient(append(kafka.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kafka.ProducerCompression())...)
		if err != nil {
			t.Fatal(err)
		}
		f.cl = cl
		f.produce("t1", int32(i%partitions), 5, now)
		cl.Close()
	}
	f.cl = defaults
	f.start("builders")
	f.waitCommitted("builders")
	f.checkEverySpanOnce(4 * 5)
}
