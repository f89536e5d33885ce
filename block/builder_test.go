package block_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var testRanges = []schema.OffsetRange{{Partition: 3, Start: 100, End: 250}}

// smallOptions make small row groups and pages, so that tests cross their
// boundaries with few spans.
func smallOptions() block.Options {
	return block.Options{RowsPerRowGroup: 300, PageBufferSizeBytes: 2 << 10}
}

func TestWriteMeta(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(1, 2)), 200)
	bkt := newDir(t)
	b := block.NewBuilder("tenant-a", smallOptions())
	b.Add(td)
	if b.Spans() != td.SpanCount() {
		t.Fatalf("builder holds %d spans, want %d", b.Spans(), td.SpanCount())
	}
	before := time.Now()
	meta, err := b.Write(ctx, bkt, testRanges)
	if err != nil {
		t.Fatal(err)
	}

	minStart, maxEnd := uint64(1<<64-1), uint64(0)
	var traceIDs []string
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				minStart = min(minStart, uint64(span.StartTimestamp()))
				maxEnd = max(maxEnd, uint64(span.EndTimestamp()))
				id := span.TraceID()
				traceIDs = append(traceIDs, hex.EncodeToString(id[:]))
			}
		}
	}
	slices.Sort(traceIDs)
	traceIDs = slices.Compact(traceIDs)

	want := schema.BlockMeta{
		Format:      schema.BlockFormatV3,
		BlockID:     schema.BlockID("tenant-a", testRanges),
		Tenant:      "tenant-a",
		MinStart:    time.Unix(0, int64(minStart)).UTC(),
		MaxEnd:      time.Unix(0, int64(maxEnd)).UTC(),
		TotalSpans:  int64(td.SpanCount()),
		TotalTraces: 200,
		MinTraceID:  traceIDs[0],
		MaxTraceID:  traceIDs[len(traceIDs)-1],
		KafkaRanges: testRanges,
	}
	got := *meta
	if got.Created.Before(before.Add(-time.Second)) || got.Created.After(time.Now()) {
		t.Errorf("created %v, want about now", got.Created)
	}
	data, err := objstore.ReadAll(ctx, bkt, block.DataName("tenant-a", meta.BlockID))
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != int64(len(data)) {
		t.Errorf("size %d, data object has %d bytes", got.Size, len(data))
	}
	if want := fmt.Sprintf("%08x", crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))); got.DataCRC32C != want {
		t.Errorf("data CRC-32C %q, data object has %q", got.DataCRC32C, want)
	}
	got.Created, got.Size, got.DataCRC32C = time.Time{}, 0, ""
	if !metaEqual(got, want) {
		t.Errorf("got meta %+v\nwant %+v", got, want)
	}

	read, err := block.ReadMeta(ctx, bkt, "tenant-a", meta.BlockID)
	if err != nil {
		t.Fatal(err)
	}
	if !metaEqual(*read, *meta) {
		t.Errorf("read meta %+v\nwrote %+v", read, meta)
	}
}

// TestWriteMetaTimeRangeSurvivesBadTimes writes spans whose times no
// distributor would accept, as another producer of the log could: the
// block's range must still hold every span, not wrap to 1677 and hide the
// block from searches.
func TestWriteMetaTimeRangeSurvivesBadTimes(t *testing.T) {
	const maxNanos = 1<<63 - 1
	good := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		start, end uint64
		min, max   time.Time
	}{
		{"end at 2^63", uint64(good.UnixNano()), 1 << 63, good, time.Unix(0, maxNanos).UTC()},
		{"end at 2^64-1", uint64(good.UnixNano()), 1<<64 - 1, good, time.Unix(0, maxNanos).UTC()},
		{"start and end past 2^63", 1<<63 + 5, 1<<63 + 10, good, time.Unix(0, maxNanos).UTC()},
		{"end before start", uint64(good.UnixNano()), uint64(good.Add(-time.Hour).UnixNano()), good.Add(-time.Hour), good.Add(time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
			for i, times := range [][2]uint64{
				{uint64(good.UnixNano()), uint64(good.Add(time.Second).UnixNano())},
				{tc.start, tc.end},
			} {
				s := spans.AppendEmpty()
				s.SetTraceID(pcommon.TraceID{byte(i + 1)})
				s.SetSpanID(pcommon.SpanID{1})
				s.SetStartTimestamp(pcommon.Timestamp(times[0]))
				s.SetEndTimestamp(pcommon.Timestamp(times[1]))
			}
			b := block.NewBuilder("t", smallOptions())
			b.Add(td)
			meta, err := b.Write(context.Background(), newDir(t), testRanges)
			if err != nil {
				t.Fatal(err)
			}
			if !meta.MinStart.Equal(tc.min) || !meta.MaxEnd.Equal(tc.max) {
				t.Errorf("block range [%v, %v], want [%v, %v]", meta.MinStart, meta.MaxEnd, tc.min, tc.max)
			}
		})
	}
}

