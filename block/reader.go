package block

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// readBufferSize is the size of the buffered reads the Parquet reader
// makes: it reads a page header, and the page with it if it fits, in one
// read of up to this size. Small, because a lookup needs a page or two of
// each column and more is waste; prefetching makes up for the number of
// reads (see prefetch.go).
const readBufferSize = 4 << 10

// Reader reads one block. Opening one reads only the Parquet footer; the
// page indexes and bloom filters a lookup needs are read on first use and
// kept, so a Reader is cheap to keep open and gets cheaper with use. It is
// safe for concurrent use.
type Reader struct {
	meta *schema.BlockMeta
	obj  objstore.ReaderAt
	file *parquet.File
	// traceIDColumn is the leaf column index of trace_id.
	traceIDColumn int
	// resourceColumn is the leaf column index of a format v3 block's
	// resource column; -1 in a block of an earlier format, which has
	// resource_attrs and the scope columns instead.
	resourceColumn int
	// groups are the trace ID bounds of each row group, in file order.
	groups []traceIDBounds
	// indexed tells, per row group, whether the offset indexes of its
	// columns are loaded.
	indexed []atomic.Bool
	// rowsGap is the largest gap between two ranges a lookup fetches in
	// one read: rowsMergeGap on object storage, mergeGap in a local file,
	// where a read costs no round trip and bytes read in vain cost their
	// copy.
	rowsGap int64
}

// traceIDBounds are the smallest and largest trace IDs of a row group.
type traceIDBounds struct {
	min, max [16]byte
}

// Open opens the block meta describes.
func Open(ctx context.Context, bkt objstore.Bucket, meta *schema.BlockMeta) (*Reader, error) {
	return open(ctx, bkt, meta, forLookups)
}

// openPurpose says what a Reader is opened for.
type openPurpose int

const (
	// forLookups pins the trace ID bloom filters in memory, so that most
	// lookups are answered without a request.
	forLookups openPurpose = iota
	// forMerge reads every row once, in order, from row groups fetched
	// whole: it wants neither the bloom filters nor the read buffers of
	// lookups, and as a merge opens many blocks at once, it keeps each
	// one's memory small (see merge.go).
	forMerge
)

// open opens the block meta describes, for purpose.
func open(ctx context.Context, bkt objstore.Bucket, meta *schema.BlockMeta, purpose openPurpose) (*Reader, error) {
	// The meta knows the data object's size: S3 is spared a HEAD per
	// block opened.
	obj, err := objstore.OpenSized(ctx, bkt, DataName(meta.Tenant, meta.BlockID), meta.Size)
	if err != nil {
		return nil, fmt.Errorf("open block %s: %w", meta.BlockID, err)
	}
	r, err := newReader(ctx, meta, obj, purpose)
	if err != nil {
		obj.Close()
		return nil, fmt.Errorf("open block %s: %w", meta.BlockID, err)
	}
	return r, nil
}

func newReader(ctx context.Context, meta *schema.BlockMeta, obj objstore.ReaderAt, purpose openPurpose) (*Reader, error) {
	// The file reads through pinned, which keeps the trace ID bloom filters
	// in memory once newReader fetched them: a lookup that the filters rule
	// out then costs no request at all, which is most lookups of a block.
	pinned := &prefetchedReaderAt{obj: obj}
	bufferSize := readBufferSize
	if purpose == forMerge {
		bufferSize = mergeReadBufferSize
	}
	file, err := parquet.OpenFile(pinned, obj.Size(),
		parquet.OptimisticRead(true),
		parquet.ReadBufferSize(bufferSize),
		// Both are read per row group when a lookup needs them.
		parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true),
	)
	if err != nil {
		return nil, err
	}
	col, ok := file.Schema().Lookup(schema.ColumnTraceID)
	if !ok {
		return nil, errors.New("no trace_id column")
	}
	r := &Reader{meta: meta, obj: obj, file: file, traceIDColumn: col.ColumnIndex, resourceColumn: -1, rowsGap: rowsMergeGap}
	if c, ok := file.Schema().Lookup(schema.ColumnResource); ok && c.Node.Leaf() {
		r.resourceColumn = c.ColumnIndex
	}
	if objstore.Local(obj) {
		r.rowsGap = mergeGap
	}
	for i, rg := range file.RowGroups() {
		chunk, ok := rg.ColumnChunks()[col.ColumnIndex].(*parquet.FileColumnChunk)
		if !ok {
			return nil, fmt.Errorf("row group %d: unexpected column chunk type %T", i, rg.ColumnChunks()[col.ColumnIndex])
		}
		lo, hi, ok := chunk.Bounds()
		if !ok {
			return nil, fmt.Errorf("row group %d: no trace ID statistics", i)
		}
		var b traceIDBounds
		copy(b.min[:], lo.ByteArray())
		copy(b.max[:], hi.ByteArray())
		r.groups = append(r.groups, b)
	}
	r.indexed = make([]atomic.Bool, len(r.groups))
	if purpose == forMerge {
		return r, nil
	}
	if err := pinBloomFilters(ctx, pinned, file, col.ColumnIndex); err != nil {
		return nil, err
	}
	return r, nil
}

