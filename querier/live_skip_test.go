package querier

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// Records without spans (an empty value, as kcat -Z writes) and records
// that do not decode are consumed past and not kept: no block of their
// tenant might ever cover them and trim them from the live tail. They are
// counted by reason, and logged once per partition, as the block-builder
// does: a producer writing bad records writes many.
func TestLiveTailSkipsRecordsWithoutSpans(t *testing.T) {
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := startQuerier(t, bkt)
	q.produce(t, querytest.TraceSpans(pcommon.TraceID{1}, 0, 0))
	spans, err := schema.EncodeRecord(querytest.Tenant, querytest.TraceSpans(pcommon.TraceID{2}, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	header := func(k, v string) []kgo.RecordHeader { return []kgo.RecordHeader{{Key: k, Value: []byte(v)}} }
	skipped := []*kgo.Record{
		// Partition 0: empty values, of the default tenant and of one
		// that no block will ever hold.
		{Partition: 0},
		{Partition: 0, Headers: header(schema.HeaderTenant, "no-spans-ever")},
		// Partition 1: bytes that are not OTLP, a format this build
		// does not know, a tenant no tenant can be.
		{Partition: 1, Value: []byte("not an OTLP request")},
		{Partition: 1, Value: spans.Value, Headers: header(schema.HeaderFormat, "2")},
		{Partition: 1, Value: spans.Value, Headers: header(schema.HeaderTenant, "../t1")},
	}
	for _, r := range skipped {
		r.Topic = kafkatest.Topic
	}
	if err := q.producer.ProduceSync(context.Background(), skipped...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tail := q.live.Tail()
	// A loaded machine can cost the querier its group session and its
	// partitions for a moment: wait for them back.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, r := range skipped {
		for {
			err := tail.WaitFor(ctx, r.Partition, r.Offset+1)
			if err == nil {
				break
			}
			if !errors.Is(err, live.ErrNotOwned) || ctx.Err() != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	records, _ := tail.Size()
	if records != 1 {
		t.Errorf("live tail holds %d records, want the one with spans", records)
	}
	for reason, want := range map[string]float64{
		tracelog.SkipNoSpans:       2,
		tracelog.SkipUndecodable:   1,
		tracelog.SkipUnknownFormat: 1,
		tracelog.SkipInvalidTenant: 1,
	} {
		if got := promtest.Value(t, q.reg, "spanlog_querier_live_records_skipped_total", "reason", reason); got != want {
			t.Errorf("records skipped for %s: %v, want %v", reason, got, want)
		}
	}
	if n := strings.Count(q.logs.String(), "skipping record"); n != 2 {
		t.Errorf("%d lines about skipped records, want one per partition (2):\n%s", n, q.logs)
	}
}
