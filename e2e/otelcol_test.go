package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"

	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/schema"
)

// The Collector configurations the README shows, as tested; %s are the
// addresses of the test's processes.
const (
	// collectorToSpanlog receives OTLP and writes it into spanlog's
	// topic: records keyed and partitioned by trace ID, named for the
	// tenant of the request's X-Scope-OrgID header (spanlog reads it with
	// -kafka.foreign-tenant-header=X-Scope-OrgID), and acked by Kafka
	// before the client is: no sending queue.
	collectorToSpanlog = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
        include_metadata: true
exporters:
  kafka:
    brokers: [%s]
    traces:
      topic: spanlog-traces
      encoding: otlp_proto
    partition_traces_by_id: true
    include_metadata_keys: [X-Scope-OrgID]
    producer:
      required_acks: all
    sending_queue:
      enabled: false
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [kafka]
`
	// spanlogToCollector reads spanlog's topic from its start and sends
	// every span on over OTLP, each resource carrying its tenant as the
	// attribute kafka.header.spanlog-tenant.
	spanlogToCollector = `
receivers:
  kafka:
    brokers: [%s]
    traces:
      topics: [spanlog-traces]
      encoding: otlp_proto
    group_id: spanlog-fanout
    initial_offset: earliest
    header_extraction:
      extract_headers: true
      headers: [spanlog-tenant]
exporters:
  otlp_grpc:
    endpoint: %s
    tls:
      insecure: true
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [kafka]
      exporters: [otlp_grpc]
`
)

// startCollector runs the Collector make builds into bin/ with config and
// waits until it says it runs. It is killed when the test ends.
func startCollector(t *testing.T, config string) {
	t.Helper()
	bin, err := filepath.Abs("../bin/otelcol-spanlog")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the Collector is not at %s: run `make bin/otelcol-spanlog` (or make test) to build it", bin)
	}
	path := filepath.Join(t.TempDir(), "otelcol.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	log := &logtest.Buffer{}
	cmd := exec.Command(bin, "--config=file:"+path)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("collector log:\n%s", log.String())
		}
	})
	waitForWhat(t, 60*time.Second, func() bool {
		select {
		case <-done:
			t.Fatalf("the Collector exited: %v\n%s", cmd.ProcessState, log.String())
		default:
		}
		return strings.Contains(log.String(), "Everything is ready")
	}, func() string { return "the Collector to start" })
}

// TestCollectorWritesTheTopic sends traces with the OpenTelemetry SDK to a
// Collector whose kafka exporter writes them into spanlog's topic, as the
// README says to configure it: one tenant's named in X-Scope-OrgID, and
// traces with no tenant, which are the default tenant's. The exporter
// partitions by its own hash of the trace ID, not spanlog's, and writes no
// spanlog header; spanlog still finds every trace by ID as soon as the
// Collector acked it, for its tenant alone, and by search, from the live
// tail and from blocks.
func TestCollectorWritesTheTopic(t *testing.T) {
	n := newNode(t, "-tenants.multitenancy-enabled=true", "-kafka.foreign-tenant-header=X-Scope-OrgID")
	n.start(t)
	otlp := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startCollector(t, fmt.Sprintf(collectorToSpanlog, otlp, n.Kafka))

	const defaultTenant = "single-tenant"
	sent := map[string]map[string][]sdktrace.ReadOnlySpan{
		"team-a":      sendTracesAs(t, "grpc", otlp, "checkout", 20, "team-a"),
		defaultTenant: sendTracesAs(t, "grpc", otlp, "payments", 20, ""),
	}
	// What the Collector wrote, read from the topic: no record of
	// spanlog's, and traces in other partitions than the distributor
	// would have put them in, or the rest proves nothing.
	moved := 0
	for _, r := range readTopic(t, n.Kafka, 40) {
		if !schema.Foreign(r) {
			t.Fatalf("record at partition %d offset %d has spanlog's format header", r.Partition, r.Offset)
		}
		tenant, td, err := schema.DecodeRecord(r, schema.RecordTenancy{Default: defaultTenant, ForeignHeader: "X-Scope-OrgID"})
		if err != nil {
			t.Fatal(err)
		}
		id := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
		if _, ok := sent[tenant][id.String()]; !ok {
			t.Fatalf("record at partition %d offset %d: trace %s not sent as %s", r.Partition, r.Offset, id, tenant)
		}
		if want := schema.CollectorPartition(id, 4); r.Partition != want {
			t.Fatalf("trace %s in partition %d, CollectorPartition says %d", id, r.Partition, want)
		}
		if r.Partition != schema.Partition(tenant, id, 4) {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("the Collector put every trace where the distributor would have: the test proves nothing")
	}

	cases := []searchCase[[]sdktrace.ReadOnlySpan]{
		{`{ resource.service.name = "checkout" }`, func(ss []sdktrace.ReadOnlySpan) bool {
			return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return service(s) == "checkout" })
		}},
		{`{ status = error }`, func(ss []sdktrace.ReadOnlySpan) bool {
			return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return s.Status().Code == codes.Error })
		}},
		{`{}`, func([]sdktrace.ReadOnlySpan) bool { return true }},
	}
	check := func(when string) {
		for tenant, traces := range sent {
			for id, spans := range traces {
				for _, reader := range []string{tenant, "team-a|" + defaultTenant} {
					status, td := getTraceAs(t, n.HTTP, id, "v2", reader)
					if status != http.StatusOK {
						t.Fatalf("%s: trace %s of %s read as %s: status %d", when, id, tenant, reader, status)
					}
					if err := sameSpans(spans, td); err != nil {
						t.Fatalf("%s: trace %s of %s read as %s: %v", when, id, tenant, reader, err)
					}
				}
				if status, _ := getTraceAs(t, n.HTTP, id, "v2", "team-b"); status != http.StatusNotFound {
					t.Fatalf("%s: trace %s of %s read as team-b: status %d, want 404", when, id, tenant, status)
				}
			}
			// The cases that match some of the tenant's traces.
			var want []searchCase[[]sdktrace.ReadOnlySpan]
			for _, c := range cases {
				for _, spans := range traces {
					if c.matches(spans) {
						want = append(want, c)
						break
					}
				}
			}
			checkSearchAs(t, n.HTTP, tenant, when+", "+tenant, traces, want)
		}
	}
	check("live tail")
	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, n.HTTP, "spanlog_block_builder_blocks_flushed_total") > 0 &&
			metric(t, n.HTTP, "spanlog_querier_live_records") == 0
	})
	check("blocks")
}

// readTopic returns the first want records of spanlog's topic on the
// Kafka at addr.
func readTopic(t *testing.T, addr string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("spanlog-traces"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d records of the topic, want %d: %v", len(out), want, err)
		}
		out = append(out, fetches.Records()...)
	}
	return out
}

// otlpSink is an OTLP/gRPC server that keeps every span it receives.
type otlpSink struct {
	ptraceotlp.UnimplementedGRPCServer

	mu       sync.Mutex
	byTenant map[string]map[pcommon.SpanID]int // spans received per tenant, and how often
}

func (s *otlpSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.Traces().ResourceSpans().All() {
		tenant, _ := rs.Resource().Attributes().Get("kafka.header.spanlog-tenant")
		if s.byTenant[tenant.AsString()] == nil {
			s.byTenant[tenant.AsString()] = make(map[pcommon.SpanID]int)
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				s.byTenant[tenant.AsString()][span.SpanID()]++
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

// received returns the IDs of the spans received for tenant.
func (s *otlpSink) received(tenant string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.byTenant[tenant] {
		ids = append(ids, id.String())
	}
	slices.Sort(ids)
	return ids
}

// tenants returns the tenants spans were received for.
func (s *otlpSink) tenants() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.byTenant))
}

// startSink starts an otlpSink and returns it with its address.
func startSink(t *testing.T) (*otlpSink, string) {
	t.Helper()
	sink := &otlpSink{byTenant: make(map[string]map[pcommon.SpanID]int)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, sink)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return sink, ln.Addr().String()
}

// spanIDs returns the IDs of the spans of sent, sorted.
func spanIDs(sent map[string][]sdktrace.ReadOnlySpan) []string {
	var ids []string
	for _, spans := range sent {
		for _, s := range spans {
			ids = append(ids, s.SpanContext().SpanID().String())
		}
	}
	slices.Sort(ids)
	return ids
}

// TestCollectorReadsTheTopic sends traces of two tenants to spanlog's
// distributor, and a Collector whose kafka receiver reads spanlog's topic,
// as the README says to configure it, passes on every span spanlog acked,
// each with its tenant: the topic is an interface for fan-out to other
// backends.
func TestCollectorReadsTheTopic(t *testing.T) {
	n := newNode(t, "-tenants.multitenancy-enabled=true")
	n.start(t)
	sink, sinkAddr := startSink(t)
	sent := map[string][]string{
		"team-a": spanIDs(sendTracesAs(t, "grpc", n.OTLPGRPC, "checkout", 20, "team-a")),
	}
	startCollector(t, fmt.Sprintf(spanlogToCollector, n.Kafka, sinkAddr))
	// Spans acked while the Collector reads too.
	sent["team-b"] = spanIDs(sendTracesAs(t, "http", n.OTLPHTTP, "payments", 20, "team-b"))

	waitForWhat(t, 60*time.Second, func() bool {
		for tenant, ids := range sent {
			if len(sink.received(tenant)) < len(ids) {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("the Collector to pass on every span: got %d of team-a's %d, %d of team-b's %d",
			len(sink.received("team-a")), len(sent["team-a"]), len(sink.received("team-b")), len(sent["team-b"]))
	})
	for tenant, ids := range sent {
		if got := sink.received(tenant); !slices.Equal(got, ids) {
			t.Errorf("%s: the Collector passed on %d spans, %d sent; they differ", tenant, len(got), len(ids))
		}
	}
	if got := sink.tenants(); len(got) != len(sent) {
		t.Errorf("spans of tenants %q passed on, want those of %d", got, len(sent))
	}
}
