package block_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/schema"
)

// encodeFile returns the Parquet file of genTraces' rows written with
// opts, open.
func encodeFile(t *testing.T, opts block.Options) (*parquet.File, []byte) {
	t.Helper()
	rows := schema.DedupeRows(schema.AppendRows(nil, genTraces(rand.New(rand.NewPCG(5, 6)), 100)))
	slices.SortFunc(rows, func(x, y schema.SpanRow) int { return schema.CompareRows(&x, &y) })
	var buf bytes.Buffer
	if _, err := block.EncodeRows(&buf, opts, rows); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return f, buf.Bytes()
}

// TestPagesLeaveStatisticsToTheIndex checks that no data page's header
// holds a minimum or maximum, while the page index and the row groups'
// statistics, which readers use, hold theirs.
func TestPagesLeaveStatisticsToTheIndex(t *testing.T) {
	f, data := encodeFile(t, smallOptions())
	for g, rg := range f.RowGroups() {
		for c, cc := range rg.ColumnChunks() {
			chunk := cc.(*parquet.FileColumnChunk)
			offsets, err := chunk.OffsetIndex()
			if err != nil {
				t.Fatal(err)
			}
			for p := range offsets.NumPages() {
				var h format.PageHeader
				r := new(thrift.CompactProtocol).NewReader(bytes.NewReader(data[offsets.Offset(p):]))
				if err := thrift.NewDecoder(r).Decode(&h); err != nil {
					t.Fatalf("row group %d column %d page %d: %v", g, c, p, err)
				}
				if !h.DataPageHeader.Valid {
					t.Fatalf("row group %d column %d page %d is no version 1 data page", g, c, p)
				}
				if s := h.DataPageHeader.V.Statistics; s.MinValue != nil || s.MaxValue != nil || s.Min != nil || s.Max != nil {
					t.Fatalf("row group %d column %d page %d: header holds bounds %q to %q", g, c, p, s.MinValue, s.MaxValue)
				}
			}
		}
		for _, column := range []string{schema.ColumnTraceID, schema.ColumnName, schema.ColumnDuration} {
			col, _ := f.Schema().Lookup(column)
			chunk := rg.ColumnChunks()[col.ColumnIndex].(*parquet.FileColumnChunk)
			if _, _, ok := chunk.Bounds(); !ok {
				t.Errorf("row group %d: no bounds of %s", g, column)
			}
			index, err := chunk.ColumnIndex()
			if err != nil {
				t.Fatal(err)
			}
			for p := range index.NumPages() {
				if lo, hi := index.MinValue(p), index.MaxValue(p); lo.IsNull() || hi.IsNull() {
					t.Errorf("row group %d: page %d of %s has no bounds in the page index", g, p, column)
				}
			}
		}
	}
}

// TestCompressionLevels checks that a block written at any level holds
// what one at the default level does: the same schema, rows, sorting
// columns and metadata, each column compressed with the same codec. Only
// its size tells the levels apart.
func TestCompressionLevels(t *testing.T) {
	want, wantData := encodeFile(t, block.Options{CompressionLevel: block.CompressionDefault})
	wantRows := readRows(t, want)
	size := map[string]int{}
	for _, level := range []string{block.CompressionFastestRawLiterals, block.CompressionFastest, block.CompressionDefault, block.CompressionBetter} {
		f, data := encodeFile(t, block.Options{CompressionLevel: level})
		size[level] = len(data)
		if got, want := f.Schema().String(), want.Schema().String(); got != want {
			t.Errorf("%s: schema\n%s\nwant\n%s", level, got, want)
		}
		if got, want := f.Metadata().KeyValueMetadata, want.Metadata().KeyValueMetadata; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: key-value metadata %v, want %v", level, got, want)
		}
		for g, rg := range f.Metadata().RowGroups {
			if got, want := rg.SortingColumns, want.Metadata().RowGroups[g].SortingColumns; !reflect.DeepEqual(got, want) {
				t.Errorf("%s: row group %d sorted by %v, want %v", level, g, got, want)
			}
			for c, col := range rg.Columns {
				if got, want := col.MetaData.Codec, want.Metadata().RowGroups[g].Columns[c].MetaData.Codec; got != want {
					t.Errorf("%s: row group %d column %v compressed with %v, want %v", level, g, col.MetaData.PathInSchema, got, want)
				}
			}
		}
		if got := readRows(t, f); !reflect.DeepEqual(got, wantRows) {
			t.Errorf("%s: rows differ from the default level's", level)
		}
	}
	if size[block.CompressionDefault] != len(wantData) {
		t.Errorf("default level wrote %d bytes, then %d", len(wantData), size[block.CompressionDefault])
	}
	if !(size[block.CompressionFastestRawLiterals] > size[block.CompressionFastest] &&
		size[block.CompressionFastest] > size[block.CompressionDefault] &&
		size[block.CompressionDefault] > size[block.CompressionBetter]) {
		t.Errorf("sizes by level %v: want fastest-raw-literals > fastest > default > better", size)
	}
}

func readRows(t *testing.T, f *parquet.File) []schema.SpanRow {
	t.Helper()
	r := parquet.NewGenericReader[schema.SpanRow](f)
	defer r.Close()
	rows := make([]schema.SpanRow, f.NumRows())
	if n, err := r.Read(rows); n != len(rows) || (err != nil && !errors.Is(err, io.EOF)) {
		t.Fatalf("read %d rows of %d: %v", n, len(rows), err)
	}
	return rows
}
