package blocktest

import (
	"bytes"
	"context"
	"encoding/hex"
	"maps"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/spantest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

var testSpec = Spec{
	Tenant: "bench", Seed: 7, Partitions: 4, Cycles: 3, SpansPerBlock: 500,
	Cycle: 15 * time.Second, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
}

func buildTestDataset(t *testing.T) (*objstore.Dir, *Manifest) {
	t.Helper()
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	man, err := Build(context.Background(), bkt, testSpec)
	if err != nil {
		t.Fatal(err)
	}
	return bkt, man
}

// TestBuildLaysOutBlocksAsBuildersWould checks what the read path relies
// on: one partition's traces per block, offsets that follow on from block
// to block, metas that bound the rows, an index that lists them all.
func TestBuildLaysOutBlocksAsBuildersWould(t *testing.T) {
	ctx := context.Background()
	bkt, man := buildTestDataset(t)
	x, err := block.ReadIndex(ctx, bkt, testSpec.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Metas) != testSpec.Blocks() || man.Stats.Blocks != testSpec.Blocks() {
		t.Fatalf("index lists %d blocks, manifest %d, want %d", len(x.Metas), man.Stats.Blocks, testSpec.Blocks())
	}
	nextOffset := map[int32]int64{}
	ids := map[string]bool{}
	var spans int64
	for _, m := range x.Metas {
		if len(m.KafkaRanges) != 1 {
			t.Fatalf("block %s has ranges %v, want one", m.BlockID, m.KafkaRanges)
		}
		r := m.KafkaRanges[0]
		if r.Start != nextOffset[r.Partition] || r.End <= r.Start {
			t.Fatalf("block %s covers %v, want partition %d to go on from %d", m.BlockID, r, r.Partition, nextOffset[r.Partition])
		}
		nextOffset[r.Partition] = r.End
		if m.TotalTraces != r.End-r.Start {
			t.Errorf("block %s: %d traces from %d records, want one record per trace", m.BlockID, m.TotalTraces, r.End-r.Start)
		}
		rd, err := block.Open(ctx, bkt, m)
		if err != nil {
			t.Fatal(err)
		}
		err = rd.Scan(ctx, block.ScanOptions{Columns: block.Duration}, func(row *schema.SpanRow) error {
			spans++
			ids[hex.EncodeToString(row.TraceID[:])] = true
			if p := schema.Partition(testSpec.Tenant, pcommon.TraceID(row.TraceID), testSpec.Partitions); p != r.Partition {
				t.Fatalf("block of partition %d holds a trace of partition %d", r.Partition, p)
			}
			start := time.Unix(0, int64(row.StartUnixNano))
			if start.Before(m.MinStart) || time.Unix(0, int64(row.EndUnixNano())).After(m.MaxEnd) {
				t.Fatalf("span %v..%v outside its block's %v..%v", start, row.EndUnixNano(), m.MinStart, m.MaxEnd)
			}
			return nil
		})
		rd.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if !maps.Equal(x.Committed, nextOffset) {
		t.Errorf("index commits %v, blocks end at %v", x.Committed, nextOffset)
	}
	if spans != man.Stats.Spans || int64(len(ids)) != man.Stats.Traces {
		t.Errorf("blocks hold %d spans of %d traces, manifest says %d of %d", spans, len(ids), man.Stats.Spans, man.Stats.Traces)
	}
	for _, id := range man.SampleTraceIDs {
		if !ids[id] {
			t.Fatalf("sample trace %s is in no block", id)
		}
	}
	if len(man.SampleTraceIDs) < testSpec.Blocks() {
		t.Errorf("%d sample IDs for %d blocks, want one per block at least", len(man.SampleTraceIDs), testSpec.Blocks())
	}
}

// TestBuildIsDeterministic: the cache is keyed by the Spec, so a Spec must
// always give the same blocks.
func TestBuildIsDeterministic(t *testing.T) {
	a, _ := buildTestDataset(t)
	b, _ := buildTestDataset(t)
	ctx := context.Background()
	x, err := block.ReadIndex(ctx, a, testSpec.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range x.Metas {
		da, err := objstore.ReadAll(ctx, a, block.DataName(m.Tenant, m.BlockID))
		if err != nil {
			t.Fatal(err)
		}
		db, err := objstore.ReadAll(ctx, b, block.DataName(m.Tenant, m.BlockID))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(da, db) {
			t.Fatalf("block %s differs between two builds", m.BlockID)
		}
	}
}

// TestTracesLookReal checks the properties the search benchmark's queries
// select on, and that stored traces are the generated ones.
func TestTracesLookReal(t *testing.T) {
	ctx := context.Background()
	bkt, man := buildTestDataset(t)
	st := man.Stats
	t.Logf("%d spans: %d errors, %d slow errors, %d with 5xx (%d under http.status_code)",
		st.Spans, st.ErrorSpans, st.SlowErrorSpans, st.StatusCode5xxSpans, st.LegacyStatusCode5xxSpans)
	if share := float64(st.ErrorSpans) / float64(st.Spans); share < 0.02 || share > 0.05 {
		t.Errorf("%.1f%% of spans are errors, want 2-5%%", 100*share)
	}
	if st.SlowErrorSpans == 0 || st.LegacyStatusCode5xxSpans == 0 || st.StatusCode5xxSpans == st.LegacyStatusCode5xxSpans {
		t.Errorf("stats %+v: want slow errors and 5xx under both status code keys", st)
	}
	if len(st.SpansByService) != len(services) {
		t.Errorf("spans of %d services, want %d", len(st.SpansByService), len(services))
	}

	want := testSpec.trace(1, 5)
	id := want.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
	x, err := block.ReadIndex(ctx, bkt, testSpec.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	var got ptrace.Traces
	for _, m := range x.Metas {
		if m.KafkaRanges[0].Partition != schema.Partition(testSpec.Tenant, id, testSpec.Partitions) {
			continue
		}
		rd, err := block.Open(ctx, bkt, m)
		if err != nil {
			t.Fatal(err)
		}
		td, found, err := FindTrace(ctx, rd, id)
		rd.Close()
		if err != nil {
			t.Fatal(err)
		}
		if found {
			got = td
		}
	}
	if got == (ptrace.Traces{}) {
		t.Fatalf("trace %s is in no block of its partition", id)
	}
	if g, w := spantest.ByTrace(t, got)[id], spantest.ByTrace(t, want)[id]; !slices.Equal(g, w) {
		t.Fatalf("stored trace differs from the generated one:\n got %v\nwant %v", g, w)
	}
	parents := map[pcommon.SpanID]bool{}
	roots := 0
	for _, rs := range got.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				parents[s.SpanID()] = true
			}
		}
	}
	for _, rs := range got.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if s.ParentSpanID().IsEmpty() {
					roots++
				} else if !parents[s.ParentSpanID()] {
					t.Errorf("span %s has a parent not in the trace", s.SpanID())
				}
			}
		}
	}
	if roots != 1 {
		t.Errorf("%d root spans, want 1", roots)
	}
}

