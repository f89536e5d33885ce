package block_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/internal/spantest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// writeInput writes td as a block-builder's block of tenant "t" built from
// ranges.
func writeInput(t testing.TB, bkt objstore.Bucket, td ptrace.Traces, ranges ...schema.OffsetRange) *schema.BlockMeta {
	t.Helper()
	b := block.NewBuilder("t", smallOptions())
	b.Add(td)
	meta, err := b.Write(context.Background(), bkt, ranges)
	if err != nil {
		t.Fatal(err)
	}
	return meta
}

// partRange is the range [start, end) of partition 3.
func partRange(start, end int64) schema.OffsetRange {
	return schema.OffsetRange{Partition: 3, Start: start, End: end}
}

// scatter deals td's spans out to n Traces at random, each span to one of
// them or, one time in four, to two: traces end up split across them, and
// some spans in two, as after a replay.
func scatter(rng *rand.Rand, td ptrace.Traces, n int) []ptrace.Traces {
	out := make([]ptrace.Traces, n)
	for i := range out {
		out[i] = ptrace.NewTraces()
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				targets := []int{rng.IntN(n)}
				if rng.IntN(4) == 0 {
					targets = append(targets, (targets[0]+1+rng.IntN(n-1))%n)
				}
				for _, k := range targets {
					copySpan(out[k], rs, ss, span)
				}
			}
		}
	}
	return out
}

// blockSpans returns every span of the block meta describes, one string
// per row, sorted: a span stored twice appears twice.
func blockSpans(t testing.TB, bkt objstore.Bucket, meta *schema.BlockMeta) []string {
	t.Helper()
	ctx := context.Background()
	r, err := block.Open(ctx, bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rows []schema.SpanRow
	if err := r.Iterate(ctx, func(row *schema.SpanRow) error {
		rows = append(rows, *row)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(rows, func(a, b schema.SpanRow) int { return schema.CompareRows(&a, &b) }) {
		t.Error("rows not in block order")
	}
	td, err := schema.TracesFromRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	return spantest.All(t, td)
}

func TestCompactHoldsEachSpanOnce(t *testing.T) {
	for name, newBucket := range miniotest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			bkt := newBucket(t)
			rng := rand.New(rand.NewPCG(31, 32))
			td := genTraces(rng, 150)
			parts := scatter(rng, td, 4)
			inputs := []*schema.BlockMeta{
				writeInput(t, bkt, parts[0], partRange(0, 100)),
				writeInput(t, bkt, parts[1], partRange(100, 200)),
				writeInput(t, bkt, parts[2], partRange(200, 300)),
				// A replay's block, over the others' offsets.
				writeInput(t, bkt, parts[3], partRange(50, 250)),
			}
			meta, err := block.Compact(ctx, bkt, inputs, smallOptions())
			if err != nil {
				t.Fatal(err)
			}

			want := spantest.All(t, td)
			if got := blockSpans(t, bkt, meta); !slices.Equal(got, want) {
				t.Fatalf("compacted block holds %d spans, want the %d of the inputs once each", len(got), len(want))
			}
			ranges := []schema.OffsetRange{partRange(0, 300)}
			var ids []string
			minStart, maxEnd := inputs[0].MinStart, inputs[0].MaxEnd
			for _, in := range inputs {
				ids = append(ids, in.MinTraceID, in.MaxTraceID)
				if in.MinStart.Before(minStart) {
					minStart = in.MinStart
				}
				if in.MaxEnd.After(maxEnd) {
					maxEnd = in.MaxEnd
				}
			}
			slices.Sort(ids)
			wantMeta := schema.BlockMeta{
				Format: schema.BlockFormatV3, BlockID: schema.BlockID("t", ranges), Tenant: "t",
				MinStart: minStart, MaxEnd: maxEnd,
				TotalSpans: int64(td.SpanCount()), TotalTraces: 150,
				MinTraceID: ids[0], MaxTraceID: ids[len(ids)-1],
				KafkaRanges: ranges, CompactionLevel: 1,
			}
			data, err := objstore.ReadAll(ctx, bkt, block.DataName("t", meta.BlockID))
			if err != nil {
				t.Fatal(err)
			}
			if meta.Size != int64(len(data)) {
				t.Errorf("size %d, data object has %d bytes", meta.Size, len(data))
			}
			if want := fmt.Sprintf("%08x", crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))); meta.DataCRC32C != want {
				t.Errorf("data CRC-32C %q, data object has %q", meta.DataCRC32C, want)
			}
			got := *meta
			got.Created, got.Size, got.DataCRC32C = wantMeta.Created, 0, ""
			if !metaEqual(got, wantMeta) {
				t.Errorf("got meta %+v\nwant %+v", got, wantMeta)
			}
			read, err := block.ReadMeta(ctx, bkt, "t", meta.BlockID)
			if err != nil {
				t.Fatal(err)
			}
			if !metaEqual(*read, *meta) {
				t.Errorf("read meta %+v\nwrote %+v", read, meta)
			}
			for _, in := range inputs {
				if !meta.Supersedes(in) {
					t.Errorf("compacted block does not supersede input %v", in.KafkaRanges)
				}
			}
		})
	}
}

