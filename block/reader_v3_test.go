package block_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// TestV3CorruptResourceIsAnError: a format v3 block whose resource column
// holds a value this package did not write fails every read that decodes
// it with an error, and panics in none.
func TestV3CorruptResourceIsAnError(t *testing.T) {
	good := schema.AppendResourceScope(nil, &schema.ResourceScope{
		Attrs: []schema.Attribute{{Key: "service.name", Str: ptr("checkout")}}, ScopeName: "net/http",
	})
	for name, bad := range map[string][]byte{
		"garbage":   {0xff, 0xff},
		"truncated": good[:len(good)-3],
		"empty":     {},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			id := pcommon.TraceID{1}
			r := writeV3Rows(t, []schema.SpanRowV3{
				{TraceID: id, SpanID: [8]byte{1}, StartUnixNano: 1, Resource: good, Trace: &schema.TraceSummary{ID: id, Spans: 3}},
				{TraceID: id, SpanID: [8]byte{2}, StartUnixNano: 2, Resource: bad},
				{TraceID: id, SpanID: [8]byte{3}, StartUnixNano: 3, Resource: good},
			})
			resourceTest := []block.RowTest{{Column: schema.ColumnResourceAttrs, Key: "service.name", Keep: func(*schema.SpanRow) bool { return true }}}
			ids := []pcommon.TraceID{id}
			rows := func(pcommon.TraceID, []schema.SpanRow) error { return nil }
			row := func(*schema.SpanRow) error { return nil }
			for what, read := range map[string]func() error{
				"Iterate":       func() error { return r.Iterate(ctx, row) },
				"Scan of Whole": func() error { return r.Scan(ctx, block.ScanOptions{Columns: block.Whole}, row) },
				"Scan":          func() error { return r.Scan(ctx, block.ScanOptions{Columns: block.ResourceAttrs}, row) },
				"Scan of some keys": func() error {
					return r.Scan(ctx, block.ScanOptions{Columns: block.ResourceAttrs, AttributeKeys: []string{"service.name"}}, row)
				},
				"Scan where": func() error { return r.Scan(ctx, block.ScanOptions{Where: resourceTest}, row) },
				"TracesWhere": func() error {
					_, err := r.TracesWhere(ctx, resourceTest, nil, func([16]byte) error { return nil })
					return err
				},
				"FindTraceRows":       func() error { return r.FindTraceRows(ctx, ids, rows) },
				"FindTraceColumns":    func() error { return r.FindTraceColumns(ctx, block.ResourceAttrs, nil, ids, rows) },
				"ScanTraces":          func() error { return r.ScanTraces(ctx, block.ResourceAttrs, nil, ids, rows) },
				"ScanTraces of Whole": func() error { return r.ScanTraces(ctx, block.Whole, nil, ids, rows) },
			} {
				switch panicked, err := noPanic(read); {
				case panicked != nil:
					t.Errorf("%s: panic: %v", what, panicked)
				case err == nil:
					t.Errorf("%s: no error", what)
				}
			}
		})
	}
}

// noPanic returns what read returns, or what it panicked with.
func noPanic(read func() error) (panicked any, err error) {
	defer func() { panicked = recover() }()
	return nil, read()
}

func ptr[T any](v T) *T { return &v }

// writeV3Rows writes rows, in block order, as the data of a format v3
// block, and opens it.
func writeV3Rows(t *testing.T, rows []schema.SpanRowV3) *block.Reader {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[schema.SpanRowV3](&buf,
		parquet.BloomFilters(parquet.SplitBlockFilter(10, schema.ColumnTraceID)),
		parquet.KeyValueMetadata("spanlog.format", schema.BlockFormatV3))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ranges := []schema.OffsetRange{{Partition: 1, Start: 0, End: 1}}
	meta := &schema.BlockMeta{
		Format: schema.BlockFormatV3, Tenant: "t", BlockID: schema.BlockID("t", ranges),
		KafkaRanges: ranges, Size: int64(buf.Len()),
	}
	bkt := newDir(t)
	if err := bkt.Upload(context.Background(), block.DataName(meta.Tenant, meta.BlockID), &buf); err != nil {
		t.Fatal(err)
	}
	return openReader(t, objstore.Bucket(bkt), meta)
}

