package blockbuilder

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/loadgen/workload"
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
	var out []*kgo.Record
	for _, td := range workload.Requests(tb, spans) {
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
