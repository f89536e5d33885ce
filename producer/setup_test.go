package producer

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

const testPartitions = 4

// testSetup is what a test may change before a distributor starts.
type testSetup struct {
	cfg     Config
	kafka   tracelog.Config
	tenants tenant.Config
	// limits are every tenant's; none by default. overrides is a
	// limits overrides file, if any.
	limits    limits.Limits
	overrides string
	// logSyncer is the distributor's, none by default.
	logSyncer LogSyncer
	reg       prometheus.Registerer
}

// startDistributor runs a distributor and waits until it is ready.
func startDistributor(t testing.TB, brokers []string, change func(*testSetup)) *Distributor {
	t.Helper()
	d := runDistributor(t, brokers, change)
	select {
	case <-d.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("distributor not ready after 10s")
	}
	return d
}

// runDistributor runs a distributor against brokers. It is stopped when
// the test ends, and the test fails if Run returns an error.
func runDistributor(t testing.TB, brokers []string, change func(*testSetup)) *Distributor {
	t.Helper()
	d := newDistributor(t, brokers, change)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return d
}

// newDistributor returns a distributor against brokers, serving on
// 127.0.0.1 ports, with a log and topic of its own.
func newDistributor(t testing.TB, brokers []string, change func(*testSetup)) *Distributor {
	t.Helper()
	s := testSetup{cfg: DefaultConfig(), kafka: tracelog.DefaultConfig(), tenants: tenant.DefaultConfig(), reg: prometheus.NewRegistry()}
	s.cfg.GRPCListenAddress = "127.0.0.1:0"
	s.cfg.HTTPListenAddress = "127.0.0.1:0"
	s.kafka.Brokers = brokers
	s.kafka.Topic = kafkatest.Topic
	s.kafka.Partitions = testPartitions
	if change != nil {
		change(&s)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	limitsCfg := limits.DefaultConfig()
	limitsCfg.Defaults, limitsCfg.OverridesFile = s.limits, s.overrides
	lim, err := limits.NewOverrides(limitsCfg, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("limits: %v", err)
	}
	d, err := New(s.cfg, Deps{Kafka: s.kafka, Tenants: s.tenants, Limits: lim, LogSyncer: s.logSyncer, Logger: logger, Registerer: s.reg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// testWriter sends logs to the test's log, shown with -v.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// readLog returns every record of topic written so far.
func readLog(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := tracelog.EndOffsets(ctx, cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	parts := make(map[int32]kgo.Offset)
	remaining := int64(0)
	for p, end := range ends {
		parts[p] = kgo.NewOffset().AtStart()
		remaining += end
	}
	if remaining == 0 {
		return nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts})
	var records []*kgo.Record
	for int64(len(records)) < remaining {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(records), remaining, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		records = append(records, fs.Records()...)
	}
	return records
}

// spanKey identifies a span across the log.
type spanKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

// logSpans decodes records, checks what every record must satisfy, and
// returns how many times each span is in the log.
func logSpans(t testing.TB, records []*kgo.Record, wantTenant string, partitions int32) map[spanKey]int {
	t.Helper()
	seen := make(map[spanKey]int)
	for _, r := range records {
		tn, td, err := schema.DecodeRecord(r, schema.RecordTenancy{Default: "no-tenant-header"})
		if err != nil {
			t.Fatal(err)
		}
		if tn != wantTenant {
			t.Errorf("record at %d/%d: tenant %q, want %q", r.Partition, r.Offset, tn, wantTenant)
		}
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					if p := schema.Partition(tn, s.TraceID(), partitions); p != r.Partition {
						t.Errorf("span %s of trace %s on partition %d, want %d", s.SpanID(), s.TraceID(), r.Partition, p)
					}
					seen[spanKey{s.TraceID(), s.SpanID()}]++
				}
			}
		}
	}
	return seen
}

// checkSpansOnce fails unless the log holds each of want as many times as
// want does, once for a request's distinct spans, and nothing else: a
// span the client sent twice is written twice.
func checkSpansOnce(t testing.TB, seen map[spanKey]int, want []spanKey) {
	t.Helper()
	times := make(map[spanKey]int, len(want))
	for _, k := range want {
		times[k]++
	}
	for k, n := range times {
		if seen[k] != n {
			t.Errorf("span %s of trace %s is %d times in the log, want %d", k.span, k.trace, seen[k], n)
		}
	}
	if len(seen) != len(times) {
		t.Errorf("log holds %d distinct spans, want %d", len(seen), len(times))
	}
}

// testTraces returns a request of traces traces with spansPerTrace spans
// each, spread over two resources and two scopes each, as SDK batches and
// collectors send them. Every span has attrs attributes.
func testTraces(traces, spansPerTrace, attrs int) ptrace.Traces {
	td := ptrace.NewTraces()
	var scopes []ptrace.ScopeSpans
	for r := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("service-%d", r))
		rs.Resource().Attributes().PutStr("host.name", "host-1.example.com")
		for s := range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(fmt.Sprintf("scope-%d", s))
			ss.Scope().SetVersion("1.0.0")
			scopes = append(scopes, ss)
		}
	}
	n := 0
	for tr := range traces {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], uint64(tr+1))
		binary.BigEndian.PutUint64(tid[8:], 0x5eed)
		for sp := range spansPerTrace {
			n++
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], uint64(n))
			s := scopes[(tr+sp)%len(scopes)].Spans().AppendEmpty()
			s.SetTraceID(tid)
			s.SetSpanID(sid)
			s.SetName(fmt.Sprintf("operation-%d", sp%7))
			s.SetKind(ptrace.SpanKindServer)
			start := time.Unix(1_800_000_000, int64(n)*1000)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(sp+1) * time.Millisecond)))
			for a := range attrs {
				s.Attributes().PutStr(fmt.Sprintf("attribute.%d", a), fmt.Sprintf("value-%d-%d", a, n))
			}
		}
	}
	return td
}

// requestBodies returns td as an OTLP request in protobuf and in JSON.
func requestBodies(t testing.TB, td ptrace.Traces) (protoBody, jsonBody []byte) {
	t.Helper()
	req := ptraceotlp.NewExportRequestFromTraces(td)
	protoBody, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	jsonBody, err = req.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return protoBody, jsonBody
}

// keysOf returns the keys of every span of td.
func keysOf(td ptrace.Traces) []spanKey {
	var keys []spanKey
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				keys = append(keys, spanKey{s.TraceID(), s.SpanID()})
			}
		}
	}
	return keys
}
