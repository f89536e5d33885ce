package block_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/blocktest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FindTraces of many IDs at once must give, ID by ID, what FindTrace gives:
// present traces whole (split by row groups or not), absent ones not at all.
func TestFindTracesMatchesFindTrace(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(31, 32)), 200)
	want := spansByTrace(t, td)
	r := writeBlock(t, newDir(t), smallOptions(), td)
	split := r.SplitTraces()
	if len(split) == 0 {
		t.Fatal("no trace crosses a row group boundary; the test needs one")
	}

	rng := rand.New(rand.NewPCG(33, 34))
	var ids []pcommon.TraceID
	for id := range want {
		ids = append(ids, id)
	}
	// Absent IDs: random ones, and neighbours of present ones, which fall
	// within row group ranges and pages.
	for i := range 100 {
		var id pcommon.TraceID
		fillRandom(rng, id[:])
		if i%2 == 0 {
			id = ids[i]
			id[15]++
		}
		if _, ok := want[id]; !ok {
			ids = append(ids, id)
		}
	}
	ids = append(ids, split...) // given twice, answered once
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })

	var order []pcommon.TraceID
	err := r.FindTraces(ctx, ids, func(id pcommon.TraceID, got ptrace.Traces) error {
		order = append(order, id)
		single, ok, err := blocktest.FindTrace(ctx, r, id)
		if err != nil || !ok {
			t.Fatalf("trace %s: FindTraces found it, FindTrace found %v, error %v", id, ok, err)
		}
		g, s := spansByTrace(t, got), spansByTrace(t, single)
		if len(g) != 1 || !slices.Equal(g[id], s[id]) {
			t.Fatalf("trace %s: FindTraces and FindTrace differ", id)
		}
		if !slices.Equal(g[id], want[id]) {
			t.Fatalf("trace %s: got %d spans, want %d", id, got.SpanCount(), len(want[id]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != len(want) {
		t.Fatalf("%d traces found, want %d", len(order), len(want))
	}
	if !slices.IsSortedFunc(order, func(a, b pcommon.TraceID) int { return bytes.Compare(a[:], b[:]) }) || len(slices.Compact(slices.Clone(order))) != len(order) {
		t.Error("traces not called once each in ID order")
	}
}

func TestFindTracesStopsAtError(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(35, 36)), 50)
	r := writeBlock(t, newDir(t), smallOptions(), td)
	var ids []pcommon.TraceID
	for id := range spansByTrace(t, td) {
		ids = append(ids, id)
	}
	stop := errors.New("stop")
	calls := 0
	err := r.FindTraces(ctx, ids, func(pcommon.TraceID, ptrace.Traces) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("after an error: %d calls, error %v", calls, err)
	}
}

// A batch of IDs in one row group costs about one lookup, not one per ID:
// the trace_id pages and the rows of all of them are fetched together.
func TestFindTracesReadsOnceForManyIDs(t *testing.T) {
	const n = 50
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(37, 38)), 800)
	bkt := &countingBucket{Bucket: newDir(t)}
	r := writeBlock(t, bkt, block.DefaultOptions(), td)
	var ids []pcommon.TraceID
	for id := range spansByTrace(t, td) {
		ids = append(ids, id)
	}
	// The smallest IDs are all in the first row group. A lookup of
	// another ID warms the group's indexes, which both ways then share.
	slices.SortFunc(ids, func(a, b pcommon.TraceID) int { return bytes.Compare(a[:], b[:]) })
	if _, ok, err := blocktest.FindTrace(ctx, r, ids[n]); err != nil || !ok {
		t.Fatalf("found %v, error %v", ok, err)
	}
	batch := ids[:n]

	bkt.reads.Store(0)
	for _, id := range batch {
		if _, ok, err := blocktest.FindTrace(ctx, r, id); err != nil || !ok {
			t.Fatalf("found %v, error %v", ok, err)
		}
	}
	singleReads := bkt.reads.Load()

	bkt.reads.Store(0)
	found := 0
	err := r.FindTraces(ctx, batch, func(pcommon.TraceID, ptrace.Traces) error {
		found++
		return nil
	})
	if err != nil || found != n {
		t.Fatalf("found %d of %d, error %v", found, n, err)
	}
	batchReads := bkt.reads.Load()
	t.Logf("%d IDs: %d reads one by one, %d in one batch", n, singleReads, batchReads)
	if perLookup := singleReads / n; batchReads > 2*perLookup {
		t.Errorf("a batch of %d IDs made %d reads; one lookup makes %d", n, batchReads, perLookup)
	}
}

// MayContain answers from memory: yes for every trace the block holds, and
// no for nearly all others.
func TestMayContain(t *testing.T) {
	td := genTraces(rand.New(rand.NewPCG(39, 40)), 300)
	present := spansByTrace(t, td)
	bkt := &countingBucket{Bucket: newDir(t)}
	r := writeBlock(t, bkt, smallOptions(), td)

	bkt.reads.Store(0)
	for id := range present {
		if !r.MayContain(id) {
			t.Fatalf("MayContain(%s) = false for a trace the block holds", id)
		}
	}
	rng := rand.New(rand.NewPCG(41, 42))
	maybe := 0
	for range 1000 {
		var id pcommon.TraceID
		fillRandom(rng, id[:])
		if _, ok := present[id]; !ok && r.MayContain(id) {
			maybe++
		}
	}
	if maybe > 30 { // about 1% false positives at 10 bits per span
		t.Errorf("MayContain is true for %d of 1000 absent traces", maybe)
	}
	if reads := bkt.reads.Load(); reads != 0 {
		t.Errorf("MayContain made %d reads", reads)
	}
}
