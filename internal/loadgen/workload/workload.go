// Package workload captures the requests of issue 11's ingest workload as
// the load generator sends them (its default shape: requests of 20 traces
// of 10 spans over 10 services, seed 1), through the OpenTelemetry SDK's
// exporter to an OTLP receiver, for benchmarks that want the spans users
// send rather than hand-built ones. It is for tests only.
package workload

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/internal/loadgen/loadgentest"
	"github.com/spanlog/spanlog/schema"
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

// Records returns the records the distributor would write of the load
// generator's requests holding spans spans: each request split by trace
// into one record per partition of partitions it has spans for, keeping
// its resources and scopes, in the order the requests arrived.
func Records(tb testing.TB, spans int, partitions int32) []*kgo.Record {
	tb.Helper()
	var out []*kgo.Record
	for _, td := range Requests(tb, spans) {
		for p, part := range splitByPartition(td, partitions) {
			r, err := schema.EncodeRecord("t1", part)
			if err != nil {
				tb.Fatal(err)
			}
			r.Partition = p
			out = append(out, r)
		}
	}
	return out
}

// splitByPartition returns td's spans by partition, each under a copy of
// its resource and scope, in partition order.
func splitByPartition(td ptrace.Traces, partitions int32) map[int32]ptrace.Traces {
	out := make(map[int32]ptrace.Traces)
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			scopes := make(map[int32]ptrace.SpanSlice)
			for _, s := range ss.Spans().All() {
				p := schema.Partition("t1", s.TraceID(), partitions)
				dst, ok := scopes[p]
				if !ok {
					part, ok := out[p]
					if !ok {
						part = ptrace.NewTraces()
						out[p] = part
					}
					nrs := part.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(nrs.Resource())
					nrs.SetSchemaUrl(rs.SchemaUrl())
					nss := nrs.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(nss.Scope())
					nss.SetSchemaUrl(ss.SchemaUrl())
					dst = nss.Spans()
					scopes[p] = dst
				}
				s.CopyTo(dst.AppendEmpty())
			}
		}
	}
	return out
}
