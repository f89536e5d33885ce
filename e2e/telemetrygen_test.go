package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// otlpTap is an OTLP/gRPC receiver between a sender and a distributor: it
// passes every request on and keeps a copy of those the distributor acked,
// so that a test knows exactly what a tool it cannot instrument sent.
type otlpTap struct {
	ptraceotlp.UnimplementedGRPCServer
	next ptraceotlp.GRPCClient

	mu    sync.Mutex
	acked ptrace.Traces
}

func (t *otlpTap) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	resp, err := t.next.Export(ctx, req)
	if err == nil {
		t.mu.Lock()
		req.Traces().ResourceSpans().MoveAndAppendTo(t.acked.ResourceSpans())
		t.mu.Unlock()
	}
	return resp, err
}

// startTap starts an otlpTap in front of the distributor at endpoint and
// returns it with its address.
func startTap(t *testing.T, endpoint string) (*otlpTap, string) {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	tap := &otlpTap{next: ptraceotlp.NewGRPCClient(conn), acked: ptrace.NewTraces()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, tap)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return tap, ln.Addr().String()
}

// tapSpan is a span as the tap saw it, with its resource.
type tapSpan struct {
	ptrace.Span
	resource pcommon.Map
}

func (s tapSpan) service() string {
	v, _ := s.resource.Get("service.name")
	return v.Str()
}

// byTrace groups the acked spans by trace ID, in hex.
func (t *otlpTap) byTrace() map[string][]tapSpan {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string][]tapSpan)
	for _, rs := range t.acked.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				id := s.TraceID().String()
				out[id] = append(out[id], tapSpan{s, rs.Resource().Attributes()})
			}
		}
	}
	return out
}

// telemetrygen runs the pinned telemetrygen that make installs into bin/.
func telemetrygen(t *testing.T, args ...string) {
	t.Helper()
	bin, err := filepath.Abs("../bin/telemetrygen")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("telemetrygen not found at %s: run `make bin/telemetrygen` (or make test) to install it", bin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"traces"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("telemetrygen %v: %v\n%s", args, err, out)
	}
}

// telemetrygenCases are TraceQL queries and, computed from the spans the
// tap saw without any TraceQL, whether a trace must match.
var telemetrygenCases = []searchCase[[]tapSpan]{
	{`{ resource.service.name = "tg-payment" }`, func(ss []tapSpan) bool {
		return slices.ContainsFunc(ss, func(s tapSpan) bool { return s.service() == "tg-payment" })
	}},
	{`{ status = error }`, func(ss []tapSpan) bool {
		return slices.ContainsFunc(ss, func(s tapSpan) bool { return s.Status().Code() == ptrace.StatusCodeError })
	}},
	{`{ span.http.response.status_code >= 500 }`, func(ss []tapSpan) bool {
		return slices.ContainsFunc(ss, func(s tapSpan) bool {
			v, ok := s.Attributes().Get("http.response.status_code")
			return ok && v.Int() >= 500
		})
	}},
	{`{ status = ok && duration > 100ms }`, func(ss []tapSpan) bool {
		return slices.ContainsFunc(ss, func(s tapSpan) bool {
			return s.Status().Code() == ptrace.StatusCodeOk && s.EndTimestamp().AsTime().Sub(s.StartTimestamp().AsTime()) > 100*time.Millisecond
		})
	}},
	{`{ resource.service.name = "tg-checkout" } | count() = 3`, func(ss []tapSpan) bool {
		n := 0
		for _, s := range ss {
			if s.service() == "tg-checkout" {
				n++
			}
		}
		return n == 3
	}},
	{`{ resource.service.name = "tg-payment" } > { status = error }`, func(ss []tapSpan) bool {
		return slices.ContainsFunc(ss, func(child tapSpan) bool {
			return child.Status().Code() == ptrace.StatusCodeError && slices.ContainsFunc(ss, func(parent tapSpan) bool {
				return parent.SpanID() == child.ParentSpanID() && parent.service() == "tg-payment"
			})
		})
	}},
	{`{ rootServiceName = "tg-checkout" }`, func(ss []tapSpan) bool {
		return slices.ContainsFunc(ss, func(s tapSpan) bool { return s.ParentSpanID().IsEmpty() && s.service() == "tg-checkout" })
	}},
	{`{}`, func([]tapSpan) bool { return true }},
}

// TestSearchTelemetrygen sends traces with telemetrygen, through a tap that
// records what spanlog acked, and checks that each query of a suite finds
// exactly the traces that match by the tap's account, from the live tail
// and from blocks.
func TestSearchTelemetrygen(t *testing.T) {
	n := newNode(t)
	n.start(t)
	tap, endpoint := startTap(t, n.OTLPGRPC)
	common := []string{"--otlp-endpoint", endpoint, "--otlp-insecure", "--rate", "200"}
	telemetrygen(t, append(common, "--service", "tg-checkout", "--traces", "12", "--child-spans", "2",
		"--status-code", "Ok", "--span-duration", "150ms", "--telemetry-attributes", "http.response.status_code=200")...)
	telemetrygen(t, append(common, "--service", "tg-payment", "--traces", "8", "--child-spans", "3",
		"--status-code", "Error", "--span-duration", "20ms", "--telemetry-attributes", "http.response.status_code=503")...)
	sent := tap.byTrace()
	if len(sent) != 20 {
		t.Fatalf("the tap saw %d traces acked, want 20", len(sent))
	}

	checkSearch(t, n.HTTP, "live tail", sent, telemetrygenCases)
	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, n.HTTP, "spanlog_block_builder_blocks_flushed_total") > 0 &&
			metric(t, n.HTTP, "spanlog_querier_live_records") == 0
	})
	checkSearch(t, n.HTTP, "blocks", sent, telemetrygenCases)
}
