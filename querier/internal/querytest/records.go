package querytest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/schema"
)

// Record returns td, all of one trace of Tenant, as the distributor would
// write it to a log of partitions partitions.
func Record(t testing.TB, td ptrace.Traces, partitions int32) *kgo.Record {
	t.Helper()
	rec, err := schema.EncodeRecord(Tenant, td)
	if err != nil {
		t.Fatal(err)
	}
	id := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
	rec.Topic, rec.Partition = kafkatest.Topic, schema.Partition(Tenant, id, partitions)
	return rec
}
