package api

import (
	"encoding/json"
	"testing"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/traceql"
)

// A trace that by() split into spansets is answered with each of them,
// the first also as spanSet, and each within spss.
func TestSearchAnswersEverySpanSetOfAHit(t *testing.T) {
	span := func(id byte, name string) querier.MatchedSpan {
		return querier.MatchedSpan{SpanID: [8]byte{id}, Name: name, StartUnixNano: uint64(id), DurationNanos: 10}
	}
	sets := []querier.HitSpanSet{
		{Spans: []querier.MatchedSpan{span(1, "a"), span(2, "a"), span(3, "a")}, Attributes: []traceql.KeyValue{{Key: "by(name)", Value: traceql.StringValue("a")}}},
		{Spans: []querier.MatchedSpan{span(4, "b")}, Attributes: []traceql.KeyValue{{Key: "by(name)", Value: traceql.StringValue("b")}}},
	}
	res := &querier.SearchResult{Traces: []*querier.TraceHit{{
		TraceID: [16]byte{9}, Spans: sets[0].Spans, Attributes: sets[0].Attributes, SpanSets: sets,
	}}}
	body, err := json.Marshal(searchResponseJSON(searchResponse(res, 2)))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Traces []struct {
			SpanSet  spanSetOut   `json:"spanSet"`
			SpanSets []spanSetOut `json:"spanSets"`
		} `json:"traces"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Traces) != 1 || len(got.Traces[0].SpanSets) != 2 {
		t.Fatalf("answer %s: want one trace with two spansets", body)
	}
	tr := got.Traces[0]
	for i, want := range []struct {
		matched, spans int
		group          string
	}{{3, 2, "a"}, {1, 1, "b"}} {
		set := tr.SpanSets[i]
		if set.Matched != want.matched || len(set.Spans) != want.spans || len(set.Attributes) != 1 || set.Attributes[0].Value.StringValue != want.group {
			t.Errorf("spanset %d: %+v; want %d matched, %d spans, group %q", i, set, want.matched, want.spans, want.group)
		}
	}
	if tr.SpanSet.Matched != 3 || len(tr.SpanSet.Spans) != 2 {
		t.Errorf("spanSet %+v, want the first spanset", tr.SpanSet)
	}
}

type spanSetOut struct {
	Matched    int `json:"matched"`
	Spans      []struct{ SpanID string }
	Attributes []struct {
		Key   string
		Value struct{ StringValue string }
	}
}