// TestCompactRoundTripsEveryField compacts blocks holding every field OTLP
// has, split between them and partly in both, and reads back exactly what
// was written.
func TestCompactRoundTripsEveryField(t *testing.T) {
	ctx := context.Background()
	bkt := newDir(t)
	td := spantest.Full()
	parts := scatter(rand.New(rand.NewPCG(33, 34)), td, 2)
	meta, err := block.Compact(ctx, bkt, []*schema.BlockMeta{
		writeInput(t, bkt, parts[0], partRange(0, 10)),
		writeInput(t, bkt, parts[1], partRange(10, 20)),
	}, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := blockSpans(t, bkt, meta), spantest.All(t, td); !slices.Equal(got, want) {
		t.Fatalf("got spans\n%v\nwant\n%v", got, want)
	}
}

// TestCompactedBlockKeepsLookupStructures checks that the merged block is
// laid out as a builder's: row groups and pages within the options, bloom
// filters, page index and sorting columns, and lookups that use them.
func TestCompactedBlockKeepsLookupStructures(t *testing.T) {
	ctx := context.Background()
	bkt := &countingBucket{Bucket: newDir(t)}
	rng := rand.New(rand.NewPCG(35, 36))
	td := genTraces(rng, 250)
	var inputs []*schema.BlockMeta
	for i, part := range scatter(rng, td, 5) {
		inputs = append(inputs, writeInput(t, bkt, part, partRange(int64(i)*10, int64(i+1)*10)))
	}
	opts := smallOptions()
	meta, err := block.Compact(ctx, bkt, inputs, opts)
	if err != nil {
		t.Fatal(err)
	}

	_, f := openData(t, bkt, meta)
	col, _ := f.Schema().Lookup(schema.ColumnTraceID)
	groups := f.RowGroups()
	if want := (meta.TotalSpans + opts.RowsPerRowGroup - 1) / opts.RowsPerRowGroup; int64(len(groups)) != want {
		t.Errorf("%d row groups of %d spans, want %d of at most %d", len(groups), meta.TotalSpans, want, opts.RowsPerRowGroup)
	}
	for g, rg := range groups {
		chunk := rg.ColumnChunks()[col.ColumnIndex]
		if bf := chunk.BloomFilter(); bf == nil {
			t.Errorf("row group %d: no trace ID bloom filter", g)
		}
		if _, err := chunk.ColumnIndex(); err != nil {
			t.Errorf("row group %d: no column index: %v", g, err)
		}
		oi, err := chunk.OffsetIndex()
		if err != nil {
			t.Fatalf("row group %d: no offset index: %v", g, err)
		}
		if g < len(groups)-1 && oi.NumPages() < 2 {
			t.Errorf("row group %d: %d trace ID pages; small pages should make several", g, oi.NumPages())
		}
		if sc := rg.SortingColumns(); len(sc) != 3 || sc[0].Path()[0] != "trace_id" {
			t.Errorf("row group %d: sorting columns %v", g, sc)
		}
	}

	r, err := block.Open(ctx, bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.SplitTraces()) == 0 {
		t.Log("no trace straddles a row group boundary")
	}
	want := spansByTrace(t, td)
	for id, spans := range want {
		bkt.bytes.Store(0)
		got, ok, err := blocktest.FindTrace(ctx, r, id)
		if err != nil || !ok {
			t.Fatalf("trace %s: found %v, error %v", id, ok, err)
		}
		if gotSpans := spansByTrace(t, got)[id]; !slices.Equal(gotSpans, spans) {
			t.Fatalf("trace %s: got %d spans, want %d", id, len(gotSpans), len(spans))
		}
		// The page index narrows a lookup to a few pages.
		if read := bkt.bytes.Load(); read > meta.Size/4 {
			t.Fatalf("trace %s: lookup read %d bytes of a %d-byte block", id, read, meta.Size)
		}
	}
	// Absent traces are ruled out by the bloom filters, pinned at Open.
	bkt.reads.Store(0)
	for range 100 {
		var id pcommon.TraceID
		fillRandom(rng, id[:])
		if _, ok, err := blocktest.FindTrace(ctx, r, id); err != nil || ok {
			t.Fatalf("absent trace: found %v, error %v", ok, err)
		}
	}
	if reads := bkt.reads.Load(); reads > 10 {
		t.Errorf("100 absent-trace lookups made %d reads", reads)
	}
}

// TestCompactIsDeterministic compacts the same inputs twice, given in
// other orders, as a compactor that crashed and another that took its job
// over would: the same block ID, and the same data byte for byte.
func TestCompactIsDeterministic(t *testing.T) {
	ctx := context.Background()
	bkt := newDir(t)
	rng := rand.New(rand.NewPCG(37, 38))
	td := genTraces(rng, 100)
	var inputs []*schema.BlockMeta
	for i, part := range scatter(rng, td, 3) {
		inputs = append(inputs, writeInput(t, bkt, part, partRange(int64(i)*10, int64(i+1)*10)))
	}
	var (
		ids  []string
		data [][]byte
	)
	for _, order := range [][]int{{0, 1, 2}, {2, 0, 1}} {
		var in []*schema.BlockMeta
		for _, i := range order {
			in = append(in, inputs[i])
		}
		meta, err := block.Compact(ctx, bkt, in, smallOptions())
		if err != nil {
			t.Fatal(err)
		}
		d, err := objstore.ReadAll(ctx, bkt, block.DataName("t", meta.BlockID))
		if err != nil {
			t.Fatal(err)
		}
		ids, data = append(ids, meta.BlockID.String()), append(data, d)
	}
	if want := schema.BlockID("t", []schema.OffsetRange{partRange(0, 30)}).String(); ids[0] != want || ids[1] != want {
		t.Errorf("block IDs %v, want %s", ids, want)
	}
	if !bytes.Equal(data[0], data[1]) {
		t.Error("data objects differ")
	}
}

// TestCompactKeepsTheFirstCopy gives two inputs differing copies of a
// span: the one that sorts first is kept, whichever input is given first.
func TestCompactKeepsTheFirstCopy(t *testing.T) {
	ctx := context.Background()
	bkt := newDir(t)
	td := genTraces(rand.New(rand.NewPCG(39, 40)), 3)
	later := ptrace.NewTraces()
	td.CopyTo(later)
	changed := later.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	changed.SetName("changed")
	a := writeInput(t, bkt, td, partRange(0, 10))
	b := writeInput(t, bkt, later, partRange(10, 20))
	for _, inputs := range [][]*schema.BlockMeta{{a, b}, {b, a}} {
		meta, err := block.Compact(ctx, bkt, inputs, smallOptions())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := blockSpans(t, bkt, meta), spantest.All(t, td); !slices.Equal(got, want) {
			t.Fatal("the copy of the later input was kept")
		}
	}
}

// cancellingBucket cancels a context at the cancelAt-th read of row
// group data: in the middle of a merge, when part of the merged block is
// uploaded already.
type cancellingBucket struct {
	objstore.Bucket
	cancel   context.CancelFunc
	cancelAt int64
	reads    atomic.Int64
}

func (b *cancellingBucket) Open(ctx context.Context, name string) (objstore.ReaderAt, error) {
	r, err := b.Bucket.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return &cancellingReaderAt{ReaderAt: r, b: b}, nil
}

type cancellingReaderAt struct {
	objstore.ReaderAt
	b *cancellingBucket
}

func (r *cancellingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	// Open reads the 4-byte magic and the footer, at the end: what is
	// left is row groups.
	if len(p) > 4 && off+int64(len(p)) < r.Size() && r.b.reads.Add(1) == r.b.cancelAt {
		r.b.cancel()
	}
	return r.ReaderAt.ReadAt(p, off)
}

// TestCancelledCompactionLeavesNoMeta cancels a compaction in the middle
// of its merge: no block appears, and one done again completes.
func TestCancelledCompactionLeavesNoMeta(t *testing.T) {
	for name, newBucket := range miniotest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			stored := newBucket(t)
			rng := rand.New(rand.NewPCG(41, 42))
			td := genTraces(rng, 120)
			var inputs []*schema.BlockMeta
			for i, part := range scatter(rng, td, 3) {
				inputs = append(inputs, writeInput(t, stored, part, partRange(int64(i)*10, int64(i+1)*10)))
			}
			ctx, cancel := context.WithCancel(context.Background())
			bkt := &cancellingBucket{Bucket: stored, cancel: cancel, cancelAt: 5}
			_, err := block.Compact(ctx, bkt, inputs, smallOptions())
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got error %v, want one of cancellation", err)
			}
			if bkt.reads.Load() < bkt.cancelAt {
				t.Fatalf("cancelled before the merge began")
			}
			id := schema.BlockID("t", []schema.OffsetRange{partRange(0, 30)})
			if _, err := block.ReadMeta(context.Background(), stored, "t", id); !objstore.IsNotExist(err) {
				t.Fatalf("meta after a cancelled compaction: error %v, want not found", err)
			}
			meta, err := block.Compact(context.Background(), stored, inputs, smallOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := blockSpans(t, stored, meta), spantest.All(t, td); !slices.Equal(got, want) {
				t.Fatalf("compaction done again holds %d spans, want %d", len(got), len(want))
			}
		})
	}
}

