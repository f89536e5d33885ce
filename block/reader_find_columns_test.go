package block_test

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/spantest"
	"github.com/spanlog/spanlog/schema"
)

// searchFields keeps of row what FindTraceColumns reads with every flag.
func searchFields(row schema.SpanRow) schema.SpanRow {
	// An empty list reads as nil or as empty; both are no attributes.
	if len(row.Attrs) == 0 {
		row.Attrs = nil
	}
	if len(row.ResourceAttrs) == 0 {
		row.ResourceAttrs = nil
	}
	return schema.SpanRow{
		TraceID: row.TraceID, SpanID: row.SpanID, ParentSpanID: row.ParentSpanID,
		Name: row.Name, Kind: row.Kind, StartUnixNano: row.StartUnixNano, DurationNano: row.DurationNano,
		StatusCode: row.StatusCode, StatusMessage: row.StatusMessage, ServiceName: row.ServiceName,
		Attrs: row.Attrs, ResourceAttrs: row.ResourceAttrs,
	}
}

// TestFindTraceColumnsReadsWhatFindTraceRowsReads: a lookup of some
// columns returns, of each trace, the rows a whole lookup returns, with
// those columns filled in, also for traces that row group and page
// boundaries split; and nothing for IDs the block does not hold.
func TestFindTraceColumnsReadsWhatFindTraceRowsReads(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(51, 52)), 150)
	spantest.Full().ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	opts := smallOptions()
	r := writeBlock(t, newDir(t), opts, td)
	if len(r.SplitTraces()) == 0 {
		t.Fatal("no trace is split across row groups; the test needs one")
	}
	ids := []pcommon.TraceID{{0xff, 0xfe}} // absent
	for id := range spantest.ByTrace(t, td) {
		ids = append(ids, id)
	}
	all := block.SpanIDs | block.Name | block.Kind | block.Duration | block.Status |
		block.ServiceName | block.SpanAttrs | block.ResourceAttrs
	want := map[pcommon.TraceID][]schema.SpanRow{}
	if err := r.FindTraceRows(ctx, ids, func(id pcommon.TraceID, rows []schema.SpanRow) error {
		for _, row := range rows {
			want[id] = append(want[id], searchFields(row))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := map[pcommon.TraceID][]schema.SpanRow{}
	if err := r.FindTraceColumns(ctx, all, nil, ids, func(id pcommon.TraceID, rows []schema.SpanRow) error {
		for _, row := range rows {
			got[id] = append(got[id], searchFields(row))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids)-1 || len(want) != len(got) {
		t.Fatalf("found %d traces, whole lookups %d, of %d held", len(got), len(want), len(ids)-1)
	}
	for id, w := range want {
		if g := got[id]; !reflect.DeepEqual(g, w) {
			t.Errorf("trace %s: got %d rows %+v\nwant %d rows %+v", id, len(g), g, len(w), w)
		}
	}
	// Fewer columns: the trace ID and start, and what was asked for.
	if err := r.FindTraceColumns(ctx, block.Name, nil, ids, func(id pcommon.TraceID, rows []schema.SpanRow) error {
		for i, row := range rows {
			w := want[id][i]
			if row.TraceID != w.TraceID || row.StartUnixNano != w.StartUnixNano || row.Name != w.Name || row.Attrs != nil || row.Kind != 0 {
				t.Errorf("trace %s row %d: got %+v, want the ID, start and name of %+v", id, i, row, w)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWholeReadsEveryColumn: with Whole, a lookup and a scan of some
// traces, and a scan of all, read their rows as FindTraceRows does,
// events, links and instrumentation scope included, whatever other flags
// and keys say.
func TestWholeReadsEveryColumn(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(53, 54)), 40)
	spantest.Full().ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	r := writeBlock(t, newDir(t), smallOptions(), td)
	if len(r.SplitTraces()) == 0 {
		t.Fatal("no trace is split across row groups; the test needs one")
	}
	var ids []pcommon.TraceID
	for id := range spantest.ByTrace(t, td) {
		ids = append(ids, id)
	}
	read := func(find func(fn func(pcommon.TraceID, []schema.SpanRow) error) error) map[pcommon.TraceID][]schema.SpanRow {
		t.Helper()
		out := map[pcommon.TraceID][]schema.SpanRow{}
		if err := find(func(id pcommon.TraceID, rows []schema.SpanRow) error {
			out[id] = append(out[id], rows...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := read(func(fn func(pcommon.TraceID, []schema.SpanRow) error) error { return r.FindTraceRows(ctx, ids, fn) })
	withEvents := 0
	for _, rows := range want {
		for _, row := range rows {
			if len(row.Events) > 0 && len(row.Links) > 0 && row.ScopeName != "" {
				withEvents++
			}
		}
	}
	if withEvents == 0 {
		t.Fatal("no span has events, links and a scope; the test needs one")
	}
	for name, got := range map[string]map[pcommon.TraceID][]schema.SpanRow{
		"FindTraceColumns": read(func(fn func(pcommon.TraceID, []schema.SpanRow) error) error {
			return r.FindTraceColumns(ctx, block.Name|block.Whole, []string{"none"}, ids, fn)
		}),
		"ScanTraces": read(func(fn func(pcommon.TraceID, []schema.SpanRow) error) error {
			return r.ScanTraces(ctx, block.Whole, []string{"none"}, ids, fn)
		}),
	} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s with Whole: got %d traces, want the %d FindTraceRows reads, equal", name, len(got), len(want))
		}
	}
	// A scan of whole rows reads every row as the lookups do.
	scanned := map[pcommon.TraceID][]schema.SpanRow{}
	if err := r.Scan(ctx, block.ScanOptions{Columns: block.Whole}, func(row *schema.SpanRow) error {
		scanned[row.TraceID] = append(scanned[row.TraceID], *row)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(scanned, want) {
		t.Errorf("Scan with Whole: got %d traces, want the %d FindTraceRows reads, equal", len(scanned), len(want))
	}
	if err := r.Scan(ctx, block.ScanOptions{Columns: block.Whole, Where: []block.RowTest{{Column: schema.ColumnName}}}, func(*schema.SpanRow) error { return nil }); err == nil {
		t.Error("Scan with Whole and Where: no error")
	}
}
