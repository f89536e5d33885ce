package loadgen

import (
	"context"
	"maps"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/loadgen/loadgentest"
	"go.opentelemetry.io/otel/trace"
)

// transport is a client over a protocol.
type transport struct{ client, protocol string }

func (tr transport) String() string { return tr.client + "/" + tr.protocol }

// transports lists what every behaviour is tested over.
func transports() []transport {
	var out []transport
	for _, c := range []string{ClientSDK, ClientCollector} {
		for _, p := range []string{ProtocolGRPC, ProtocolHTTP} {
			out = append(out, transport{c, p})
		}
	}
	return out
}

func receiver(t *testing.T, protocol string, opts loadgentest.Options) *loadgentest.Receiver {
	if protocol == ProtocolHTTP {
		return loadgentest.NewHTTP(t, opts)
	}
	return loadgentest.NewGRPC(t, opts)
}

func testConfig(tr transport, endpoint string) Config {
	cfg := DefaultConfig()
	cfg.Client = tr.client
	cfg.Protocol = tr.protocol
	cfg.Endpoint = endpoint
	cfg.Workers = 3
	cfg.Rate = 400
	cfg.BatchTraces = 4
	cfg.SpansPerTrace = 5
	cfg.Seed = 1
	return cfg
}

// runFor runs a generator for d and checks that it leaves no goroutine
// behind once its connections are closed.
func runFor(t *testing.T, cfg Config, d time.Duration) *Result {
	t.Helper()
	before := runtime.NumGoroutine()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	res, err := g.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g.Progress(), progressOf(res); got != want {
		t.Errorf("progress after the run = %+v, want %+v", got, want)
	}
	// Servers end their side of closed connections asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the run, %d before", n, before)
	}
	return res
}

// progressOf is the progress a finished run must show: every request sent
// has an outcome.
func progressOf(r *Result) Progress {
	return Progress{
		SentRequests:   r.AckedRequests + r.FailedRequests,
		SentSpans:      r.AckedSpans + r.FailedSpans,
		AckedRequests:  r.AckedRequests,
		AckedSpans:     r.AckedSpans,
		FailedRequests: r.FailedRequests,
		FailedSpans:    r.FailedSpans,
	}
}

func TestRunAcksExactlyTheSpansAnsweredOK(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.String(), func(t *testing.T) {
			rcv := receiver(t, tr.protocol, loadgentest.Options{FailEvery: 3, PartialEvery: 5})
			cfg := testConfig(tr, rcv.Endpoint)
			cfg.Tenant = "team-a"
			res := runFor(t, cfg, 500*time.Millisecond)

			requests := rcv.Requests()
			var ok, failed, partial, failedSpans int64
			for _, req := range requests {
				if req.Tenant != "team-a" {
					t.Fatalf("request with tenant %q, want team-a", req.Tenant)
				}
				switch req.Reply {
				case loadgentest.ReplyOK:
					ok++
				case loadgentest.ReplyFailed:
					failed++
					failedSpans += countSpans(req.Spans)
				case loadgentest.ReplyPartial:
					partial++
					failedSpans += countSpans(req.Spans)
				}
			}
			if failed == 0 || partial == 0 {
				t.Fatalf("only %d requests, none failed or partial: test too short", len(requests))
			}
			assertSameSpans(t, res.Acked, rcv.Acked())
			if res.AckedRequests != ok || res.AckedSpans != countSpans(res.Acked) {
				t.Errorf("acked %d requests, %d spans; receiver answered %d OK with %d spans", res.AckedRequests, res.AckedSpans, ok, countSpans(res.Acked))
			}
			if res.FailedRequests != failed+partial || res.FailedSpans != failedSpans {
				t.Errorf("failed %d requests, %d spans; receiver failed %d with %d spans", res.FailedRequests, res.FailedSpans, failed+partial, failedSpans)
			}
			wantErrors := map[string]int64{tr.protocol + " OK with error": partial}
			if tr.protocol == ProtocolGRPC {
				wantErrors["grpc Unavailable"] = failed
			} else {
				wantErrors["http 503"] = failed
			}
			if !maps.Equal(res.Errors, wantErrors) {
				t.Errorf("errors = %v, want %v", res.Errors, wantErrors)
			}
			if res.Latency.Count() != ok || res.Latency.Quantile(0.5) <= 0 {
				t.Errorf("latency of %d requests, p50 %v; want %d requests", res.Latency.Count(), res.Latency.Quantile(0.5), ok)
			}
		})
	}
}

func TestRunKeepsToTheRate(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.String(), func(t *testing.T) {
			rcv := receiver(t, tr.protocol, loadgentest.Options{})
			cfg := testConfig(tr, rcv.Endpoint)
			cfg.Rate = 200
			cfg.BatchTraces = 5
			res := runFor(t, cfg, time.Second)
			// Loose bounds: the machine is shared and the clock coarse.
			if n := len(res.Acked); n < 100 || n > 400 {
				t.Errorf("%d traces in 1s at 200 traces/s", n)
			}
			if res.FailedRequests != 0 {
				t.Errorf("failures: %v", res.Errors)
			}
		})
	}
}