// failingUploadBucket fails the upload of the data object after reading
// some of it, as a connection lost midway would.
type failingUploadBucket struct {
	objstore.Bucket
}

func (b *failingUploadBucket) Upload(ctx context.Context, name string, r io.Reader) error {
	if _, err := io.CopyN(io.Discard, r, 100); err != nil {
		return err
	}
	return errors.New("injected upload failure")
}

func TestFailedUploadLeavesNoMeta(t *testing.T) {
	ctx := context.Background()
	stored := newDir(t)
	td := genTraces(rand.New(rand.NewPCG(43, 44)), 50)
	parts := scatter(rand.New(rand.NewPCG(45, 46)), td, 2)
	inputs := []*schema.BlockMeta{
		writeInput(t, stored, parts[0], partRange(0, 10)),
		writeInput(t, stored, parts[1], partRange(10, 20)),
	}
	if _, err := block.Compact(ctx, &failingUploadBucket{stored}, inputs, smallOptions()); err == nil {
		t.Fatal("Compact succeeded despite a failed upload")
	}
	id := schema.BlockID("t", []schema.OffsetRange{partRange(0, 20)})
	if _, err := block.ReadMeta(ctx, stored, "t", id); !objstore.IsNotExist(err) {
		t.Fatalf("meta after a failed upload: error %v, want not found", err)
	}
}

