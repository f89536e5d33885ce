package block_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/blocktest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// writeBlock writes td as a block of tenant "t" and opens it.
func writeBlock(t testing.TB, bkt objstore.Bucket, opts block.Options, td ptrace.Traces) *block.Reader {
	t.Helper()
	ctx := context.Background()
	b := block.NewBuilder("t", opts)
	b.Add(td)
	meta, err := b.Write(ctx, bkt, testRanges)
	if err != nil {
		t.Fatal(err)
	}
	r, err := block.Open(ctx, bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestFindTrace(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(11, 12)), 300)
	want := spansByTrace(t, td)
	r := writeBlock(t, newDir(t), smallOptions(), td)

	for id, spans := range want {
		got, ok, err := blocktest.FindTrace(ctx, r, id)
		if err != nil || !ok {
			t.Fatalf("trace %s: found %v, error %v", id, ok, err)
		}
		if gotSpans := spansByTrace(t, got)[id]; !slices.Equal(gotSpans, spans) {
			t.Fatalf("trace %s: got %d spans, want %d", id, len(gotSpans), len(spans))
		}
		if got.SpanCount() != len(spans) {
			t.Fatalf("trace %s: got spans of other traces", id)
		}
	}
}

func TestFindTraceMissing(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(13, 14)), 100)
	present := spansByTrace(t, td)
	r := writeBlock(t, newDir(t), smallOptions(), td)

	rng := rand.New(rand.NewPCG(15, 16))
	missing := []pcommon.TraceID{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for range 200 {
		var id pcommon.TraceID
		fillRandom(rng, id[:])
		missing = append(missing, id)
	}
	for _, id := range missing {
		if _, ok := present[id]; ok {
			continue
		}
		got, ok, err := blocktest.FindTrace(ctx, r, id)
		if err != nil || ok || got.SpanCount() != 0 {
			t.Fatalf("missing trace %s: found %v with %d spans, error %v", id, ok, got.SpanCount(), err)
		}
	}
}

// TestFindTraceReadsLittle: a lookup reads, at most, about the row group
// that holds the trace (the pages it needs, and the gaps between them that
// cost less to read than another request), in a few requests.
func TestFindTraceReadsLittle(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(17, 18)), 2000)
	bkt := &countingBucket{Bucket: newDir(t)}
	// About 25,000 spans in five row groups.
	r := writeBlock(t, bkt, block.Options{RowsPerRowGroup: 5000}, td)
	size := r.Meta().Size

	var ids []pcommon.TraceID
	for id := range spansByTrace(t, td) {
		ids = append(ids, id)
	}
	for i, id := range ids[:2] {
		bkt.bytes.Store(0)
		bkt.reads.Store(0)
		if _, ok, err := blocktest.FindTrace(ctx, r, id); err != nil || !ok {
			t.Fatalf("found %v, error %v", ok, err)
		}
		if read := bkt.bytes.Load(); read > size/4 {
			t.Errorf("lookup %d read %d bytes of a %d-byte block of 5 row groups", i, read, size)
		}
		// The first lookup also loads the row group's indexes.
		if reads := bkt.reads.Load(); reads > 6 {
			t.Errorf("lookup %d made %d reads", i, reads)
		}
	}
}

func TestFindTraceConcurrent(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(19, 20)), 100)
	want := spansByTrace(t, td)
	r := writeBlock(t, newDir(t), smallOptions(), td)

	var ids []pcommon.TraceID
	for id := range want {
		ids = append(ids, id)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(ids); i += 4 {
				got, ok, err := blocktest.FindTrace(ctx, r, ids[i])
				if err == nil && (!ok || got.SpanCount() != len(want[ids[i]])) {
					err = errors.New("wrong spans for trace " + ids[i].String())
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestIterate(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(21, 22)), 100)
	r := writeBlock(t, newDir(t), smallOptions(), td)

	var rows []schema.SpanRow
	err := r.Iterate(ctx, func(row *schema.SpanRow) error {
		rows = append(rows, *row)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != td.SpanCount() {
		t.Fatalf("iterated %d rows, want %d", len(rows), td.SpanCount())
	}
	if !slices.IsSortedFunc(rows, func(a, b schema.SpanRow) int { return schema.CompareRows(&a, &b) }) {
		t.Error("rows not in block order")
	}
	// Rows kept by fn must not be overwritten by later ones.
	got, err := schema.TracesFromRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	want, gotSpans := spansByTrace(t, td), spansByTrace(t, got)
	for id, spans := range want {
		if !slices.Equal(gotSpans[id], spans) {
			t.Fatalf("trace %s differs after Iterate", id)
		}
	}

	stop := errors.New("stop")
	n := 0
	err = r.Iterate(ctx, func(*schema.SpanRow) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("after an error, got %d calls and error %v", n, err)
	}
}

// TestOpenReadsFewTimes: opening a block reads its footer and pins every
// row group's bloom filter in a few requests, however many row groups it
// has: a cold lookup opens every block that may hold the trace.
func TestOpenReadsFewTimes(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(25, 26)), 1000)
	bkt := &countingBucket{Bucket: newDir(t)}
	b := block.NewBuilder("t", smallOptions())
	b.Add(td)
	meta, err := b.Write(ctx, bkt, testRanges)
	if err != nil {
		t.Fatal(err)
	}
	r, err := block.Open(ctx, bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.RowGroups() < 20 {
		t.Fatalf("%d row groups; the test wants many", r.RowGroups())
	}
	if reads := bkt.reads.Load(); reads > 4 {
		t.Errorf("opening a block of %d row groups made %d reads", r.RowGroups(), reads)
	}
}

// Most blocks a querier asks for a trace do not hold it; their bloom
// filters, kept in memory since Open, must answer without a request.
func TestFindTraceRuledOutByBloomFilterReadsNothing(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(19, 20)), 500)
	present := spansByTrace(t, td)
	bkt := &countingBucket{Bucket: newDir(t)}
	r := writeBlock(t, bkt, smallOptions(), td)

	rng := rand.New(rand.NewPCG(21, 22))
	bkt.reads.Store(0)
	lookups := 0
	for range 100 {
		var id pcommon.TraceID
		fillRandom(rng, id[:])
		if _, ok := present[id]; ok {
			continue
		}
		if _, ok, err := blocktest.FindTrace(ctx, r, id); err != nil || ok {
			t.Fatalf("absent trace: found %v, error %v", ok, err)
		}
		lookups++
	}
	// A false positive (about 1% at 10 bits per value) costs reads; a
	// handful over 100 lookups would mean the filters are not in memory.
	if reads := bkt.reads.Load(); reads > 10 {
		t.Fatalf("%d absent-trace lookups made %d reads", lookups, reads)
	}
}
