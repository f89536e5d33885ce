package querier

import (
	"context"
	"encoding/hex"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/traceql"
)

// A search passes its hits to Found as they become certain, before it
// ends: each once, most recent first, a prefix of the answer, which holds
// the rest.
func TestSearchFoundPassesCertainHitsFirst(t *testing.T) {
	// Twelve traces a minute apart, in a block; the even ones match.
	// A search with a limit reads them whole most recent first, in
	// batches, and judges each.
	bkt := newTestBucket(t)
	all := ptrace.NewTraces()
	var matching []string // most recent first
	for i := 11; i >= 0; i-- {
		id := pcommon.TraceID{0x70, byte(i)}
		numbers := []int{1}
		if i%2 == 0 {
			numbers = []int{2}
			matching = append(matching, hex.EncodeToString(id[:]))
		}
		querytest.TraceSpans(id, i, numbers...).ResourceSpans().MoveAndAppendTo(all.ResourceSpans())
	}
	querytest.WriteBlock(t, bkt, 0, all)
	q := startQuerier(t, bkt)
	query, err := traceql.Parse(`{ name = "op-2" }`)
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 2, 4} {
		var found [][]string
		res, err := q.Search(context.Background(), []string{querytest.Tenant}, SearchRequest{
			Query: query, Limit: limit, SpansPerSpanSet: 3,
			Found: func(hits []*TraceHit) error {
				found = append(found, hitIDs(hits))
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		answer := hitIDs(res.Traces)
		if want := matching[:min(limit, len(matching))]; !slices.Equal(answer, want) {
			t.Fatalf("limit %d: answer %v, want %v", limit, answer, want)
		}
		if len(found) == 0 {
			t.Fatalf("limit %d: no hit passed before the answer", limit)
		}
		if got := slices.Concat(found...); !slices.Equal(got, answer[:len(got)]) {
			t.Errorf("limit %d: hits passed %v are not a prefix of the answer %v", limit, found, answer)
		}
	}
}

// A search of several tenants passes nothing before its answer: the
// tenants are read in turn, and a later one may hold a more recent hit.
func TestSearchFoundWaitsForEveryTenant(t *testing.T) {
	bkt := newTestBucket(t)
	querytest.WriteBlock(t, bkt, 0, querytest.TraceSpans(pcommon.TraceID{0x71, 1}, 1, 1, 2))
	q := startQuerier(t, bkt)
	query, err := traceql.Parse(`{ }`)
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Search(context.Background(), []string{querytest.Tenant, "other"}, SearchRequest{
		Query: query, Limit: 1, SpansPerSpanSet: 3,
		Found: func([]*TraceHit) error {
			t.Error("Found called for a search of two tenants")
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Traces) != 1 {
		t.Errorf("%d traces, want 1", len(res.Traces))
	}
}

func hitIDs(hits []*TraceHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = hex.EncodeToString(h.TraceID[:])
	}
	return out
}