// TestCompactWindowMergesEachPartitionsWindow: a compacted dataset holds
// the same spans in one block per partition and window.
func TestCompactWindowMergesEachPartitionsWindow(t *testing.T) {
	ctx := context.Background()
	spec := testSpec
	spec.CompactWindow = 2 * spec.Cycle // cycles 0 and 1, then cycle 2
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	man, err := Build(ctx, bkt, spec)
	if err != nil {
		t.Fatal(err)
	}
	_, raw := buildTestDataset(t)
	if man.Stats.Spans != raw.Stats.Spans || man.Stats.Traces != raw.Stats.Traces {
		t.Errorf("compacted dataset holds %d spans of %d traces, want %d of %d", man.Stats.Spans, man.Stats.Traces, raw.Stats.Spans, raw.Stats.Traces)
	}
	x, err := block.ReadIndex(ctx, bkt, spec.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * int(spec.Partitions); len(x.Metas) != want || man.Stats.Blocks != want {
		t.Fatalf("index lists %d blocks, manifest %d, want %d", len(x.Metas), man.Stats.Blocks, want)
	}
	ids, err := block.ListBlocks(ctx, bkt, spec.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(x.Metas) {
		t.Errorf("%d blocks in the bucket, %d in the index: the merged ones are left", len(ids), len(x.Metas))
	}
	var spans int64
	for _, m := range x.Metas {
		spans += m.TotalSpans
		if len(m.KafkaRanges) != 1 {
			t.Errorf("block %s has ranges %v, want one", m.BlockID, m.KafkaRanges)
		}
	}
	if spans != man.Stats.Spans {
		t.Errorf("blocks hold %d spans, want %d", spans, man.Stats.Spans)
	}
}
