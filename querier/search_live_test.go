package querier

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/live"
)

// TestLiveCandidatesOfEveryTraceComeFromSummaries checks that the
// candidates of a search without a span filter come from the live tail's
// trace summaries, decoding no record, and are the parts that judging
// every span gives: those of a filter every span passes.
func TestLiveCandidatesOfEveryTraceComeFromSummaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	tail := live.NewTail(1<<30, map[int32]int64{0: 0, 1: 0})
	var m ptrace.ProtoMarshaler
	next := make(map[int32]int64)
	for off := range int64(40) {
		td := ptrace.NewTraces()
		for range 5 {
			scanBenchTrace(rng, int(off)).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		// Half of each record's spans come again in the next record of
		// the partition: traces split across records, spans held twice.
		again := ptrace.NewTraces()
		td.ResourceSpans().At(0).CopyTo(again.ResourceSpans().AppendEmpty())
		for _, part := range []ptrace.Traces{td, again} {
			value, err := m.MarshalTraces(part)
			if err != nil {
				t.Fatal(err)
			}
			p := int32(off % 2)
			tail.Add(querytest.Tenant, p, next[p], time.Unix(0, off), value, part)
			next[p]++
		}
	}
	digest := func(query string) []byte {
		t.Helper()
		args, err := json.Marshal(candidatesArgs{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		answer, err := digestCandidates(args)
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := tail.Slice([]string{querytest.Tenant}, []int32{0, 1}, nil, func(string, int32) int64 { return 0 })
		if err != nil {
			t.Fatal(err)
		}
		d, err := answer(s)
		if err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	every := digest("{ duration >= 0ms }")
	decoded := tail.Decoded()
	if decoded == 0 {
		t.Fatal("a span filter decoded no record")
	}
	for _, query := range []string{"{}", ""} {
		if got := digest(query); !bytes.Equal(got, every) {
			t.Errorf("candidates of %q:\n%s\nwant those of every span:\n%s", query, got, every)
		}
	}
	if n := tail.Decoded() - decoded; n != 0 {
		t.Errorf("candidates without a span filter decoded %d records", n)
	}
}
