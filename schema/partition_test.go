package schema

import (
	"encoding/hex"
	"hash/fnv"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// CollectorPartition is where the partitioner an OpenTelemetry
// Collector's kafka exporter builds by default (a sticky-key partitioner
// with the Sarama-compatible hasher over 32-bit FNV-1a) puts a record
// keyed by the trace ID in hex, as partition_traces_by_id keys them; and
// TracePartitions holds it beside the distributor's, once each.
func TestCollectorPartition(t *testing.T) {
	exporter := kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(func(b []byte) uint32 {
		h := fnv.New32a()
		h.Write(b)
		return h.Sum32()
	})).ForTopic("spanlog-traces")
	differ := 0
	for _, n := range []int32{1, 4, 8, 12, 100} {
		for i := range 500 {
			id := pcommon.TraceID{0: byte(i), 1: byte(i >> 8), 9: byte(n), 15: 0x5a}
			want := int32(exporter.Partition(&kgo.Record{Key: []byte(hex.EncodeToString(id[:]))}, int(n)))
			if got := CollectorPartition(id, n); got != want {
				t.Fatalf("trace %s of %d partitions: %d, the exporter's partitioner says %d", id, n, got, want)
			}
			ps := TracePartitions(nil, "team-a", id, n)
			p := Partition("team-a", id, n)
			switch {
			case ps[0] != p || !slices.Contains(ps, want):
				t.Fatalf("trace %s: partitions %v, want %d and %d", id, ps, p, want)
			case p == want && len(ps) != 1, p != want && len(ps) != 2:
				t.Fatalf("trace %s: partitions %v, want each once", id, ps)
			}
			if p != want {
				differ++
			}
		}
	}
	if differ == 0 {
		t.Fatal("the two partitioners always agreed: the test proves nothing")
	}
}