// TestCompactedBlocksCompactAgain merges two compacted blocks and a
// builder's block: level 2, with every span once and every range.
func TestCompactedBlocksCompactAgain(t *testing.T) {
	ctx := context.Background()
	bkt := newDir(t)
	rng := rand.New(rand.NewPCG(47, 48))
	td := genTraces(rng, 150)
	parts := scatter(rng, td, 5)
	var level0 []*schema.BlockMeta
	for i, part := range parts {
		level0 = append(level0, writeInput(t, bkt, part, partRange(int64(i)*10, int64(i+1)*10)))
	}
	x, err := block.Compact(ctx, bkt, level0[:2], smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	y, err := block.Compact(ctx, bkt, level0[2:4], smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	z, err := block.Compact(ctx, bkt, []*schema.BlockMeta{x, y, level0[4]}, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	if z.CompactionLevel != 2 {
		t.Errorf("level %d, want 2", z.CompactionLevel)
	}
	if want := []schema.OffsetRange{partRange(0, 50)}; !slices.Equal(z.KafkaRanges, want) {
		t.Errorf("ranges %v, want %v", z.KafkaRanges, want)
	}
	if got, want := blockSpans(t, bkt, z), spantest.All(t, td); !slices.Equal(got, want) {
		t.Fatalf("level 2 block holds %d spans, want %d", len(got), len(want))
	}
	// All at once, the same offsets make the same block.
	all, err := block.Compact(ctx, bkt, level0, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	if all.BlockID != z.BlockID {
		t.Errorf("one merge of every input is block %s, two levels of merges %s", all.BlockID, z.BlockID)
	}
	for _, in := range append(level0, x, y) {
		if !z.Supersedes(in) {
			t.Errorf("level 2 block does not supersede %v", in.KafkaRanges)
		}
	}
}

func TestCompactRefuses(t *testing.T) {
	ctx := context.Background()
	bkt := newDir(t)
	td := genTraces(rand.New(rand.NewPCG(49, 50)), 5)
	a := writeInput(t, bkt, td, partRange(0, 10))
	b := writeInput(t, bkt, td, partRange(10, 20))
	whole := writeInput(t, bkt, td, partRange(0, 20))
	other := writeInput(t, bkt, td, schema.OffsetRange{Partition: 4, Start: 0, End: 10})
	otherTenant := *b
	otherTenant.Tenant = "u"
	for _, tc := range []struct {
		name   string
		inputs []*schema.BlockMeta
		want   error
	}{
		{"no inputs", nil, nil},
		{"one input", []*schema.BlockMeta{a}, block.ErrNothingToCompact},
		{"an input holding the others", []*schema.BlockMeta{a, whole, b}, block.ErrNothingToCompact},
		{"two partitions", []*schema.BlockMeta{a, other}, nil},
		{"two tenants", []*schema.BlockMeta{a, &otherTenant}, nil},
		{"an input twice", []*schema.BlockMeta{a, b, a}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := block.Compact(ctx, bkt, tc.inputs, smallOptions())
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got error %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := block.Compact(ctx, bkt, []*schema.BlockMeta{a, b}, block.Options{RowsPerRowGroup: -1}); err == nil {
		t.Error("negative rows per row group: Compact succeeded")
	}
}

// A merge holding a block of foreign records is one too: its traces may be
// in any partition (schema.BlockMeta.Foreign).
func TestCompactKeepsForeign(t *testing.T) {
	ctx := context.Background()
	bkt := newDir(t)
	rng := rand.New(rand.NewPCG(51, 52))
	parts := scatter(rng, genTraces(rng, 20), 3)
	var own []*schema.BlockMeta
	for i, part := range parts[:2] {
		own = append(own, writeInput(t, bkt, part, partRange(int64(i)*10, int64(i+1)*10)))
	}
	b := block.NewBuilder("t", smallOptions())
	b.Add(parts[2])
	b.MarkForeign()
	foreign, err := b.Write(ctx, bkt, []schema.OffsetRange{partRange(20, 30)})
	if err != nil {
		t.Fatal(err)
	}
	if own[0].Foreign || !foreign.Foreign {
		t.Fatalf("foreign: %v for the builder's own block, %v for the marked one", own[0].Foreign, foreign.Foreign)
	}
	for _, tc := range []struct {
		inputs []*schema.BlockMeta
		want   bool
	}{
		{own, false},
		{append(own[:1:1], foreign), true},
	} {
		m, err := block.Compact(ctx, bkt, tc.inputs, smallOptions())
		if err != nil {
			t.Fatal(err)
		}
		if m.Foreign != tc.want {
			t.Errorf("merge of %d blocks: foreign %v, want %v", len(tc.inputs), m.Foreign, tc.want)
		}
	}
}
