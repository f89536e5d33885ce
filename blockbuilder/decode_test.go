package blockbuilder

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// A tenant block over max-part-bytes is decoded in parts, ranges of trace
// IDs, and is the block decoded whole, byte for byte: spans replayed in
// several records stored once, the first one read winning; records that
// do not decode skipped, and counted once; a record the scan cannot read
// but pdata can, stored; records the direct decode leaves to pdata, stored;
// records of more traces than the plan looks back over, whose spans of a
// trace it sums in several, stored.
func TestBlocksDecodedInPartsAreTheBlocksDecodedWhole(t *testing.T) {
	f := newFixture(t)
	// One cycle: a block per partition and tenant.
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	type produced struct {
		partition int32
		value     []byte
	}
	var replay []produced
	spans := 0
	for i := range 60 {
		td := manyTraces(rng, 6, 5)
		if i%7 == 3 {
			td = manyTraces(rng, 2*traceLookBack, 3)
		}
		if i%10 == 5 {
			// RowDecoder reads no arrays: its range of the record is
			// decoded from a copy, through pdata.
			span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			span.Attributes().PutEmptySlice("tags").AppendEmpty().SetStr("a")
		}
		value := marshal(t, td)
		partition := int32(i % partitions)
		f.produceRaw(partition, base.Add(time.Duration(i)*10*time.Millisecond), value, tenantHeader([]string{"t1", "t2"}[i%2]))
		spans += td.SpanCount()
		if i%14 == 0 {
			replay = append(replay, produced{partition, value})
		}
	}
	for _, r := range replay { // replayed, changed copies lose to the first
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(r.value)
		if err != nil {
			t.Fatal(err)
		}
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName("replayed")
		f.produceRaw(r.partition, base.Add(700*time.Millisecond), marshal(t, td), tenantHeader("t1"))
	}
	// The scan reads the spans of this one, but not the attributes of its
	// last span: it does not decode.
	broken := marshal(t, manyTraces(rng, 2, 1))
	broken = protowire.AppendTag(broken, 1, protowire.BytesType)
	broken = protowire.AppendBytes(broken, spanWithBrokenAttributes())
	f.produceRaw(1, base.Add(800*time.Millisecond), broken, tenantHeader("t1"))
	// Its spans decode, but not its resource that has none.
	broken = marshal(t, manyTraces(rng, 2, 1))
	broken = protowire.AppendTag(broken, 1, protowire.BytesType)
	broken = protowire.AppendBytes(broken, resourceWithBrokenAttributes())
	f.produceRaw(2, base.Add(800*time.Millisecond), broken, tenantHeader("t1"))
	// The scan refuses a group ended by another field's number,
	// which pdata steps over: this one is decoded whole in each part.
	odd := manyTraces(rng, 3, 2)
	spans += odd.SpanCount()
	oddValue := protowire.AppendTag(nil, 50, protowire.StartGroupType)
	oddValue = protowire.AppendTag(oddValue, 51, protowire.EndGroupType)
	oddValue = append(oddValue, marshal(t, odd)...)
	f.produceRaw(2, base.Add(800*time.Millisecond), oddValue, tenantHeader("t1"))

	// The data objects of the blocks, by name.
	objects := func() map[string][]byte {
		t.Helper()
		metas := f.checkEverySpanOnce(spans)
		out := make(map[string][]byte)
		for _, m := range metas {
			name := block.DataName(m.Tenant, m.BlockID)
			data, err := objstore.ReadAll(context.Background(), f.bucket, name)
			if err != nil {
				t.Fatal(err)
			}
			out[name] = data
		}
		return out
	}
	skipped := func() float64 {
		return promtest.Value(t, f.reg, "spanlog_block_builder_records_skipped_total", "reason", "undecodable")
	}
	partsDecoded := func() float64 {
		return promtest.Value(t, f.reg, "spanlog_block_builder_parts_decoded_total")
	}
	stop := f.start("whole")
	f.waitCommitted("whole")
	stop()
	whole := objects()
	if got := partsDecoded(); got != float64(len(whole)) {
		t.Fatalf("%v parts decoded for %d blocks", got, len(whole))
	}
	if got := skipped(); got != 2 {
		t.Fatalf("decoded whole: %v records skipped, want 2", got)
	}

	dir, err := objstore.NewDir(t.TempDir()) // what the first builder wrote is not looked at again
	if err != nil {
		t.Fatal(err)
	}
	f.bucket = &flakyBucket{Bucket: dir}
	stop = f.start("parts", func(c *Config) { c.MaxPartBytes = 1500 })
	f.waitCommitted("parts")
	stop()
	if got := skipped(); got != 2 {
		t.Errorf("decoded in parts: %v records skipped, want 2", got)
	}
	if n := promtest.Value(t, f.reg, "spanlog_block_builder_blocks_unwritable_total"); n != 0 {
		t.Errorf("decoded in parts: %v blocks given up", n)
	}
	parts := objects()
	if got := partsDecoded(); got < 10*float64(len(parts)) {
		t.Fatalf("%v parts decoded for %d blocks; the test wants many a block", got, len(parts))
	}
	if !slices.Equal(slices.Sorted(maps.Keys(parts)), slices.Sorted(maps.Keys(whole))) {
		t.Fatalf("blocks decoded in parts %v, decoded whole %v", slices.Sorted(maps.Keys(parts)), slices.Sorted(maps.Keys(whole)))
	}
	for name, data := range whole {
		if string(parts[name]) != string(data) {
			t.Errorf("%s differs decoded in parts", name)
		}
	}
}

// manyTraces returns traces traces of spans spans each, with random IDs,
// their spans spread over two services.
func manyTraces(rng *rand.Rand, traces, spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	var scopes [2]ptrace.SpanSlice
	for i := range scopes {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", i))
		scopes[i] = rs.ScopeSpans().AppendEmpty().Spans()
	}
	for range traces {
		var id pcommon.TraceID
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
		for i := range spans {
			s := scopes[rng.IntN(2)].AppendEmpty()
			s.SetTraceID(id)
			s.SetSpanID(pcommon.SpanID{0: byte(i), 1: byte(rng.Uint32()), 2: byte(rng.Uint32()), 3: byte(rng.Uint32())})
			s.SetName(fmt.Sprintf("op-%d", rng.IntN(5)))
			s.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + rng.Int64N(1e9)))
			s.SetEndTimestamp(s.StartTimestamp() + 1_000_000)
			s.Attributes().PutStr("http.route", fmt.Sprintf("/api/items/%d", rng.IntN(100)))
			s.Attributes().PutInt("http.response.status_code", 200)
		}
	}
	return td
}

func marshal(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tenantHeader(tenant string) kgo.RecordHeader {
	return kgo.RecordHeader{Key: schema.HeaderTenant, Value: []byte(tenant)}
}

// resourceWithBrokenAttributes returns a ResourceSpans without spans whose
// resource's attribute's value is not protobuf.
func resourceWithBrokenAttributes() []byte {
	msg := func(num protowire.Number, b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
	}
	return msg(1, msg(1, msg(2, []byte{0xff}))) // resource, attributes, value
}

// spanWithBrokenAttributes returns a ResourceSpans holding a span whose
// attribute's value is not protobuf.
func spanWithBrokenAttributes() []byte {
	msg := func(num protowire.Number, b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
	}
	span := append(msg(1, make([]byte, 16)), msg(9, msg(2, []byte{0xff}))...) // trace_id, attributes
	return msg(2, msg(2, span))                                               // scope_spans, spans
}
