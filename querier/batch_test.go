package querier

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

func randomID(rng *rand.Rand) pcommon.TraceID {
	var id pcommon.TraceID
	for i := range id {
		id[i] = byte(rng.Uint32())
	}
	return id
}

// batchFixture is a querier over blocks and a live tail that hold parts of
// the same traces.
type batchFixture struct {
	q *runningQuerier
	// ids are every ID a test asks for, with repeats, shuffled; unknown
	// are those no span of was ever written.
	ids, unknown []pcommon.TraceID
}

// newBatchFixture writes 12 blocks holding parts of 120 traces, trace i at
// minute i. Block b holds parts of traces of minutes 10b-5 to 10b+15, so
// blocks cover different times, and most traces are split across two or
// three blocks, with duplicate spans. It then starts a querier and writes
// to its live tail parts of 15 of those traces and of 5 others.
func newBatchFixture(t *testing.T) *batchFixture {
	return newBatchFixtureWith(t, DefaultConfig())
}

// newBatchFixtureWith is newBatchFixture with a querier of cfg.
func newBatchFixtureWith(t *testing.T, cfg Config) *batchFixture {
	rng := rand.New(rand.NewPCG(7, 8))
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool := make([]pcommon.TraceID, 120)
	for i := range pool {
		pool[i] = randomID(rng)
	}
	for b := range 12 {
		td := ptrace.NewTraces()
		for i := max(0, 10*b-5); i < min(len(pool), 10*b+15); i++ {
			if rng.IntN(10) < 7 {
				querytest.TraceSpans(pool[i], i, rng.IntN(4), rng.IntN(4), 4+b).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
			}
		}
		querytest.WriteBlock(t, bkt, b, td)
	}
	f := &batchFixture{q: startQuerierWithin(t, bkt, cfg, tenant.DefaultConfig(), querytest.NoLimits(t))}
	for i, id := range pool[:15] {
		f.q.produce(t, querytest.TraceSpans(id, i, 0, 100))
	}
	liveOnly := make([]pcommon.TraceID, 5)
	for i := range liveOnly {
		liveOnly[i] = randomID(rng)
		f.q.produce(t, querytest.TraceSpans(liveOnly[i], i, 1, 2))
	}
	// A trace read by ID waits for the live tail to hold what its
	// partition had when asked (read your writes); a search does not. So
	// that searches of the fixture see every record, each partition
	// written to is read once.
	for _, id := range slices.Concat(pool[:15], liveOnly) {
		if _, found, err := f.q.FindTrace(context.Background(), []string{querytest.Tenant}, id, TimeRange{}); err != nil || !found {
			t.Fatalf("trace %s not found in the live tail: %v", id, err)
		}
	}
	f.unknown = make([]pcommon.TraceID, 10)
	for i := range f.unknown {
		f.unknown[i] = randomID(rng)
	}
	f.ids = slices.Concat(pool, liveOnly, f.unknown, pool[:7])
	rng.Shuffle(len(f.ids), func(i, j int) { f.ids[i], f.ids[j] = f.ids[j], f.ids[i] })
	return f
}

