package block_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// soundBlocks writes a block-builder's block and the block of a merge of
// two, of tenant "t", and returns their metas.
func soundBlocks(t *testing.T, bkt objstore.Bucket) []*schema.BlockMeta {
	t.Helper()
	rng := rand.New(rand.NewPCG(41, 42))
	parts := scatter(rng, genTraces(rng, 120), 2)
	a := writeInput(t, bkt, parts[0], partRange(0, 100))
	b := writeInput(t, bkt, parts[1], partRange(100, 200))
	merged, err := block.Compact(context.Background(), bkt, []*schema.BlockMeta{a, b}, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	return []*schema.BlockMeta{a, merged}
}

func verify(t *testing.T, bkt objstore.Bucket, meta *schema.BlockMeta) *block.Verification {
	t.Helper()
	v, err := block.Verify(context.Background(), bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Blocks as the builder and a merge write them, on a local directory and
// on MinIO, and a block of format v1, which has neither a checksum nor
// trace summaries, verify without a discrepancy.
func TestVerifySoundBlocks(t *testing.T) {
	for name, newBucket := range miniotest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			bkt := newBucket(t)
			for _, meta := range soundBlocks(t, bkt) {
				v := verify(t, bkt, meta)
				if !v.OK() {
					t.Errorf("level %d block: %v", meta.CompactionLevel, v.Discrepancies)
				}
				if !v.ChecksumChecked || v.DataCRC32C != meta.DataCRC32C || v.Size != meta.Size {
					t.Errorf("level %d block: checksum checked %v, %s of %d bytes; meta %s of %d bytes",
						meta.CompactionLevel, v.ChecksumChecked, v.DataCRC32C, v.Size, meta.DataCRC32C, meta.Size)
				}
				if v.Spans != meta.TotalSpans || v.Traces != meta.TotalTraces || v.RowGroups < 2 {
					t.Errorf("level %d block: counted %d spans, %d traces in %d row groups; meta %d, %d",
						meta.CompactionLevel, v.Spans, v.Traces, v.RowGroups, meta.TotalSpans, meta.TotalTraces)
				}
			}
		})
	}
	t.Run("v1", func(t *testing.T) {
		bkt, meta := v1Fixture(t)
		v := verify(t, bkt, meta)
		if !v.OK() || v.ChecksumChecked || v.Spans != meta.TotalSpans {
			t.Errorf("v1 block: %+v", v)
		}
	})
}