// bloomHeaderRead is the size of parquet-go's buffered read of a bloom
// filter's header.
const bloomHeaderRead = 1024

// pinBloomFilters fetches the bloom filters of column in every row group,
// in one request when they are adjacent, and keeps them in pinned.
func pinBloomFilters(ctx context.Context, pinned *prefetchedReaderAt, file *parquet.File, column int) error {
	var ranges []byteRange
	for _, rg := range file.Metadata().RowGroups {
		m := &rg.Columns[column].MetaData
		if m.BloomFilterOffset > 0 && m.BloomFilterLength > 0 {
			// parquet-go reads a filter's header through a buffer of
			// bloomHeaderRead bytes, past the end of a small filter;
			// pin that much so the read is served from memory too.
			end := m.BloomFilterOffset + max(int64(m.BloomFilterLength), bloomHeaderRead)
			ranges = append(ranges, byteRange{off: m.BloomFilterOffset, end: min(end, file.Size())})
		}
	}
	if len(ranges) == 0 {
		return nil
	}
	fetched, err := prefetch(ctx, pinned.obj, ranges)
	if err != nil {
		return fmt.Errorf("bloom filters: %w", err)
	}
	pinned.ranges = fetched.ranges
	return nil
}

// Close releases the block's object. No lookup may be in flight.
func (r *Reader) Close() error {
	return r.obj.Close()
}

// loadOffsetIndexes loads the offset indexes of every column of row group
// g, in one read: they are adjacent in the file. Without its offset index, a
// column reads every page before a row to reach it.
func (r *Reader) loadOffsetIndexes(ctx context.Context, g int) error {
	if r.indexed[g].Load() {
		return nil
	}
	columns := r.file.Metadata().RowGroups[g].Columns
	ranges := make([]byteRange, 0, len(columns))
	for _, c := range columns {
		if c.OffsetIndexOffset == 0 {
			return fmt.Errorf("row group %d: no offset index", g)
		}
		ranges = append(ranges, byteRange{off: c.OffsetIndexOffset, end: c.OffsetIndexOffset + int64(c.OffsetIndexLength)})
	}
	fetched, err := prefetch(ctx, r.obj, ranges)
	if err != nil {
		return fmt.Errorf("row group %d offset indexes: %w", g, err)
	}
	for _, c := range r.file.RowGroups()[g].ColumnChunks() {
		if _, err := c.(*parquet.FileColumnChunk).OffsetIndexFrom(fetched); err != nil {
			return fmt.Errorf("row group %d column %d offset index: %w", g, c.Column(), err)
		}
	}
	r.indexed[g].Store(true)
	return nil
}

// chunkRange returns the bytes of column c in row group g.
func (r *Reader) chunkRange(g, c int) byteRange {
	m := &r.file.Metadata().RowGroups[g].Columns[c].MetaData
	off := m.DataPageOffset
	if m.DictionaryPageOffset != 0 {
		off = m.DictionaryPageOffset
	}
	return byteRange{off: off, end: off + m.TotalCompressedSize}
}