// A batch gives, trace by trace, what FindTrace gives, each trace once and
// whole, however its spans are spread over blocks and the live tail; and
// the IDs not found, in the order asked.
func TestFindTracesMatchesFindTrace(t *testing.T) {
	ctx := context.Background()
	f := newBatchFixture(t)
	for _, tr := range []TimeRange{
		{},
		{Start: querytest.Base.Add(30 * time.Minute), End: querytest.Base.Add(50 * time.Minute)},
		{Start: querytest.Base.Add(24 * time.Hour)}, // the live tail alone
	} {
		got := make(map[pcommon.TraceID]ptrace.Traces)
		sum, err := f.q.FindTraces(ctx, []string{querytest.Tenant}, f.ids, tr, func(id pcommon.TraceID, td ptrace.Traces) error {
			if _, ok := got[id]; ok {
				t.Errorf("trace %s passed on twice", id)
			}
			got[id] = td
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var wantNotFound []pcommon.TraceID
		for _, id := range UniqueIDs(f.ids) {
			res, found, err := f.q.FindTrace(ctx, []string{querytest.Tenant}, id, tr)
			if err != nil {
				t.Fatal(err)
			}
			if !found {
				wantNotFound = append(wantNotFound, id)
				continue
			}
			if !slices.Equal(querytest.SpanSet(got[id]), querytest.SpanSet(res.Trace)) {
				t.Errorf("%v: trace %s: batch gave\n%v\nFindTrace gave\n%v", tr, id, querytest.SpanSet(got[id]), querytest.SpanSet(res.Trace))
			}
		}
		if !slices.Equal(sum.NotFound, wantNotFound) {
			t.Errorf("%v: not found %v, want %v", tr, sum.NotFound, wantNotFound)
		}
		if len(got)+len(sum.NotFound) != len(UniqueIDs(f.ids)) {
			t.Errorf("%v: %d found and %d not found of %d IDs", tr, len(got), len(sum.NotFound), len(UniqueIDs(f.ids)))
		}
		t.Logf("%v: %d found, %d not found, %d blocks read", tr, len(got), len(sum.NotFound), sum.InspectedBlocks)
	}
	// The unknown IDs are among those not found, whatever the range.
	sum, err := f.q.FindTraces(ctx, []string{querytest.Tenant}, f.unknown, TimeRange{}, func(id pcommon.TraceID, _ ptrace.Traces) error {
		return fmt.Errorf("unknown trace %s found", id)
	})
	if err != nil || !slices.Equal(sum.NotFound, f.unknown) || sum.InspectedBlocks > 3 {
		t.Errorf("unknown IDs: not found %v, %d blocks read, error %v", sum.NotFound, sum.InspectedBlocks, err)
	}
}

// An error from fn, or a request that ends, stops the lookup: FindTraces
// returns, with every block reader stopped, and says why.
func TestFindTracesStops(t *testing.T) {
	f := newBatchFixture(t)
	stop := errors.New("client went away")
	calls := 0
	_, err := f.q.FindTraces(context.Background(), []string{querytest.Tenant}, f.ids, TimeRange{}, func(pcommon.TraceID, ptrace.Traces) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("after fn failed: %d calls, error %v", calls, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, err = f.q.FindTraces(ctx, []string{querytest.Tenant}, f.ids, TimeRange{}, func(pcommon.TraceID, ptrace.Traces) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("after the request ended: error %v", err)
	}
}

// The summary counts every block read, also the last one, whose worker
// may still be counting it when the last trace is passed on.
func TestFindTracesCountsEveryBlockRead(t *testing.T) {
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := randomID(rand.New(rand.NewPCG(11, 12)))
	querytest.WriteBlock(t, bkt, 0, querytest.TraceSpans(id, 0, 0, 1, 2))
	q := startQuerier(t, bkt)
	for range 200 {
		sum, err := q.FindTraces(t.Context(), []string{querytest.Tenant}, []pcommon.TraceID{id}, TimeRange{}, func(pcommon.TraceID, ptrace.Traces) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if sum.InspectedBlocks != 1 || sum.InspectedBytes == 0 {
			t.Fatalf("read %d blocks of %d bytes, want the one block", sum.InspectedBlocks, sum.InspectedBytes)
		}
	}
}

// TestLookupOpensOnlyBlocksOfTheTracesPartition checks that a lookup by ID
// skips, by their metas alone, the blocks built from other partitions than
// the trace's: with random trace IDs every block's ID range holds every
// ID, and opening a block (footer, bloom filters) costs requests.
func TestLookupOpensOnlyBlocksOfTheTracesPartition(t *testing.T) {
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bkt := &readCountingBucket{Bucket: dir}
	q := startQuerier(t, bkt)
	rng := rand.New(rand.NewPCG(11, 12))
	// Eight blocks, two per partition, each with traces of its partition
	// spread over the whole ID range.
	byPartition := make(map[int32][]pcommon.TraceID)
	for blk := range 8 {
		p := int32(blk % 4)
		td := ptrace.NewTraces()
		for len(byPartition[p]) < 10*(blk/4+1) {
			id := randomID(rng)
			if schema.Partition(querytest.Tenant, id, q.partitions) != p {
				continue
			}
			byPartition[p] = append(byPartition[p], id)
			querytest.TraceSpans(id, blk, 0, 1).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		b := block.NewBuilder(querytest.Tenant, block.DefaultOptions())
		b.Add(td)
		if _, err := b.Write(context.Background(), bkt, []schema.OffsetRange{{Partition: p, Start: int64(blk), End: int64(blk + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.blocklist.Poll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	bkt.opens.Store(0)
	id := byPartition[2][0]
	res, found, err := q.FindTrace(context.Background(), []string{querytest.Tenant}, id, TimeRange{})
	if err != nil || !found || res.Trace.SpanCount() != 2 {
		t.Fatalf("found %v, %d spans, %v", found, res.Trace.SpanCount(), err)
	}
	if n := bkt.opens.Load(); n != 2 {
		t.Fatalf("the lookup opened %d blocks, want 2: those of the trace's partition", n)
	}
}