// Verify reads a block in a few requests per row group, however many
// traces it checks against the bloom filters: on S3 a request per trace
// would take hours for a large block.
func TestVerifyReadsFewTimes(t *testing.T) {
	bkt := &countingBucket{Bucket: newDir(t)}
	meta := soundBlocks(t, bkt)[1]
	r, err := block.Open(context.Background(), bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	groups := r.RowGroups()
	r.Close()
	bkt.reads.Store(0)
	if v := verify(t, bkt, meta); !v.OK() {
		t.Fatal(v.Discrepancies)
	}
	// The footer, the bloom filters, and each group's column chunks.
	if reads := bkt.reads.Load(); reads > int64(5+2*groups) {
		t.Errorf("verifying %d traces in %d row groups took %d reads", meta.TotalTraces, groups, reads)
	}
}

// v1Fixture returns the bucket and meta of the format v1 block of
// testdata.
func v1Fixture(t *testing.T) (objstore.Bucket, *schema.BlockMeta) {
	t.Helper()
	bkt, err := objstore.NewDir(filepath.Join("testdata", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := block.ListBlocks(context.Background(), bkt, "fixture")
	if err != nil || len(ids) != 1 {
		t.Fatalf("fixture blocks %v: %v", ids, err)
	}
	meta, err := block.ReadMeta(context.Background(), bkt, "fixture", ids[0])
	if err != nil {
		t.Fatal(err)
	}
	return bkt, meta
}

// A block whose meta was edited, or whose data object was damaged,
// replaced or lost, fails verification, naming what differs.
func TestVerifyFindsDiscrepancies(t *testing.T) {
	srcPath := t.TempDir()
	src, err := objstore.NewDir(srcPath)
	if err != nil {
		t.Fatal(err)
	}
	sound := soundBlocks(t, src)
	for _, tc := range []struct {
		name string
		// edit changes the meta, or the data object, given as bytes;
		// it returns the data to upload, or nil to delete it.
		editMeta func(m *schema.BlockMeta)
		editData func(data []byte, file *parquet.File) []byte
		// want are the fields that must be reported.
		want []string
	}{
		{name: "span count", editMeta: func(m *schema.BlockMeta) { m.TotalSpans++ }, want: []string{"totalSpans"}},
		{name: "trace count", editMeta: func(m *schema.BlockMeta) { m.TotalTraces-- }, want: []string{"totalTraces"}},
		{name: "start time", editMeta: func(m *schema.BlockMeta) { m.MinStart = m.MinStart.Add(time.Second) }, want: []string{"startTime"}},
		{name: "end time", editMeta: func(m *schema.BlockMeta) { m.MaxEnd = m.MaxEnd.Add(-time.Nanosecond) }, want: []string{"endTime"}},
		{name: "min trace ID", editMeta: func(m *schema.BlockMeta) { m.MinTraceID = strings.Repeat("0", 32) }, want: []string{"minTraceID"}},
		{name: "max trace ID", editMeta: func(m *schema.BlockMeta) { m.MaxTraceID = strings.Repeat("f", 32) }, want: []string{"maxTraceID"}},
		{name: "offsets", editMeta: func(m *schema.BlockMeta) { m.KafkaRanges[0].End++ }, want: []string{"kafkaRanges"}},
		{name: "no offsets", editMeta: func(m *schema.BlockMeta) { m.KafkaRanges = nil }, want: []string{"kafkaRanges"}},
		{name: "size", editMeta: func(m *schema.BlockMeta) { m.Size-- }, want: []string{"size"}},
		{name: "checksum", editMeta: func(m *schema.BlockMeta) { m.DataCRC32C = "00000000" }, want: []string{"dataCRC32C"}},
		{
			name: "byte flipped in the footer",
			editData: func(data []byte, _ *parquet.File) []byte {
				data[len(data)-100] ^= 0x01
				return data
			},
			want: []string{"dataCRC32C"},
		},
		{
			// Parquet's page checksums do not cover bloom filters, and a
			// filter that rules out a trace it holds hides the trace from
			// every lookup: only the object's checksum, and the check of
			// every trace against its filter, see it.
			name: "bloom filter zeroed",
			editData: func(data []byte, f *parquet.File) []byte {
				c := f.Metadata().RowGroups[0].Columns[0].MetaData
				filter := data[c.BloomFilterOffset+int64(c.BloomFilterLength)-256 : c.BloomFilterOffset+int64(c.BloomFilterLength)]
				clear(filter)
				return data
			},
			want: []string{"dataCRC32C", "bloomFilter"},
		},
		{
			name: "byte flipped in a page",
			editData: func(data []byte, f *parquet.File) []byte {
				c := f.Metadata().RowGroups[1].Columns[0].MetaData
				data[c.DataPageOffset+c.TotalCompressedSize-1] ^= 0x40
				return data
			},
			want: []string{"dataCRC32C", "rows"},
		},
		{
			name:     "truncated",
			editData: func(data []byte, _ *parquet.File) []byte { return data[:len(data)/2] },
			want:     []string{"size", "dataCRC32C", "data"},
		},
		{name: "lost", editData: func([]byte, *parquet.File) []byte { return nil }, want: []string{"data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each case damages a copy of the same blocks, written once.
			path := t.TempDir()
			if err := os.CopyFS(path, os.DirFS(srcPath)); err != nil {
				t.Fatal(err)
			}
			bkt, err := objstore.NewDir(path)
			if err != nil {
				t.Fatal(err)
			}
			meta := *sound[1]
			meta.KafkaRanges = slices.Clone(meta.KafkaRanges)
			if tc.editMeta != nil {
				tc.editMeta(&meta)
			}
			if tc.editData != nil {
				damage(t, bkt, &meta, tc.editData)
			}
			v := verify(t, bkt, &meta)
			var got []string
			for _, d := range v.Discrepancies {
				got = append(got, d.Field)
			}
			for _, want := range tc.want {
				if !slices.Contains(got, want) {
					t.Errorf("discrepancies %v lack %s", v.Discrepancies, want)
				}
			}
		})
	}
}

// openData reads meta's data object, and opens it as the Parquet file it is.
func openData(t *testing.T, bkt objstore.Bucket, meta *schema.BlockMeta) ([]byte, *parquet.File) {
	t.Helper()
	data, err := objstore.ReadAll(context.Background(), bkt, block.DataName(meta.Tenant, meta.BlockID))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return data, f
}

// damage replaces meta's data object with what edit makes of it, or
// deletes it if edit returns nil.
func damage(t *testing.T, bkt objstore.Bucket, meta *schema.BlockMeta, edit func([]byte, *parquet.File) []byte) {
	t.Helper()
	ctx := context.Background()
	name := block.DataName(meta.Tenant, meta.BlockID)
	data, f := openData(t, bkt, meta)
	var err error
	if data = edit(data, f); data == nil {
		err = bkt.Delete(ctx, name)
	} else {
		err = bkt.Upload(ctx, name, bytes.NewReader(data))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A block written before checksums existed still has its pages checked:
// a flipped byte in a page fails Parquet's page CRC as the rows are read.
func TestVerifyChecksPagesWithoutAChecksum(t *testing.T) {
	bkt := newDir(t)
	meta := soundBlocks(t, bkt)[0]
	meta.DataCRC32C = ""
	damage(t, bkt, meta, func(data []byte, f *parquet.File) []byte {
		c := f.Metadata().RowGroups[0].Columns[0].MetaData
		data[c.DataPageOffset+c.TotalCompressedSize-1] ^= 0x40
		return data
	})
	v := verify(t, bkt, meta)
	if v.ChecksumChecked || len(v.Discrepancies) == 0 || v.Discrepancies[0].Field != "rows" || !strings.Contains(v.Discrepancies[0].Detail, "crc32") {
		t.Errorf("discrepancies %v, want the page checksum's", v.Discrepancies)
	}
}

// A trace summary that disagrees with the spans of its trace is found: a
// search judges the trace by it.
func TestVerifyChecksSummaries(t *testing.T) {
	ctx := context.Background()
	bkt := newDir(t)
	meta := soundBlocks(t, bkt)[0]
	r, err := block.Open(ctx, bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	var rows []schema.SpanRow
	err = r.Iterate(ctx, func(row *schema.SpanRow) error {
		rows = append(rows, *row)
		return nil
	})
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	rows[0].Trace.Errors++
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[schema.SpanRow](&buf, parquet.KeyValueMetadata("spanlog.format", schema.BlockFormatV2))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bkt.Upload(ctx, block.DataName(meta.Tenant, meta.BlockID), bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	// Rewritten as format v2, which verify checks too.
	meta.Size, meta.DataCRC32C, meta.Format = int64(buf.Len()), "", schema.BlockFormatV2
	v := verify(t, bkt, meta)
	if len(v.Discrepancies) != 1 || v.Discrepancies[0].Field != "summaries" {
		t.Errorf("discrepancies %v, want one of the summaries", v.Discrepancies)
	}
}

// FileStats describes the row groups and columns of the footer as they
// are: rows, sizes that sum up to the columns', bounds that hold the
// meta's.
func TestFileStats(t *testing.T) {
	bkt := newDir(t)
	meta := soundBlocks(t, bkt)[1]
	r, err := block.Open(context.Background(), bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fs := r.FileStats()
	if fs.Rows != meta.TotalSpans || fs.Size != meta.Size || fs.Format != schema.BlockFormatV3 {
		t.Errorf("%d rows, %d bytes, format %q; meta %d spans, %d bytes", fs.Rows, fs.Size, fs.Format, meta.TotalSpans, meta.Size)
	}
	if want := int((meta.TotalSpans + 299) / 300); len(fs.RowGroups) != want {
		t.Fatalf("%d row groups, want %d", len(fs.RowGroups), want)
	}
	var rows, groupBytes, columnBytes int64
	for _, g := range fs.RowGroups {
		rows += g.Rows
		groupBytes += g.CompressedBytes
		if g.MinTraceID > g.MaxTraceID || g.MinStart.After(g.MaxStart) || g.MinStart.Before(meta.MinStart) ||
			g.MaxStart.After(meta.MaxEnd) || g.BloomFilterBytes == 0 || g.UncompressedBytes == 0 || g.MaxService == "" {
			t.Errorf("row group %+v", g)
		}
	}
	for _, c := range fs.Columns {
		columnBytes += c.CompressedBytes
	}
	if rows != meta.TotalSpans || groupBytes != columnBytes || groupBytes >= fs.Size {
		t.Errorf("row groups of %d rows and %d bytes, columns of %d bytes, file of %d", rows, groupBytes, columnBytes, fs.Size)
	}
	if fs.RowGroups[0].MinTraceID != meta.MinTraceID || fs.RowGroups[len(fs.RowGroups)-1].MaxTraceID != meta.MaxTraceID {
		t.Errorf("row groups' trace IDs from %s to %s; meta %s to %s", fs.RowGroups[0].MinTraceID,
			fs.RowGroups[len(fs.RowGroups)-1].MaxTraceID, meta.MinTraceID, meta.MaxTraceID)
	}
	paths := make([]string, len(fs.Columns))
	for i, c := range fs.Columns {
		paths[i] = c.Path
	}
	for _, want := range []string{schema.ColumnTraceID, schema.ColumnServiceName, "trace.root.name"} {
		if !slices.Contains(paths, want) {
			t.Errorf("columns %v lack %s", paths, want)
		}
	}
}
