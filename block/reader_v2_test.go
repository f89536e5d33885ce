package block_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// TestReadsFormatV2Blocks: a block of format v2 (testdata/v2, written by
// TestWriteV2Fixture) reads exactly as written, through every way of
// reading a block, and its data is byte for byte the data written.
func TestReadsFormatV2Blocks(t *testing.T) {
	bkt, meta, want := openFixture(t, "v2", schema.BlockFormatV2)
	v, err := block.Verify(context.Background(), bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK() || !v.ChecksumChecked || v.RowGroups < 3 {
		t.Fatalf("fixture: %+v; want it sound, checksummed, of at least 3 row groups", v)
	}
	r := openReader(t, bkt, meta)
	if len(r.SplitTraces()) == 0 {
		t.Fatal("no trace of the fixture is split across row groups")
	}
	spans := wantSpans(t, want)
	for _, c := range whereCases {
		n := 0
		for _, s := range spans {
			if c.match(s.resource, s.span) {
				n++
			}
		}
		if n == len(spans) || n == 0 && c.name != "no span" {
			t.Errorf("%s: %d of the fixture's %d spans pass; the case tests nothing", c.name, n, len(spans))
		}
	}
	checkReadsAsWritten(t, r, want)
}

// TestFreshBlockReadsAsWritten: the v2 fixture's traces, written by this
// build, read as written too.
func TestFreshBlockReadsAsWritten(t *testing.T) {
	_, _, want := openFixture(t, "v2", schema.BlockFormatV2)
	r := writeBlock(t, newDir(t), v2FixtureOptions, want)
	checkReadsAsWritten(t, r, want)
}

// openFixture returns the bucket of testdata/<version>, the meta of its one
// block, which must be of format, and the traces it was written from.
func openFixture(t *testing.T, version, format string) (objstore.Bucket, *schema.BlockMeta, ptrace.Traces) {
	t.Helper()
	dir := filepath.Join("testdata", version)
	bkt, err := objstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "traces.pb"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(raw)
	if err != nil {
		t.Fatal(err)
	}
	metas, err := filepath.Glob(filepath.Join(dir, "fixture", "*", "meta.json"))
	if err != nil || len(metas) != 1 {
		t.Fatalf("want one block in %s, got %v (%v)", dir, metas, err)
	}
	b, err := os.ReadFile(metas[0])
	if err != nil {
		t.Fatal(err)
	}
	meta, err := schema.UnmarshalMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Format != format {
		t.Fatalf("fixture %s is of format %q, want %q", dir, meta.Format, format)
	}
	return bkt, meta, want
}

func openReader(t *testing.T, bkt objstore.Bucket, meta *schema.BlockMeta) *block.Reader {
	t.Helper()
	r, err := block.Open(context.Background(), bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// checkReadsAsWritten checks that r, a block written from want alone,
// reads as want in full, through each way of reading a block: whole rows
// (Iterate, a Scan of Whole, FindTraces, FindTraceRows), projections
// (Scan, FindTraceColumns, ScanTraces) with and without attribute keys,
// row tests on attributes of spans and resources (Scan's Where,
// TracesWhere), Summaries, and its meta. What is expected is computed
// from want, not read from the block: spans compare with their resources
// and scopes (spantest.All), attribute lists by their OTLP JSON.
func checkReadsAsWritten(t *testing.T, r *block.Reader, want ptrace.Traces) {
	t.Helper()
	t.Run("meta", func(t *testing.T) { checkMeta(t, r.Meta(), want) })
	t.Run("iterate", func(t *testing.T) { checkIterate(t, r, want) })
	t.Run("find", func(t *testing.T) { checkFind(t, r, want) })
	t.Run("scan", func(t *testing.T) { checkScan(t, r, want) })
	t.Run("find columns", func(t *testing.T) { checkFindColumns(t, r, want) })
	t.Run("where", func(t *testing.T) { checkWhere(t, r, want) })
	t.Run("summaries", func(t *testing.T) { checkSummaries(t, readSummaries(t, r), wantSummaries(want)) })
}

func checkMeta(t *testing.T, meta *schema.BlockMeta, want ptrace.Traces) {
	ids := wantTraceIDs(want)
	var first, last uint64
	for i, s := range wantSpans(t, want) {
		lo, hi := min(s.start, s.end), max(s.start, s.end)
		if i == 0 || lo < first {
			first = lo
		}
		last = max(last, hi)
	}
	got := fmt.Sprintf("%d spans, %d traces, IDs %s to %s, times %s to %s",
		meta.TotalSpans, meta.TotalTraces, meta.MinTraceID, meta.MaxTraceID, meta.MinStart.UTC(), meta.MaxEnd.UTC())
	w := fmt.Sprintf("%d spans, %d traces, IDs %x to %x, times %s to %s",
		want.SpanCount(), len(ids), ids[0][:], ids[len(ids)-1][:], time.Unix(0, int64(first)).UTC(), time.Unix(0, int64(last)).UTC())
	if got != w {
		t.Errorf("meta:\n got %s\nwant %s", got, w)
	}
}

// checkIterate: every row, whole, in block order, and the summary of each
// trace on its first row (format v2 on).
func checkIterate(t *testing.T, r *block.Reader, want ptrace.Traces) {
	ctx := context.Background()
	summaries := wantSummaries(want)
	v1 := r.Meta().Format == schema.BlockFormatV1
	var rows []schema.SpanRow
	if err := r.Iterate(ctx, func(row *schema.SpanRow) error {
		firstOfTrace := len(rows) == 0 || rows[len(rows)-1].TraceID != row.TraceID
		switch {
		case len(rows) > 0 && schema.CompareRows(&rows[len(rows)-1], row) >= 0:
			t.Errorf("row %d is not after the row before it", len(rows))
		case v1 && row.Trace != nil:
			t.Errorf("row %d of a v1 block has a trace summary", len(rows))
		case !v1 && firstOfTrace && (row.Trace == nil || *row.Trace != summaries[row.TraceID]):
			t.Errorf("row %d, first of trace %x: summary %+v, want %+v", len(rows), row.TraceID, row.Trace, summaries[row.TraceID])
		case !v1 && !firstOfTrace && row.Trace != nil:
			t.Errorf("row %d, not the first of trace %x, has a summary", len(rows), row.TraceID)
		}
		rows = append(rows, *row)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	checkSpans(t, "Iterate", rows, spantest.All(t, want))

	var whole []schema.SpanRow
	if err := r.Scan(ctx, block.ScanOptions{Columns: block.Whole}, func(row *schema.SpanRow) error {
		whole = append(whole, *row)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	checkSpans(t, "Scan of Whole", whole, spantest.All(t, want))
}

// checkSpans checks that rows are the spans want renders (spantest.All).
func checkSpans(t *testing.T, what string, rows []schema.SpanRow, want []string) {
	t.Helper()
	td, err := schema.TracesFromRows(rows)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	checkStrings(t, what, spantest.All(t, td), want)
}

// checkStrings reports the first difference of got and want.
func checkStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s: %d items, want %d; item %d:\n got %s\nwant %s", what, len(got), len(want), i, got[i], want[i])
			return
		}
	}
	t.Errorf("%s: %d items, want %d", what, len(got), len(want))
}

// checkFind: FindTraces of each trace alone, and FindTraceRows of them all
// at once, with an ID the block does not hold.
func checkFind(t *testing.T, r *block.Reader, want ptrace.Traces) {
	ctx := context.Background()
	byTrace := spantest.ByTrace(t, want)
	ids := wantTraceIDs(want)
	for _, id := range ids {
		calls := 0
		if err := r.FindTraces(ctx, []pcommon.TraceID{id}, func(got pcommon.TraceID, td ptrace.Traces) error {
			calls++
			if got != id {
				t.Errorf("lookup of %s: called with %s", id, got)
			}
			checkStrings(t, fmt.Sprintf("FindTraces of %s", id), spantest.All(t, td), byTrace[id])
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if calls != 1 {
			t.Errorf("lookup of %s: %d calls, want 1", id, calls)
		}
	}
	var order []pcommon.TraceID
	var rows []schema.SpanRow
	asked := append([]pcommon.TraceID{{0xff, 0xfe}}, ids...)
	if err := r.FindTraceRows(ctx, asked, func(id pcommon.TraceID, found []schema.SpanRow) error {
		order = append(order, id)
		for i := range found {
			if found[i].TraceID != id || i > 0 && schema.CompareRows(&found[i-1], &found[i]) >= 0 {
				t.Errorf("trace %s: row %d of trace %x, or out of order", id, i, found[i].TraceID)
			}
		}
		rows = append(rows, found...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, ids) {
		t.Errorf("FindTraceRows called with %v, want %v", order, ids)
	}
	checkSpans(t, "FindTraceRows", rows, spantest.All(t, want))
}

// searchRow is what a projection reads of a span: its flat columns and its
// attribute lists as OTLP JSON (attrsJSON), comparable with ==.
type searchRow struct {
	traceID                                         [16]byte
	spanID, parentSpanID                            [8]byte
	start                                           uint64
	duration                                        int64
	name                                            string
	kind, statusCode                                int32
	statusMessage, serviceName, httpMethod, httpURL string
	attrs, resourceAttrs                            string
}

// allSearchColumns are the flags of every column but Whole.
const allSearchColumns = block.SpanIDs | block.Name | block.Kind | block.Duration | block.Status |
	block.ServiceName | block.SpanAttrs | block.ResourceAttrs | block.HTTPMethod | block.HTTPURL

// project keeps of s what cols reads, with only the attributes keys names
// (all if nil).
func (s wantSpan) project(t *testing.T, cols block.Columns, keys []string) searchRow {
	t.Helper()
	p := searchRow{traceID: s.traceID, start: s.start}
	if cols&block.SpanIDs != 0 {
		p.spanID, p.parentSpanID = s.spanID, s.parentSpanID
	}
	if cols&block.Name != 0 {
		p.name = s.span.Name()
	}
	if cols&block.Kind != 0 {
		p.kind = int32(s.span.Kind())
	}
	if cols&block.Duration != 0 {
		p.duration = int64(s.end - s.start)
	}
	if cols&block.Status != 0 {
		p.statusCode, p.statusMessage = int32(s.span.Status().Code()), s.span.Status().Message()
	}
	if cols&block.ServiceName != 0 {
		p.serviceName = strAttr(s.resource, "service.name")
	}
	if cols&block.HTTPMethod != 0 {
		p.httpMethod = strAttr(s.span.Attributes(), "http.request.method", "http.method")
	}
	if cols&block.HTTPURL != 0 {
		p.httpURL = strAttr(s.span.Attributes(), "url.full", "http.url")
	}
	if cols&block.SpanAttrs != 0 {
		p.attrs = attrsJSON(t, s.span.Attributes(), keys)
	}
	if cols&block.ResourceAttrs != 0 {
		p.resourceAttrs = attrsJSON(t, s.resource, keys)
	}
	return p
}

// readSearchRow is what row holds of a searchRow, its attribute lists
// made OTLP by the reader's own decoding.
func readSearchRow(t *testing.T, row *schema.SpanRow, cols block.Columns) searchRow {
	t.Helper()
	p := searchRow{
		traceID: row.TraceID, spanID: row.SpanID, parentSpanID: row.ParentSpanID, start: row.StartUnixNano,
		duration: row.DurationNano, name: row.Name, kind: row.Kind, statusCode: row.StatusCode,
		statusMessage: row.StatusMessage, serviceName: row.ServiceName, httpMethod: row.HTTPMethod, httpURL: row.HTTPURL,
	}
	if cols&(block.SpanAttrs|block.ResourceAttrs) != 0 {
		td, err := schema.TracesFromRows([]schema.SpanRow{{Attrs: row.Attrs, ResourceAttrs: row.ResourceAttrs}})
		if err != nil {
			t.Fatalf("attributes of trace %x: %v", row.TraceID, err)
		}
		rs := td.ResourceSpans().At(0)
		if cols&block.SpanAttrs != 0 {
			p.attrs = attrsJSON(t, rs.ScopeSpans().At(0).Spans().At(0).Attributes(), nil)
		} else if len(row.Attrs) > 0 {
			t.Errorf("trace %x: span attributes read without SpanAttrs", row.TraceID)
		}
		if cols&block.ResourceAttrs != 0 {
			p.resourceAttrs = attrsJSON(t, rs.Resource().Attributes(), nil)
		} else if len(row.ResourceAttrs) > 0 {
			t.Errorf("trace %x: resource attributes read without ResourceAttrs", row.TraceID)
		}
	}
	return p
}

// attrsJSON renders those attributes of m that keys names (all if nil),
// in their order, as OTLP JSON, which keeps each value's type.
func attrsJSON(t *testing.T, m pcommon.Map, keys []string) string {
	t.Helper()
	td := ptrace.NewTraces()
	dst := td.ResourceSpans().AppendEmpty().Resource().Attributes()
	for k, v := range m.All() {
		if keys == nil || slices.Contains(keys, k) {
			v.CopyTo(dst.PutEmpty(k))
		}
	}
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// strAttr returns the value of the first of keys that m holds as a
// string, as a search column takes it.
func strAttr(m pcommon.Map, keys ...string) string {
	for _, k := range keys {
		if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
			return v.Str()
		}
	}
	return ""
}

// scanCases are the projections checked: every column, some, the
// resource's attributes alone; with every attribute or some keys (of
// resources, scopes, spans, and none).
var scanCases = []struct {
	cols block.Columns
	keys []string
}{
	{allSearchColumns, nil},
	{allSearchColumns, []string{"service.name", "res.int", "res.map", "process.pid", "span.bytes", "app.tags", "app.ratio", "no.such.key"}},
	{block.ResourceAttrs | block.SpanAttrs | block.ServiceName | block.Name, nil},
	{block.ResourceAttrs, nil},
	{block.ResourceAttrs, []string{"deployment.environment.name", "feature.enabled", "host.id", "res.bytes.empty", "res.array"}},
	{block.ResourceAttrs | block.Duration, []string{}},
	{0, nil},
}

// checkScan: Scan reads of each span what its Columns ask for, with the
// attributes its keys name.
func checkScan(t *testing.T, r *block.Reader, want ptrace.Traces) {
	spans := wantSpans(t, want)
	for _, c := range scanCases {
		var got []searchRow
		if err := r.Scan(context.Background(), block.ScanOptions{Columns: c.cols, AttributeKeys: c.keys}, func(row *schema.SpanRow) error {
			got = append(got, readSearchRow(t, row, c.cols))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		checkSearchRows(t, fmt.Sprintf("Scan of %b, keys %q", c.cols, c.keys), got, spans, c.cols, c.keys)
	}
}

func checkSearchRows(t *testing.T, what string, got []searchRow, spans []wantSpan, cols block.Columns, keys []string) {
	t.Helper()
	if len(got) != len(spans) {
		t.Errorf("%s: %d rows, want %d", what, len(got), len(spans))
	}
	for i := range min(len(got), len(spans)) {
		if w := spans[i].project(t, cols, keys); got[i] != w {
			t.Errorf("%s: row %d:\n got %+v\nwant %+v", what, i, got[i], w)
			return
		}
	}
}

// checkFindColumns: FindTraceColumns and ScanTraces read of each trace's
// spans what Scan does.
func checkFindColumns(t *testing.T, r *block.Reader, want ptrace.Traces) {
	ctx := context.Background()
	spans := wantSpans(t, want)
	ids := append(wantTraceIDs(want), pcommon.TraceID{0xff, 0xfe})
	for _, c := range scanCases {
		for name, find := range map[string]func(block.Columns, []string, []pcommon.TraceID, func(pcommon.TraceID, []schema.SpanRow) error) error{
			"FindTraceColumns": func(cols block.Columns, keys []string, ids []pcommon.TraceID, fn func(pcommon.TraceID, []schema.SpanRow) error) error {
				return r.FindTraceColumns(ctx, cols, keys, ids, fn)
			},
			"ScanTraces": func(cols block.Columns, keys []string, ids []pcommon.TraceID, fn func(pcommon.TraceID, []schema.SpanRow) error) error {
				return r.ScanTraces(ctx, cols, keys, ids, fn)
			},
		} {
			var got []searchRow
			if err := find(c.cols, c.keys, ids, func(id pcommon.TraceID, rows []schema.SpanRow) error {
				for i := range rows {
					if rows[i].TraceID != id {
						t.Errorf("%s of %s: a row of trace %x", name, id, rows[i].TraceID)
					}
					got = append(got, readSearchRow(t, &rows[i], c.cols))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			checkSearchRows(t, fmt.Sprintf("%s of %b, keys %q", name, c.cols, c.keys), got, spans, c.cols, c.keys)
		}
	}
}

// whereCase is a set of row tests, and what they test on OTLP: whether a
// span with resource attributes res passes.
type whereCase struct {
	name  string
	tests []block.RowTest
	match func(res pcommon.Map, span ptrace.Span) bool
}

// firstAttr returns the attribute key of list, which a RowTest's Keep
// sees alone, or nil.
func firstAttr(list []schema.Attribute, key string) *schema.Attribute {
	for i := range list {
		if list[i].Key == key {
			return &list[i]
		}
	}
	return nil
}

var whereCases = []whereCase{
	{
		name: "canary resources",
		tests: []block.RowTest{{Column: schema.ColumnResourceAttrs, Key: "deployment.environment.name", Values: block.AttrStr, Keep: func(r *schema.SpanRow) bool {
			a := firstAttr(r.ResourceAttrs, "deployment.environment.name")
			return a != nil && a.Str != nil && *a.Str == "canary"
		}}},
		match: func(res pcommon.Map, _ ptrace.Span) bool {
			return strAttr(res, "deployment.environment.name") == "canary"
		},
	},
	{
		name: "spans retried 3 times",
		tests: []block.RowTest{{Column: schema.ColumnAttrs, Key: "app.retries", Keep: func(r *schema.SpanRow) bool {
			a := firstAttr(r.Attrs, "app.retries")
			return a != nil && a.Int != nil && *a.Int == 3
		}}},
		match: func(_ pcommon.Map, span ptrace.Span) bool {
			v, ok := span.Attributes().Get("app.retries")
			return ok && v.Type() == pcommon.ValueTypeInt && v.Int() == 3
		},
	},
	{
		name: "spans cached, of resources with a feature off",
		tests: []block.RowTest{
			{Column: schema.ColumnResourceAttrs, Key: "feature.enabled", Values: block.AttrBool, Keep: func(r *schema.SpanRow) bool {
				a := firstAttr(r.ResourceAttrs, "feature.enabled")
				return a != nil && a.Bool != nil && !*a.Bool
			}},
			{Column: schema.ColumnAttrs, Key: "app.cached", Values: block.AttrBool, Keep: func(r *schema.SpanRow) bool {
				a := firstAttr(r.Attrs, "app.cached")
				return a != nil && a.Bool != nil && *a.Bool
			}},
		},
		match: func(res pcommon.Map, span ptrace.Span) bool {
			f, ok := res.Get("feature.enabled")
			c, ok2 := span.Attributes().Get("app.cached")
			return ok && f.Type() == pcommon.ValueTypeBool && !f.Bool() && ok2 && c.Type() == pcommon.ValueTypeBool && c.Bool()
		},
	},
	{
		name: "a service named by a number",
		tests: []block.RowTest{{Column: schema.ColumnResourceAttrs, Key: "service.name", Keep: func(r *schema.SpanRow) bool {
			a := firstAttr(r.ResourceAttrs, "service.name")
			return a != nil && a.Int != nil
		}}},
		match: func(res pcommon.Map, _ ptrace.Span) bool {
			v, ok := res.Get("service.name")
			return ok && v.Type() == pcommon.ValueTypeInt
		},
	},
	{
		name: "checkout spans without a payload, of a double ratio over 2",
		tests: []block.RowTest{
			{Column: schema.ColumnServiceName, Keep: func(r *schema.SpanRow) bool { return r.ServiceName == "checkout" }},
			{Column: schema.ColumnAttrs, Key: "app.payload", Keep: func(r *schema.SpanRow) bool { return firstAttr(r.Attrs, "app.payload") == nil }},
			{Column: schema.ColumnAttrs, Key: "app.ratio", Values: block.AttrDouble, Keep: func(r *schema.SpanRow) bool {
				a := firstAttr(r.Attrs, "app.ratio")
				return a != nil && a.Double != nil && *a.Double > 2
			}},
		},
		match: func(res pcommon.Map, span ptrace.Span) bool {
			_, payload := span.Attributes().Get("app.payload")
			v, ok := span.Attributes().Get("app.ratio")
			return strAttr(res, "service.name") == "checkout" && !payload && ok && v.Type() == pcommon.ValueTypeDouble && v.Double() > 2
		},
	},
	{
		// A row test reads no bytes value (see RowTest.Values), but the key.
		name: "resources with a bytes host.id",
		tests: []block.RowTest{{Column: schema.ColumnResourceAttrs, Key: "host.id", Keep: func(r *schema.SpanRow) bool {
			a := firstAttr(r.ResourceAttrs, "host.id")
			return a != nil && a.Str == nil && a.Int == nil && a.Double == nil && a.Bool == nil
		}}},
		match: func(res pcommon.Map, _ ptrace.Span) bool {
			v, ok := res.Get("host.id")
			return ok && v.Type() == pcommon.ValueTypeBytes
		},
	},
	{
		name: "no span",
		tests: []block.RowTest{{Column: schema.ColumnAttrs, Key: "no.such.key", Keep: func(r *schema.SpanRow) bool {
			return firstAttr(r.Attrs, "no.such.key") != nil
		}}},
		match: func(pcommon.Map, ptrace.Span) bool { return false },
	},
}

// checkWhere: Scan's Where keeps exactly the spans that pass its tests,
// and TracesWhere names exactly their traces (a v1 block answers false:
// it has no summaries to find traces by).
func checkWhere(t *testing.T, r *block.Reader, want ptrace.Traces) {
	ctx := context.Background()
	spans := wantSpans(t, want)
	for _, c := range whereCases {
		var passed []wantSpan
		var traces []pcommon.TraceID
		for _, s := range spans {
			if c.match(s.resource, s.span) {
				passed = append(passed, s)
				if n := len(traces); n == 0 || traces[n-1] != s.traceID {
					traces = append(traces, s.traceID)
				}
			}
		}
		var got []searchRow
		if err := r.Scan(ctx, block.ScanOptions{Columns: allSearchColumns, Where: c.tests}, func(row *schema.SpanRow) error {
			got = append(got, readSearchRow(t, row, allSearchColumns))
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		checkSearchRows(t, "Scan where "+c.name, got, passed, allSearchColumns, nil)
		t.Logf("%s: %d of %d spans, of %d traces", c.name, len(passed), len(spans), len(traces))

		var ids []pcommon.TraceID
		ok, err := r.TracesWhere(ctx, c.tests, nil, func(id [16]byte) error {
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: TracesWhere: %v", c.name, err)
		}
		if v1 := r.Meta().Format == schema.BlockFormatV1; ok == v1 || v1 && len(ids) > 0 {
			t.Errorf("%s: TracesWhere of a block of format %s answered %v with %d traces", c.name, r.Meta().Format, ok, len(ids))
		} else if !v1 && !slices.Equal(ids, traces) {
			t.Errorf("%s: TracesWhere gave traces %v, want %v", c.name, ids, traces)
		}
	}
}

// wantSpan is a span of the traces a block was written from, with its
// resource's attributes.
type wantSpan struct {
	traceID              [16]byte
	spanID, parentSpanID [8]byte
	start, end           uint64
	span                 ptrace.Span
	resource             pcommon.Map
}

// wantSpans returns the spans of td in block order.
func wantSpans(t *testing.T, td ptrace.Traces) []wantSpan {
	t.Helper()
	var out []wantSpan
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				out = append(out, wantSpan{
					traceID: span.TraceID(), spanID: span.SpanID(), parentSpanID: span.ParentSpanID(),
					start: uint64(span.StartTimestamp()), end: uint64(span.EndTimestamp()),
					span: span, resource: rs.Resource().Attributes(),
				})
			}
		}
	}
	slices.SortFunc(out, func(a, b wantSpan) int {
		return cmp.Or(bytes.Compare(a.traceID[:], b.traceID[:]), cmp.Compare(a.start, b.start), bytes.Compare(a.spanID[:], b.spanID[:]))
	})
	seen := map[[24]byte]bool{}
	for _, s := range out {
		key := [24]byte(append(s.traceID[:], s.spanID[:]...))
		if seen[key] {
			t.Fatalf("span %x of trace %x twice: a block keeps one", s.spanID, s.traceID)
		}
		seen[key] = true
	}
	return out
}

// wantTraceIDs returns the trace IDs of td, sorted.
func wantTraceIDs(td ptrace.Traces) []pcommon.TraceID {
	var ids []pcommon.TraceID
	for _, span := range spantest.Spans(td) {
		ids = append(ids, span.TraceID())
	}
	slices.SortFunc(ids, func(a, b pcommon.TraceID) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(ids)
}
