package block_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/spantest"
	"github.com/spanlog/spanlog/schema"
)

// wantSummaries computes each trace's summary from the spans of td as
// OTLP holds them, without the code under test.
func wantSummaries(td ptrace.Traces) map[[16]byte]schema.TraceSummary {
	out := map[[16]byte]schema.TraceSummary{}
	for _, rs := range td.ResourceSpans().All() {
		service := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
			service = v.Str()
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				id := [16]byte(span.TraceID())
				s, seen := out[id]
				start, end := uint64(span.StartTimestamp()), uint64(span.EndTimestamp())
				root := schema.RootSpan{
					Parentless: span.ParentSpanID().IsEmpty(), Start: start,
					SpanID: [8]byte(span.SpanID()), Name: span.Name(), Service: service,
				}
				if !seen {
					s = schema.TraceSummary{ID: id, Start: start, End: end, Root: root}
				}
				s.Start, s.End = min(s.Start, start), max(s.End, end)
				s.Spans++
				if span.Status().Code() == ptrace.StatusCodeError {
					s.Errors++
				}
				better := root.Parentless != s.Root.Parentless && root.Parentless ||
					root.Parentless == s.Root.Parentless && (root.Start < s.Root.Start ||
						root.Start == s.Root.Start && bytes.Compare(root.SpanID[:], s.Root.SpanID[:]) < 0)
				if better {
					s.Root = root
				}
				out[id] = s
			}
		}
	}
	return out
}

// readSummaries returns the summaries of r, checking they come once per
// trace, in trace ID order.
func readSummaries(t *testing.T, r *block.Reader) map[[16]byte]schema.TraceSummary {
	t.Helper()
	out := readSummaryFields(t, r, block.SummaryEnd|block.SummaryRoot)
	// Fewer fields read: the same summaries as far as they go.
	for _, fields := range []block.SummaryFields{0, block.SummaryEnd} {
		got := readSummaryFields(t, r, fields)
		if len(got) != len(out) {
			t.Errorf("fields %b: %d summaries, want %d", fields, len(got), len(out))
		}
		for id, g := range got {
			w := out[id]
			if g.ID != w.ID || g.Start != w.Start || fields&block.SummaryEnd != 0 && g.End != w.End {
				t.Errorf("trace %x with fields %b: got %+v, want the ID, start (and end) of %+v", id, fields, g, w)
			}
		}
	}
	return out
}

func readSummaryFields(t *testing.T, r *block.Reader, fields block.SummaryFields) map[[16]byte]schema.TraceSummary {
	t.Helper()
	out := map[[16]byte]schema.TraceSummary{}
	var last [16]byte
	err := r.Summaries(context.Background(), fields, func(s schema.TraceSummary) error {
		if len(out) > 0 && bytes.Compare(s.ID[:], last[:]) <= 0 {
			t.Errorf("summary of %x after %x: not in trace ID order", s.ID, last)
		}
		last = s.ID
		out[s.ID] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkSummaries(t *testing.T, got, want map[[16]byte]schema.TraceSummary) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d summaries, want %d", len(got), len(want))
	}
	for id, w := range want {
		if g := got[id]; g != w {
			t.Errorf("trace %x:\n got %+v\nwant %+v", id, g, w)
		}
	}
}

// TestSummariesDescribeEachTrace: a block's summaries say of each trace
// what its spans say, also of traces that a row group boundary splits.
func TestSummariesDescribeEachTrace(t *testing.T) {
	td := genTraces(rand.New(rand.NewPCG(41, 42)), 200)
	spantest.Full().ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	r := writeBlock(t, newDir(t), smallOptions(), td)
	if len(r.SplitTraces()) == 0 {
		t.Fatal("no trace is split across row groups; the test needs one")
	}
	checkSummaries(t, readSummaries(t, r), wantSummaries(td))
}

// TestCompactedSummariesDescribeWholeTraces: after a merge, a trace
// split across inputs, some spans in two of them, has one summary of
// all its spans, each counted once.
func TestCompactedSummariesDescribeWholeTraces(t *testing.T) {
	ctx := context.Background()
	bkt := newDir(t)
	td := genTraces(rand.New(rand.NewPCG(43, 44)), 150)
	var inputs []*schema.BlockMeta
	for i, part := range scatter(rand.New(rand.NewPCG(45, 46)), td, 3) {
		inputs = append(inputs, writeInput(t, bkt, part, partRange(int64(10*i), int64(10*i+10))))
	}
	meta, err := block.Compact(ctx, bkt, inputs, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	r, err := block.Open(ctx, bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkSummaries(t, readSummaries(t, r), wantSummaries(td))
}

// TestReadsFormatV1Blocks: a block written by the last build before trace
// summaries (testdata/v1, format spanlog-parquet-v1) still reads as
// written: every span, lookups, scans and summaries, which are derived
// from its spans; TracesWhere answers that it cannot tell.
func TestReadsFormatV1Blocks(t *testing.T) {
	bkt, meta, want := openFixture(t, "v1", schema.BlockFormatV1)
	checkReadsAsWritten(t, openReader(t, bkt, meta), want)
}