func metaEqual(a, b schema.BlockMeta) bool {
	ja, _ := schema.MarshalMeta(&a)
	jb, _ := schema.MarshalMeta(&b)
	return bytes.Equal(ja, jb)
}

func TestWriteIsDeterministic(t *testing.T) {
	// Replaying the same offsets must rebuild the same block, byte for
	// byte, under the same name.
	ctx := context.Background()
	var metas []*schema.BlockMeta
	var data [][]byte
	for range 2 {
		bkt := newDir(t)
		b := block.NewBuilder("t", smallOptions())
		b.Add(genTraces(rand.New(rand.NewPCG(3, 4)), 50))
		meta, err := b.Write(ctx, bkt, testRanges)
		if err != nil {
			t.Fatal(err)
		}
		d, err := objstore.ReadAll(ctx, bkt, block.DataName("t", meta.BlockID))
		if err != nil {
			t.Fatal(err)
		}
		metas, data = append(metas, meta), append(data, d)
	}
	if metas[0].BlockID != metas[1].BlockID {
		t.Errorf("block IDs %s and %s differ", metas[0].BlockID, metas[1].BlockID)
	}
	if !bytes.Equal(data[0], data[1]) {
		t.Error("data objects differ")
	}
}

func TestWriteDedupes(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(5, 6)), 20)
	// A later copy of the first span that differs: the first added wins.
	later := ptrace.NewTraces()
	td.ResourceSpans().At(0).CopyTo(later.ResourceSpans().AppendEmpty())
	first := later.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	first.SetName("changed")
	traceID := first.TraceID()

	bkt := newDir(t)
	b := block.NewBuilder("t", smallOptions())
	b.Add(td)
	b.Add(td) // a replayed record
	b.Add(later)
	meta, err := b.Write(ctx, bkt, testRanges)
	if err != nil {
		t.Fatal(err)
	}
	if meta.TotalSpans != int64(td.SpanCount()) {
		t.Errorf("block has %d spans, want %d", meta.TotalSpans, td.SpanCount())
	}

	r, err := block.Open(ctx, bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, ok, err := blocktest.FindTrace(ctx, r, traceID)
	if err != nil || !ok {
		t.Fatalf("FindTrace: found %v, error %v", ok, err)
	}
	want := spansByTrace(t, td)[traceID]
	if gotSpans := spansByTrace(t, got)[traceID]; !slices.Equal(gotSpans, want) {
		t.Errorf("got %d spans:\n%v\nwant %d:\n%v", len(gotSpans), gotSpans, len(want), want)
	}
}

func TestWriteUploadsMetaLast(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(7, 8)), 5)
	id := schema.BlockID("t", testRanges)

	bkt := &recordingBucket{Bucket: newDir(t)}
	b := block.NewBuilder("t", block.DefaultOptions())
	b.Add(td)
	if _, err := b.Write(ctx, bkt, testRanges); err != nil {
		t.Fatal(err)
	}
	if want := []string{block.DataName("t", id), block.MetaName("t", id)}; !slices.Equal(bkt.uploaded, want) {
		t.Errorf("uploaded %v, want %v", bkt.uploaded, want)
	}

	// A failed data upload must not make the block visible.
	failing := &recordingBucket{Bucket: newDir(t), failName: block.DataName("t", id)}
	if _, err := b.Write(ctx, failing, testRanges); err == nil {
		t.Fatal("Write succeeded despite a failed upload")
	}
	if len(failing.uploaded) != 0 {
		t.Errorf("uploaded %v after a failed data upload", failing.uploaded)
	}
	// and the Builder can try again.
	failing.failName = ""
	if _, err := b.Write(ctx, failing, testRanges); err != nil {
		t.Fatal(err)
	}
	if _, err := block.ReadMeta(ctx, failing, "t", id); err != nil {
		t.Fatal(err)
	}
}

func TestWriteErrors(t *testing.T) {
	ctx := context.Background()
	bkt := newDir(t)
	if _, err := block.NewBuilder("t", block.DefaultOptions()).Write(ctx, bkt, testRanges); !errors.Is(err, block.ErrEmpty) {
		t.Errorf("empty builder: got error %v, want %v", err, block.ErrEmpty)
	}
	td := genTraces(rand.New(rand.NewPCG(9, 10)), 1)
	for _, tenant := range []string{"", ".", "..", "a/b"} {
		b := block.NewBuilder(tenant, block.DefaultOptions())
		b.Add(td)
		if _, err := b.Write(ctx, bkt, testRanges); err == nil {
			t.Errorf("tenant %q: Write succeeded", tenant)
		}
	}
	for name, opts := range map[string]block.Options{
		"negative rows per row group": {RowsPerRowGroup: -1},
		"unknown compression level":   {CompressionLevel: "fast"},
	} {
		b := block.NewBuilder("t", opts)
		b.Add(td)
		if _, err := b.Write(ctx, bkt, testRanges); err == nil {
			t.Errorf("%s: Write succeeded", name)
		}
	}
}

