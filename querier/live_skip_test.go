package querier

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// A record without spans (an empty value, as kcat -Z writes) is consumed
// past, like one that does not decode, and not kept: no block of its
// tenant might ever cover it and trim it from the live tail.
func TestLiveTailSkipsRecordsWithoutSpans(t *testing.T) {
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := startQuerier(t, bkt)
	partition, _ := q.produce(t, traceSpans(pcommon.TraceID{1}, 0, 0))
	empty := &kgo.Record{Topic: kafkatest.Topic, Partition: partition,
		Headers: []kgo.RecordHeader{{Key: schema.HeaderTenant, Value: []byte("no-spans-ever")}}}
	if err := q.producer.ProduceSync(context.Background(), empty).FirstErr(); err != nil {
		t.Fatal(err)
	}
	live := q.live.Load()
	if err := live.WaitFor(t.Context(), partition, empty.Offset+1); err != nil {
		t.Fatal(err)
	}
	live.mu.Lock()
	defer live.mu.Unlock()
	if live.records != 1 {
		t.Errorf("live tail holds %d records, want the one with spans", live.records)
	}
}
