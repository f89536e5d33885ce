package blockbuilder

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/schema"
)

// loadPartitions is the partitions the load generator's records are
// spread over, as the embedded default's log has.
const loadPartitions = 8

// loadgenRecords returns the records the distributor would write of the
// load generator's requests holding spans spans, as issue 11's workload
// sends them (4 workers, requests of 20 traces of 10 spans over 10
// services, seed 1): each request split by trace into one record per
// partition, keeping its resources and scopes, in the order they arrived.
func loadgenRecords(tb testing.TB, spans int) []*kgo.Record {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	recv := &capture{}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, recv)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	cfg := loadgen.DefaultConfig()
	cfg.Endpoint, cfg.Rate, cfg.Seed = lis.Addr().String(), 0, 1
	cfg.BatchTraces, cfg.SpansPerTrace, cfg.Services = 20, 10, 10
	cfg.Traces = int64(spans / cfg.SpansPerTrace)
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if res.FailedSpans > 0 {
		tb.Fatalf("%d spans not received", res.FailedSpans)
	}
	var out []*kgo.Record
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, td := range recv.requests {
		for p, part := range splitByPartition(td) {
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

// capture is an OTLP receiver that keeps every request.
type capture struct {
	ptraceotlp.UnimplementedGRPCServer
	mu       sync.Mutex
	requests []ptrace.Traces
}

func (c *capture) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	c.mu.Lock()
	c.requests = append(c.requests, td)
	c.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}

// splitByPartition returns td's spans by partition, each under a copy of
// its resource and scope, in partition order.
func splitByPartition(td ptrace.Traces) map[int32]ptrace.Traces {
	out := make(map[int32]ptrace.Traces)
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			scopes := make(map[int32]ptrace.SpanSlice)
			for _, s := range ss.Spans().All() {
				p := schema.Partition("t1", s.TraceID(), loadPartitions)
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