func TestRunSendsExactlyTheTracesAskedFor(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.String(), func(t *testing.T) {
			rcv := receiver(t, tr.protocol, loadgentest.Options{})
			cfg := testConfig(tr, rcv.Endpoint)
			cfg.Rate = 0
			cfg.Traces = 23 // shares of 8, 8 and 7: requests of 4, 4, 4, 4, 4 and 3
			g, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			// No deadline: the run must end by itself.
			res, err := g.Run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Acked) != 23 || res.AckedSpans != 23*int64(cfg.SpansPerTrace) || res.FailedRequests != 0 {
				t.Fatalf("acked %d traces, %d spans, %d requests failed; want 23 traces, %d spans",
					len(res.Acked), res.AckedSpans, res.FailedRequests, 23*cfg.SpansPerTrace)
			}
			var sizes []int
			for _, req := range rcv.Requests() {
				sizes = append(sizes, len(req.Spans))
			}
			slices.Sort(sizes)
			if want := []int{3, 4, 4, 4, 4, 4}; !slices.Equal(sizes, want) {
				t.Errorf("requests of %v traces, want %v", sizes, want)
			}

			// The same seed sends the same traces again.
			again, err := Run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(slices.SortedFunc(maps.Keys(again.Acked), compareTraceIDs), slices.SortedFunc(maps.Keys(res.Acked), compareTraceIDs)) {
				t.Error("a second run with the same seed sent other traces")
			}
		})
	}
}

func TestRunCountsTimeoutsAsFailedEvenWhenStored(t *testing.T) {
	want := map[string]string{ProtocolGRPC: "grpc DeadlineExceeded", ProtocolHTTP: "http timeout"}
	for _, tr := range transports() {
		t.Run(tr.String(), func(t *testing.T) {
			rcv := receiver(t, tr.protocol, loadgentest.Options{Delay: 10 * time.Second})
			cfg := testConfig(tr, rcv.Endpoint)
			cfg.RequestTimeout = 100 * time.Millisecond
			start := time.Now()
			res := runFor(t, cfg, 300*time.Millisecond)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("run took %v: requests in flight not bounded by the timeout", took)
			}
			if len(rcv.Requests()) == 0 {
				t.Fatal("receiver got no request")
			}
			if len(res.Acked) != 0 || res.AckedRequests != 0 {
				t.Errorf("acked %d requests of a receiver that never answers in time", res.AckedRequests)
			}
			if got := res.Errors[want[tr.protocol]]; got != res.FailedRequests || got == 0 {
				t.Errorf("errors = %v, want all %d as %q", res.Errors, res.FailedRequests, want[tr.protocol])
			}
		})
	}
}

func TestRunCountsAnUnreachableEndpointAsFailed(t *testing.T) {
	want := map[string]string{ProtocolGRPC: "grpc Unavailable", ProtocolHTTP: "http no response"}
	for _, tr := range transports() {
		t.Run(tr.String(), func(t *testing.T) {
			cfg := testConfig(tr, closedPort(t))
			res := runFor(t, cfg, 300*time.Millisecond)
			if res.AckedRequests != 0 || res.FailedRequests == 0 {
				t.Fatalf("acked %d, failed %d requests to a closed port", res.AckedRequests, res.FailedRequests)
			}
			if got := res.Errors[want[tr.protocol]]; got != res.FailedRequests {
				t.Errorf("errors = %v, want all %d as %q", res.Errors, res.FailedRequests, want[tr.protocol])
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	g, err := New(testConfig(transport{ClientSDK, ProtocolGRPC}, closedPort(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := g.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Run(ctx); err == nil {
		t.Error("second Run: no error")
	}
}

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func countSpans(m map[trace.TraceID][]trace.SpanID) int64 {
	var n int64
	for _, spans := range m {
		n += int64(len(spans))
	}
	return n
}

func assertSameSpans(t *testing.T, got, want map[trace.TraceID][]trace.SpanID) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d traces acked, want %d", len(got), len(want))
	}
	for id, spans := range want {
		g := slices.SortedFunc(slices.Values(got[id]), compareSpanIDs)
		w := slices.SortedFunc(slices.Values(spans), compareSpanIDs)
		if !slices.Equal(g, w) {
			t.Errorf("trace %s: acked spans %v, want %v", id, g, w)
		}
	}
}

func compareSpanIDs(a, b trace.SpanID) int { return slices.Compare(a[:], b[:]) }

func compareTraceIDs(a, b trace.TraceID) int { return slices.Compare(a[:], b[:]) }
