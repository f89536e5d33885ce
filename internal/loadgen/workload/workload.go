// Package workload captures the requests of issue 11's ingest workload as
// the load generator sends them (its default shape: requests of 20 traces
// of 10 spans over 10 services, seed 1), through the OpenTelemetry SDK's
// exporter to an OTLP receiver, for benchmarks that want the spans users
// send rather than hand-built ones. It is for tests only.
package workload

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/internal/loadgen/loadgentest"
)

// Requests returns the requests of about spans spans, in the order they
// arrived.
func Requests(tb testing.TB, spans int) []ptrace.Traces {
	tb.Helper()
	recv := loadgentest.NewGRPC(tb, loadgentest.Options{KeepTraces: true})
	cfg := loadgen.DefaultConfig()
	cfg.Endpoint, cfg.Rate, cfg.Seed = recv.Endpoint, 0, 1
	cfg.BatchTraces, cfg.SpansPerTrace, cfg.Services = 20, 10, 10
	cfg.Traces = int64(spans / cfg.SpansPerTrace)
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if res.FailedSpans > 0 {
		tb.Fatalf("%d spans not received", res.FailedSpans)
	}
	reqs := recv.Requests()
	out := make([]ptrace.Traces, len(reqs))
	for i, r := range reqs {
		out[i] = r.Traces
	}
	return out
}
