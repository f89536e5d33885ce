package querier

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/schema"
)

// collectorPartitioned returns n trace IDs that an OpenTelemetry
// Collector's kafka exporter with partition_traces_by_id puts in another
// partition than the distributor would, each with that partition. The
// exporter keys a record with the trace ID in hex and hashes keys with
// franz-go's Sarama-compatible hasher over 32-bit FNV-1a, its default.
func collectorPartitioned(t *testing.T, n int, partitions int32) map[pcommon.TraceID]int32 {
	t.Helper()
	hasher := kgo.SaramaCompatHasher(func(key []byte) uint32 {
		h := fnv.New32a()
		h.Write(key)
		return h.Sum32()
	})
	out := make(map[pcommon.TraceID]int32)
	for i := 1; len(out) < n; i++ {
		id := pcommon.TraceID{0: byte(i), 1: byte(i >> 8), 15: 0xc0}
		p := int32(hasher([]byte(hex.EncodeToString(id[:])), int(partitions)))
		if p != schema.Partition(querytest.Tenant, id, partitions) {
			out[id] = p
		}
	}
	return out
}

// TestFindsTracesACollectorPartitioned: records an OpenTelemetry
// Collector's kafka exporter wrote, without spanlog's headers and in the
// partition of the exporter's hash, are the default tenant's, and each of
// their traces is found by ID at once (read your writes), whichever
// querier is asked and whichever owns the partition; and once in a block
// of foreign records, of whatever partition.
func TestFindsTracesACollectorPartitioned(t *testing.T) {
	bkt := newTestBucket(t)
	qs := startQueriers(t, bkt, 2)
	n := qs[0].partitions
	live := collectorPartitioned(t, 8, n)
	for id, p := range live {
		value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(querytest.TraceSpans(id, 0, 0, 1, 2))
		if err != nil {
			t.Fatal(err)
		}
		rec := &kgo.Record{Topic: kafkatest.Topic, Partition: p, Key: []byte(hex.EncodeToString(id[:])), Value: value}
		if err := qs[0].producer.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for id := range live {
		for i, q := range qs {
			checkFound(t, q, id, fmt.Sprintf("live tail, querier %d", i))
		}
	}

	// Blocks of foreign records, as a builder cuts them, beyond every
	// offset produced above, so that they trim nothing the live tail
	// needs: found whatever their partition, even one that neither
	// partitioner chose (an exporter without partition_traces_by_id).
	inBlocks := collectorPartitioned(t, 12, n)
	offset := int64(1000)
	for id := range inBlocks {
		if _, ok := live[id]; ok {
			continue
		}
		p := int32(0)
		for slices.Contains(schema.TracePartitions(nil, querytest.Tenant, id, n), p) {
			p++
		}
		b := block.NewBuilder(querytest.Tenant, block.DefaultOptions())
		b.Add(querytest.TraceSpans(id, 0, 0, 1, 2))
		b.MarkForeign()
		offset++
		if _, err := b.Write(context.Background(), bkt, []schema.OffsetRange{{Partition: p, Start: offset, End: offset + 1}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range qs {
		if err := q.blocklist.Poll(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	for id := range inBlocks {
		if _, ok := live[id]; !ok {
			checkFound(t, qs[1], id, "blocks")
		}
	}
}

func checkFound(t *testing.T, q *runningQuerier, id pcommon.TraceID, where string) {
	t.Helper()
	res, found, err := q.FindTrace(context.Background(), []string{querytest.Tenant}, id, TimeRange{})
	if err != nil || !found {
		t.Fatalf("%s: trace %s: found %v, err %v", where, id, found, err)
	}
	if got, want := querytest.SpanSet(res.Trace), querytest.SpanSet(querytest.TraceSpans(id, 0, 0, 1, 2)); !slices.Equal(got, want) {
		t.Errorf("%s: trace %s: spans %v, want %v", where, id, got, want)
	}
	if res.Partial.IsPartial() {
		t.Errorf("%s: trace %s: partial answer %+v", where, id, res.Partial)
	}
}
