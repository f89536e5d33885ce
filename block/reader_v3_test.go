package block_test

import (
	"bytes"
	"context"
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
