package block_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/internal/spantest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// TestCompactsFormatV2WithV3: the v2 fixture block and a v3 block written
// now compact into one v3 block that reads as the union of their traces,
// each span once. The v3 block holds traces of its own, spans added to
// some of the fixture's traces (a trace merged across formats, whose
// summary is made anew), and copies of a third of the fixture's spans,
// those with events, links and every value type among them (a span
// deduplicated across formats).
func TestCompactsFormatV2WithV3(t *testing.T) {
	_, fixtureMeta, fixture := openFixture(t, "v2", schema.BlockFormatV2)
	ids := wantTraceIDs(fixture)

	rng := rand.New(rand.NewPCG(41, 42))
	own := genTraces(rng, 12)
	// Spans of three of the fixture's traces, from resources of their own.
	joined := genTraces(rng, 3)
	joinedIDs := map[pcommon.TraceID]pcommon.TraceID{}
	for _, span := range spantest.Spans(joined) {
		id, ok := joinedIDs[span.TraceID()]
		if !ok {
			id = ids[5*len(joinedIDs)]
			joinedIDs[span.TraceID()] = id
		}
		span.SetTraceID(id)
	}
	copied := ptrace.NewTraces()
	n := 0
	for _, rs := range fixture.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				if n%3 == 2 || n == 11 || n == 40 {
					copySpan(copied, rs, ss, span)
				}
				n++
			}
		}
	}
	if copied.SpanCount() < fixture.SpanCount()/3 {
		t.Fatalf("%d of the fixture's %d spans copied", copied.SpanCount(), fixture.SpanCount())
	}

	v3Traces := concatTraces(own, joined, copied)
	want := concatTraces(fixture, own, joined)

	for name, newBucket := range miniotest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			bkt := newBucket(t)
			copyFixture(t, bkt, fixtureMeta)
			b := block.NewBuilder(fixtureMeta.Tenant, v2FixtureOptions)
			b.Add(v3Traces)
			v3Meta, err := b.Write(ctx, bkt, []schema.OffsetRange{{Partition: 1, Start: 1071, End: 1100}})
			if err != nil {
				t.Fatal(err)
			}
			if v3Meta.Format != schema.BlockFormatV3 {
				t.Fatalf("the builder wrote format %q, want %q", v3Meta.Format, schema.BlockFormatV3)
			}

			meta, err := block.Compact(ctx, bkt, []*schema.BlockMeta{fixtureMeta, v3Meta}, v2FixtureOptions)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Format != schema.BlockFormatV3 || meta.CompactionLevel != 1 ||
				!slices.Equal(meta.KafkaRanges, []schema.OffsetRange{{Partition: 1, Start: 1000, End: 1100}}) {
				t.Errorf("compacted meta: format %q, level %d, ranges %v", meta.Format, meta.CompactionLevel, meta.KafkaRanges)
			}
			v, err := block.Verify(ctx, bkt, meta)
			if err != nil {
				t.Fatal(err)
			}
			if !v.OK() || !v.ChecksumChecked {
				t.Errorf("compacted block: %+v; want it sound and checksummed", v)
			}
			r := openReader(t, bkt, meta)
			if r.RowGroups() < 3 || len(r.SplitTraces()) == 0 {
				t.Errorf("%d row groups, %d traces split across them; want at least 3 and 1", r.RowGroups(), len(r.SplitTraces()))
			}
			checkReadsAsWritten(t, r, want)
		})
	}
}

// copyFixture copies the objects of the fixture block meta describes,
// data and meta, from testdata/v2 into bkt.
func copyFixture(t *testing.T, bkt objstore.Bucket, meta *schema.BlockMeta) {
	t.Helper()
	ctx := context.Background()
	src, err := objstore.NewDir("testdata/v2")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{block.DataName(meta.Tenant, meta.BlockID), block.MetaName(meta.Tenant, meta.BlockID)} {
		b, err := objstore.ReadAll(ctx, src, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := bkt.Upload(ctx, name, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
}

// copySpan appends a copy of span, of resource rs and scope ss, to td.
func copySpan(td ptrace.Traces, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span) {
	dst := td.ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(dst.Resource())
	dst.SetSchemaUrl(rs.SchemaUrl())
	dss := dst.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(dss.Scope())
	dss.SetSchemaUrl(ss.SchemaUrl())
	span.CopyTo(dss.Spans().AppendEmpty())
}

// concatTraces returns a copy of the spans of tds together.
func concatTraces(tds ...ptrace.Traces) ptrace.Traces {
	out := ptrace.NewTraces()
	for _, td := range tds {
		for _, rs := range td.ResourceSpans().All() {
			rs.CopyTo(out.ResourceSpans().AppendEmpty())
		}
	}
	return out
}