func TestReadMetaMissing(t *testing.T) {
	_, err := block.ReadMeta(context.Background(), newDir(t), "t", uuid.New())
	if !objstore.IsNotExist(err) {
		t.Fatalf("got error %v, want one satisfying IsNotExist", err)
	}
}

func TestEmptyTraceIDsAndSpanIDs(t *testing.T) {
	// Spans without IDs are invalid OTLP but can reach the log; they must
	// not break a block.
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	ss.Spans().AppendEmpty().SetName("a")
	ss.Spans().AppendEmpty().SetName("b") // a duplicate of a by ID
	b := block.NewBuilder("t", block.DefaultOptions())
	b.Add(td)
	bkt := newDir(t)
	meta, err := b.Write(context.Background(), bkt, testRanges)
	if err != nil {
		t.Fatal(err)
	}
	r, err := block.Open(context.Background(), bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, ok, err := blocktest.FindTrace(context.Background(), r, pcommon.TraceID{})
	if err != nil || !ok || got.SpanCount() != 1 {
		t.Fatalf("got %d spans, found %v, error %v; want 1 span", got.SpanCount(), ok, err)
	}
}

func TestZeroOptionsMeanDefaults(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(23, 24)), 30)
	var data [][]byte
	for _, opts := range []block.Options{{}, block.DefaultOptions()} {
		bkt := newDir(t)
		b := block.NewBuilder("t", opts)
		b.Add(td)
		meta, err := b.Write(ctx, bkt, testRanges)
		if err != nil {
			t.Fatal(err)
		}
		d, err := objstore.ReadAll(ctx, bkt, block.DataName("t", meta.BlockID))
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, d)
	}
	if !bytes.Equal(data[0], data[1]) {
		t.Error("zero options write another block than the defaults")
	}
}

// A block built in parts, ranges of trace IDs in order, is the block built
// in one: the same file, byte for byte, duplicates across records dropped
// the same way.
func TestWriteInPartsWritesTheSameBlock(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(25, 26)), 300)
	later := ptrace.NewTraces() // a replayed, changed copy: the first added wins
	td.ResourceSpans().At(0).CopyTo(later.ResourceSpans().AppendEmpty())
	later.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName("changed")
	records := []ptrace.Traces{td, later, td}

	ids := slices.Collect(maps.Keys(spansByTrace(t, td)))
	slices.SortFunc(ids, func(a, b pcommon.TraceID) int { return bytes.Compare(a[:], b[:]) })
	write := func(parts int) []byte {
		t.Helper()
		b := block.NewBuilder("t", smallOptions())
		for p := range parts {
			lo, hi := ids[p*len(ids)/parts], ids[(p+1)*len(ids)/parts-1]
			for _, rec := range records {
				b.Add(tracesIn(rec, lo, hi))
			}
			if err := b.EndPart(); err != nil {
				t.Fatal(err)
			}
		}
		bkt := newDir(t)
		meta, err := b.Write(ctx, bkt, testRanges)
		if err != nil {
			t.Fatal(err)
		}
		if meta.TotalSpans != int64(td.SpanCount()) {
			t.Fatalf("%d parts: %d spans, want %d", parts, meta.TotalSpans, td.SpanCount())
		}
		data, err := objstore.ReadAll(ctx, bkt, block.DataName("t", meta.BlockID))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	whole := write(1)
	for _, parts := range []int{2, 7, len(ids)} {
		if !bytes.Equal(write(parts), whole) {
			t.Errorf("the block written in %d parts differs from the one written whole", parts)
		}
	}
}

func TestEndPartRefusesPartsOutOfOrder(t *testing.T) {
	td := genTraces(rand.New(rand.NewPCG(27, 28)), 2)
	ids := slices.Collect(maps.Keys(spansByTrace(t, td)))
	slices.SortFunc(ids, func(a, b pcommon.TraceID) int { return bytes.Compare(a[:], b[:]) })
	b := block.NewBuilder("t", block.DefaultOptions())
	b.Add(tracesIn(td, ids[1], ids[1]))
	if err := b.EndPart(); err != nil {
		t.Fatal(err)
	}
	b.Add(tracesIn(td, ids[0], ids[0]))
	if err := b.EndPart(); !errors.Is(err, block.ErrPartOrder) {
		t.Fatalf("EndPart of a lower trace ID: error %v, want %v", err, block.ErrPartOrder)
	}
	if _, err := b.Write(context.Background(), newDir(t), testRanges); !errors.Is(err, block.ErrPartOrder) {
		t.Fatalf("Write after a part out of order: error %v, want %v", err, block.ErrPartOrder)
	}
}

// tracesIn returns a copy of td's spans whose trace ID is in [lo, hi].
func tracesIn(td ptrace.Traces, lo, hi pcommon.TraceID) ptrace.Traces {
	out := ptrace.NewTraces()
	td.CopyTo(out)
	for _, rs := range out.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				id := s.TraceID()
				return bytes.Compare(id[:], lo[:]) < 0 || bytes.Compare(id[:], hi[:]) > 0
			})
		}
	}
	return out
}
