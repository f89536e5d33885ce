package querier

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

// TestQueriersShareTheLiveTail runs three queriers in one group: each
// consumes some partitions, and each answers for every trace of every
// partition by asking the others. When one leaves, the others take over
// its partitions and still answer for every trace.
func TestQueriersShareTheLiveTail(t *testing.T) {
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	qs := startQueriers(t, bkt, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The group spreads the four partitions over the queriers, each
	// owning at least one once it is balanced (a querier that joins late
	// gets its share in a later rebalance).
	waitOwned := func(qs []*runningQuerier) {
		t.Helper()
		for {
			var owned []int32
			everyOne := true
			for _, q := range qs {
				mine := q.live.Tail().Owned()
				everyOne = everyOne && len(mine) > 0
				for p := range mine {
					owned = append(owned, p)
				}
			}
			slices.Sort(owned)
			if everyOne && slices.Equal(owned, []int32{0, 1, 2, 3}) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("partitions owned: %v, want each of 0-3 once, and every querier some", owned)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitOwned(qs)

	// A querier asked for a partition it does not own says so, and the
	// asker learns the owner again.
	owned := qs[0].live.Tail().Owned()
	var other int32
	for other = range 4 {
		if _, ok := owned[other]; !ok {
			break
		}
	}
	// (The asker's side, that this answer is live.ErrNotOwned, is
	// live's TestMisdirectedAnswerIsNotOwned.)
	ask := fmt.Sprintf(`{"kind": "spans", "tenants": [%q], "partitions": [%d], "traceIDs": ["%032x"]}`, querytest.Tenant, other, 1)
	resp, err := http.Post("http://"+qs[0].cfg.AdvertiseAddress+live.Path, "application/json", strings.NewReader(ask))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("asking querier 0 for partition %d it does not own: %s, want 421 (not owned)", other, resp.Status)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	var ids []pcommon.TraceID
	for i := range 40 {
		id := randomID(rng)
		ids = append(ids, id)
		qs[0].produce(t, querytest.TraceSpans(id, i, 0, 1, 2))
	}
	// The services of the traces sent, as querytest.TraceSpans names them.
	var services []TagValue
	for _, id := range ids {
		v := TagValue{"string", fmt.Sprintf("svc-%x", id[0]%4)}
		if !slices.Contains(services, v) {
			services = append(services, v)
		}
	}
	slices.SortFunc(services, func(a, b TagValue) int { return strings.Compare(a.Value, b.Value) })
	check := func(qs []*runningQuerier, when string) {
		t.Helper()
		for i, q := range qs {
			// A trace by ID waits for its owner's tail to reach the
			// log's end (read-your-writes); searches do not, so they
			// come after, within the tails' fetch wait.
			for _, id := range ids {
				res, found, err := q.FindTrace(ctx, []string{querytest.Tenant}, id, TimeRange{})
				if err != nil || !found || res.Partial.IsPartial() || res.Trace.SpanCount() != 3 {
					t.Fatalf("%s: querier %d, trace %s: found %v, partial %v, %d spans, %v", when, i, id, found, res.Partial, res.Trace.SpanCount(), err)
				}
			}
			// Tags and values come from every live tail, each owner
			// collecting from its own spans.
			values, err := q.TagValues(ctx, []string{querytest.Tenant}, TimeRange{}, nil, ScopeResource, "service.name", 100)
			if err != nil || !slices.Equal(values, services) {
				t.Fatalf("%s: querier %d: service names %v, want %v: %v", when, i, values, services, err)
			}
			names, err := q.TagNames(ctx, []string{querytest.Tenant}, TimeRange{}, nil)
			if err != nil || !slices.Equal(names[ScopeSpan], []string{"n"}) {
				t.Fatalf("%s: querier %d: span tags %v, want [n]: %v", when, i, names[ScopeSpan], err)
			}
			for query, want := range map[string]int{"{}": len(ids), `{ name = "op-1" && span.n = 1 }`: len(ids), `{ name = "op-9" }`: 0} {
				parsed, err := traceql.Parse(query)
				if err != nil {
					t.Fatal(err)
				}
				res, err := q.Search(ctx, []string{querytest.Tenant}, SearchRequest{Query: parsed, Limit: 1000, SpansPerSpanSet: 3})
				if err != nil || len(res.Traces) != want {
					t.Fatalf("%s: querier %d: %s found %d traces, want %d: %v", when, i, query, len(res.Traces), want, err)
				}
			}
		}
	}
	check(qs, "three queriers")

	qs[2].stop()
	waitOwned(qs[:2])
	check(qs[:2], "after one left")
}

// TestAskerCatchesUpWithTheOwnersBlocks checks that live tails and blocks
// leave no gap between queriers (DESIGN guarantee 6): an owner trims its
// tail by its own blocklist, which may know blocks the asking querier's
// does not yet; the asker must then refresh its blocklist rather than
// miss the trimmed spans.
func TestAskerCatchesUpWithTheOwnersBlocks(t *testing.T) {
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	owner, asker := DefaultConfig(), DefaultConfig()
	owner.Blocklist.PollInterval = 100 * time.Millisecond
	// The asker polls only when the group gives it partitions: after
	// that, only a refresh can tell it of new blocks.
	asker.Blocklist.PollInterval = time.Hour
	qs := startQueriersEach(t, bkt, []Config{owner, asker}, tenant.DefaultConfig(), querytest.NoLimits(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(qs[0].live.Tail().Owned()) == 0 || len(qs[0].live.Tail().Owned())+len(qs[1].live.Tail().Owned()) != 4 {
		select {
		case <-ctx.Done():
			t.Fatal("the group did not share the partitions")
		case <-time.After(10 * time.Millisecond):
		}
	}

	// A trace in a partition of the first querier's.
	rng := rand.New(rand.NewPCG(3, 4))
	var id pcommon.TraceID
	for {
		id = randomID(rng)
		if _, ok := qs[0].live.Tail().Owned()[schema.Partition(querytest.Tenant, id, qs[0].partitions)]; ok {
			break
		}
	}
	td := querytest.TraceSpans(id, 0, 0, 1)
	partition, offset := qs[0].produce(t, td)
	if res, found, err := qs[1].FindTrace(ctx, []string{querytest.Tenant}, id, TimeRange{}); err != nil || !found || res.Trace.SpanCount() != 2 {
		t.Fatalf("from the owner's live tail: found %v, %d spans, %v", found, res.Trace.SpanCount(), err)
	}

	// A block-builder puts it into a block; the owner polls, learns of
	// the block and trims its tail. The asker has not polled since.
	b := block.NewBuilder(querytest.Tenant, block.DefaultOptions())
	b.Add(querytest.TraceSpans(id, 0, 0, 1))
	if _, err := b.Write(ctx, bkt, []schema.OffsetRange{{Partition: partition, Start: 0, End: offset + 1}}); err != nil {
		t.Fatal(err)
	}
	for n, _ := qs[0].live.Tail().Size(); n > 0; n, _ = qs[0].live.Tail().Size() {
		select {
		case <-ctx.Done():
			t.Fatal("the owner did not trim its live tail")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got := qs[1].blocklist.CoveredEnd(querytest.Tenant, partition); got != 0 {
		t.Fatalf("the asker's blocklist already covers offset %d: the test proves nothing", got)
	}
	res, found, err := qs[1].FindTrace(ctx, []string{querytest.Tenant}, id, TimeRange{})
	if err != nil || !found || res.Trace.SpanCount() != 2 {
		t.Fatalf("after the owner trimmed it into a block: found %v, %d spans, %v", found, res.Trace.SpanCount(), err)
	}
}