// TestV3PlainResourceColumnReadsAsWritten: a v3 block whose resource
// column outgrows its dictionary, and goes on in plain pages, reads as
// one whose column is all dictionary-encoded: as written. Row tests on
// resource attributes, which test each value of a dictionary once, test
// each row of a plain page.
func TestV3PlainResourceColumnReadsAsWritten(t *testing.T) {
	_, _, fixture := openFixture(t, "v2", schema.BlockFormatV2)
	want := concatTraces(fixture, genTraces(rand.New(rand.NewPCG(43, 44)), 20))
	// Row groups of several pages of the resource column, the writer
	// cutting a page at most every 64 rows: the first page of a group
	// is dictionary-encoded, and fills the dictionary.
	opts := block.Options{RowsPerRowGroup: 150, PageBufferSizeBytes: 64, DictionaryMaxBytes: 1}
	bkt := newDir(t)
	r := writeBlock(t, bkt, opts, want)
	if r.Meta().Format != schema.BlockFormatV3 {
		t.Fatalf("format %q, want %q", r.Meta().Format, schema.BlockFormatV3)
	}
	_, f := openData(t, bkt, r.Meta())
	col, _ := f.Schema().Lookup(schema.ColumnResource)
	var dict, plain int
	for _, rg := range f.RowGroups() {
		pages := rg.ColumnChunks()[col.ColumnIndex].Pages()
		for {
			p, err := pages.ReadPage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Dictionary() != nil {
				dict++
			} else {
				plain++
			}
		}
		pages.Close()
	}
	if dict == 0 || plain == 0 {
		t.Fatalf("%d dictionary-encoded pages of the resource column and %d plain ones; want some of each", dict, plain)
	}
	t.Logf("%d dictionary-encoded pages of the resource column, %d plain", dict, plain)
	checkReadsAsWritten(t, r, want)
}

// TestV3ManyResourcesReadAsWritten: a v3 block of more distinct resources
// than a read keeps decoded (1 MiB of them) reads as written: those
// forgotten are decoded again, and so are the attributes that attribute
// keys keep of them.
func TestV3ManyResourcesReadAsWritten(t *testing.T) {
	want := genTraces(rand.New(rand.NewPCG(45, 46)), 60)
	blob := strings.Repeat("x", 6<<10)
	for i, rs := range want.ResourceSpans().All() {
		rs.Resource().Attributes().PutStr("res.blob", fmt.Sprintf("%d %s", i, blob))
	}
	if n := want.ResourceSpans().Len(); n*len(blob) < 2<<20 {
		t.Fatalf("%d resources of %d bytes: not over 2 MiB", n, len(blob))
	}
	checkReadsAsWritten(t, writeBlock(t, newDir(t), smallOptions(), want), want)
}

// TestV3RowsShareNoWritableResource: the resource and scope attributes
// of a v3 block's rows, which rows of one resource share, have no room
// to append to: a caller's append copies them rather than writing into
// another row's.
func TestV3RowsShareNoWritableResource(t *testing.T) {
	ctx := context.Background()
	_, _, want := openFixture(t, "v2", schema.BlockFormatV2)
	r := writeBlock(t, newDir(t), v2FixtureOptions, want)
	check := func(what string, row *schema.SpanRow) {
		if cap(row.ResourceAttrs) != len(row.ResourceAttrs) || cap(row.ScopeAttrs) != len(row.ScopeAttrs) {
			t.Errorf("%s: a span of trace %x: resource attributes %d of capacity %d, scope's %d of %d", what, row.TraceID,
				len(row.ResourceAttrs), cap(row.ResourceAttrs), len(row.ScopeAttrs), cap(row.ScopeAttrs))
		}
	}
	ids := wantTraceIDs(want)
	for _, keys := range [][]string{nil, {"service.name", "res.int"}} {
		err := r.Scan(ctx, block.ScanOptions{Columns: block.ResourceAttrs, AttributeKeys: keys}, func(row *schema.SpanRow) error {
			check(fmt.Sprintf("Scan of keys %q", keys), row)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = r.FindTraceColumns(ctx, block.ResourceAttrs, keys, ids, func(_ pcommon.TraceID, rows []schema.SpanRow) error {
			for i := range rows {
				check(fmt.Sprintf("FindTraceColumns of keys %q", keys), &rows[i])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Iterate(ctx, func(row *schema.SpanRow) error {
		check("Iterate", row)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.FindTraceRows(ctx, ids, func(_ pcommon.TraceID, rows []schema.SpanRow) error {
		for i := range rows {
			check("FindTraceRows", &rows[i])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
