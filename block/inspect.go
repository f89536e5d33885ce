package block

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/spanlog/spanlog/schema"
)

// FileStats is what the footer of a block's Parquet file says of it, for
// an operator looking into the block (spanlog blocks inspect): how its
// spans fall into row groups, where its bytes go, and the bounds of the
// columns lookups and searches prune by.
type FileStats struct {
	Size      int64  `json:"size"`
	Rows      int64  `json:"rows"`
	CreatedBy string `json:"createdBy"`
	// Format is the block format the footer names (spanlog.format).
	Format    string          `json:"format,omitempty"`
	RowGroups []RowGroupStats `json:"rowGroups"`
	// Columns are the leaf columns, in schema order, their sizes summed
	// over the row groups.
	Columns []ColumnStats `json:"columns"`
}

// RowGroupStats describes one row group. A bound the footer does not give
// is zero.
type RowGroupStats struct {
	Rows              int64 `json:"rows"`
	CompressedBytes   int64 `json:"compressedBytes"`
	UncompressedBytes int64 `json:"uncompressedBytes"`
	// MinTraceID and MaxTraceID are in hex.
	MinTraceID  string        `json:"minTraceID"`
	MaxTraceID  string        `json:"maxTraceID"`
	MinStart    time.Time     `json:"minStart"`
	MaxStart    time.Time     `json:"maxStart"`
	MinDuration time.Duration `json:"minDurationNanos"`
	MaxDuration time.Duration `json:"maxDurationNanos"`
	MinService  string        `json:"minService,omitempty"`
	MaxService  string        `json:"maxService,omitempty"`
	// BloomFilterBytes is the size of the trace ID bloom filter.
	BloomFilterBytes int64 `json:"bloomFilterBytes"`
}

// ColumnStats describes one leaf column over the whole file.
type ColumnStats struct {
	// Path is the column's path in the schema, dot-separated
	// (attrs.key, trace.root.name).
	Path        string `json:"path"`
	Compression string `json:"compression"`
	// Values counts the column's values, nulls and list ends included.
	Values            int64 `json:"values"`
	CompressedBytes   int64 `json:"compressedBytes"`
	UncompressedBytes int64 `json:"uncompressedBytes"`
}

// FileStats returns what the block's footer says of its data; it reads
// nothing, the footer being read when the block is opened.
func (r *Reader) FileStats() FileStats {
	md := r.file.Metadata()
	fs := FileStats{Size: r.file.Size(), Rows: md.NumRows, CreatedBy: md.CreatedBy}
	fs.Format, _ = r.file.Lookup(formatKey)
	for g, rg := range md.RowGroups {
		s := RowGroupStats{Rows: rg.NumRows}
		for c, col := range rg.Columns {
			cm := &col.MetaData
			s.CompressedBytes += cm.TotalCompressedSize
			s.UncompressedBytes += cm.TotalUncompressedSize
			if g == 0 {
				fs.Columns = append(fs.Columns, ColumnStats{
					Path:        strings.Join(cm.PathInSchema, "."),
					Compression: cm.Codec.String(),
				})
			}
			if c < len(fs.Columns) {
				fs.Columns[c].Values += cm.NumValues
				fs.Columns[c].CompressedBytes += cm.TotalCompressedSize
				fs.Columns[c].UncompressedBytes += cm.TotalUncompressedSize
			}
			if c == r.traceIDColumn {
				s.BloomFilterBytes = int64(cm.BloomFilterLength)
			}
		}
		b := r.groups[g]
		s.MinTraceID, s.MaxTraceID = hex.EncodeToString(b.min[:]), hex.EncodeToString(b.max[:])
		stats := GroupStats{r: r, g: g}
		if lo, hi, ok := stats.Int64Bounds(schema.ColumnStart); ok {
			// Unsigned in the schema: a start past 2^63 ns reads negative
			// here, as no real span's does.
			s.MinStart, s.MaxStart = time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC()
		}
		if lo, hi, ok := stats.Int64Bounds(schema.ColumnDuration); ok {
			s.MinDuration, s.MaxDuration = time.Duration(lo), time.Duration(hi)
		}
		s.MinService, s.MaxService, _ = stats.StringBounds(schema.ColumnServiceName)
		fs.RowGroups = append(fs.RowGroups, s)
	}
	return fs
}
