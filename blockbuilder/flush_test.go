package blockbuilder

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/schema"
)

// produceRaw writes a record as a writer other than spanlog might.
func (f *fixture) produceRaw(partition int32, at time.Time, value []byte, headers ...kgo.RecordHeader) {
	f.t.Helper()
	r := &kgo.Record{Topic: f.kafka.Topic, Partition: partition, Timestamp: at, Value: value, Headers: headers}
	if err := f.cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		f.t.Fatal(err)
	}
}

// Records no block can hold (no spans, not OTLP, a newer format, a tenant
// no tenant can be) are skipped, counted by reason and logged once per
// partition: the partition keeps moving, blocks are written and offsets
// committed past them. An empty record alone in its cycle once stalled
// every partition of its builder for good.
func TestRecordsNoBlockCanHoldAreSkipped(t *testing.T) {
	f := newFixture(t)
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	otlp := func() []byte {
		td := ptrace.NewTraces()
		s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0: 2, 15: 1})
		s.SetSpanID(pcommon.SpanID{0: 2})
		value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		return value
	}
	header := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }

	// Partition 0: an empty record alone in its cycle (what kcat -Z
	// writes), then one among spans.
	f.produceRaw(0, base, nil)
	f.produce("t1", 0, 2, base.Add(time.Second))
	f.produceRaw(0, base.Add(time.Second), nil, header(schema.HeaderTenant, "t1"))
	f.produce("t1", 0, 2, base.Add(2*time.Second))
	// Partition 1: bytes that are not OTLP, and a format this build does
	// not know.
	f.produceRaw(1, base, []byte("not an OTLP request"))
	f.produceRaw(1, base, otlp(), header(schema.HeaderFormat, "2"))
	f.produce("t1", 1, 2, base.Add(time.Second))
	// Partition 2: a tenant header no tenant can have.
	f.produceRaw(2, base, otlp(), header(schema.HeaderTenant, "../t1"))
	f.produce("t1", 2, 2, base)

	f.start("builders")
	f.waitCommitted("builders")
	f.checkEverySpanOnce(4 * 2)
	for reason, want := range map[string]float64{"no_spans": 2, "undecodable": 1, "unknown_format": 1, "invalid_tenant": 1} {
		if got := promtest.Value(t, f.reg, "spanlog_block_builder_records_skipped_total", "reason", reason); got != want {
			t.Errorf("records skipped for %s: %v, want %v", reason, got, want)
		}
	}
	if n := strings.Count(f.logs.String(), "skipping record"); n != partitions {
		t.Errorf("%d lines about skipped records, want one per partition (%d):\n%s", n, partitions, f.logs)
	}
	if n := promtest.Value(t, f.reg, "spanlog_block_builder_blocks_unwritable_total"); n != 0 {
		t.Errorf("%v blocks given up", n)
	}
}

// Only object storage errors are retried: a block that fails for another
// reason would fail the same way forever, holding every partition of the
// builder, so it is given up, counted and logged.
func TestUnwritableBlockIsNotRetried(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	b, err := New(DefaultConfig(), f.kafka, "default", f.bucket, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	empty := block.NewBuilder("t1", block.DefaultOptions()) // block.ErrEmpty, whatever the storage
	if !b.writeWithRetry(ctx, nil, "t1", empty, []schema.OffsetRange{{Partition: 0, Start: 0, End: 1}}, 0) {
		t.Fatal("the block is not done with")
	}
	if ctx.Err() != nil {
		t.Fatal("the write was retried until the test's deadline")
	}
	if n := promtest.Value(t, reg, "spanlog_block_builder_blocks_unwritable_total"); n != 1 {
		t.Errorf("%v blocks given up, want 1", n)
	}
	if n := promtest.Value(t, reg, "spanlog_block_builder_flush_failures_total"); n != 0 {
		t.Errorf("%v retried failures, want 0", n)
	}
}
