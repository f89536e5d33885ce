package blockbuilder

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Records another writer (an OpenTelemetry Collector's kafka exporter) put
// in the log, without spanlog's headers, belong to the tenant their
// kafka.foreign-tenant-header names, or to the default tenant; their
// blocks are marked foreign, so that lookups do not expect their traces in
// spanlog's partition. Blocks of spanlog's records are not.
func TestForeignRecordsMakeForeignBlocks(t *testing.T) {
	f := newFixture(t)
	f.kafka.ForeignTenantHeader = "X-Scope-OrgID"
	f.produce("team-s", 0, 2, time.Now())
	for i, headers := range [][]kgo.RecordHeader{{{Key: "x-scope-orgid", Value: []byte("team-a")}}, nil} {
		td := ptrace.NewTraces()
		s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0: 2, 15: byte(i)})
		s.SetSpanID(pcommon.SpanID{0: 2, 7: byte(i)})
		value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		r := &kgo.Record{Topic: f.kafka.Topic, Partition: 1, Key: []byte("any"), Value: value, Headers: headers}
		if err := f.cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	f.start("builders")
	f.waitCommitted("builders")
	metas, _ := f.stored()
	want := map[string]bool{"team-s": false, "team-a": true, "default": true}
	if len(metas) != len(want) {
		t.Fatalf("%d blocks, want one per tenant of %v", len(metas), want)
	}
	for _, m := range metas {
		foreign, ok := want[m.Tenant]
		if !ok || m.Foreign != foreign || m.TotalSpans == 0 {
			t.Errorf("block of tenant %q: foreign %v, %d spans; want a block of one of %v, foreign as said", m.Tenant, m.Foreign, m.TotalSpans, want)
		}
	}
}
