package block

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/parquet-go/parquet-go"
	"github.com/spanlog/spanlog/schema"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FindTrace returns the spans of the block's trace traceID, and whether it
// has any. It narrows the search in steps that each read less than the
// next: the row groups whose trace ID range holds traceID (from the footer),
// the group's bloom filter (one 32-byte block), the pages of the trace_id
// column that may hold it (from the page index), a binary search in those
// pages, and last the trace's rows alone, about one page per column,
// fetched in a few concurrent requests.
func (r *Reader) FindTrace(ctx context.Context, traceID pcommon.TraceID) (ptrace.Traces, bool, error) {
	var rows []schema.SpanRow
	// Rows are sorted by trace ID, so the groups that may hold traceID are
	// adjacent: a trace split by a row group boundary spans two.
	g := sort.Search(len(r.groups), func(i int) bool {
		return bytes.Compare(r.groups[i].max[:], traceID[:]) >= 0
	})
	for ; g < len(r.groups) && bytes.Compare(r.groups[g].min[:], traceID[:]) <= 0; g++ {
		if err := ctx.Err(); err != nil {
			return ptrace.Traces{}, false, err
		}
		var err error
		rows, err = r.appendTraceRows(ctx, rows, g, traceID)
		if err != nil {
			return ptrace.Traces{}, false, fmt.Errorf("find trace %s in block %s row group %d: %w", traceID, r.meta.BlockID, g, err)
		}
	}
	if len(rows) == 0 {
		return ptrace.NewTraces(), false, nil
	}
	td, err := schema.TracesFromRows(rows)
	if err != nil {
		return ptrace.Traces{}, false, fmt.Errorf("find trace %s in block %s: %w", traceID, r.meta.BlockID, err)
	}
	return td, true, nil
}

// appendTraceRows appends the rows of traceID in row group g to rows.
func (r *Reader) appendTraceRows(ctx context.Context, rows []schema.SpanRow, g int, traceID pcommon.TraceID) ([]schema.SpanRow, error) {
	rg := r.file.RowGroups()[g]
	chunk := rg.ColumnChunks()[r.traceIDColumn]
	if filter := chunk.BloomFilter(); filter != nil {
		maybe, err := filter.Check(parquet.FixedLenByteArrayValue(traceID[:]))
		if err != nil {
			return rows, fmt.Errorf("bloom filter: %w", err)
		}
		if !maybe {
			return rows, nil
		}
	}
	if err := r.loadOffsetIndexes(ctx, g); err != nil {
		return rows, err
	}
	first, end, err := findRows(chunk, traceID)
	if err != nil || first == end {
		return rows, err
	}
	return r.appendRowRange(ctx, rows, g, first, end)
}

// findRows returns the range [first, end) of the rows of the sorted trace ID
// column chunk that hold traceID.
func findRows(chunk parquet.ColumnChunk, traceID pcommon.TraceID) (first, end int64, err error) {
	index, err := chunk.ColumnIndex()
	if err != nil {
		return 0, 0, fmt.Errorf("trace_id column index: %w", err)
	}
	offsets, err := chunk.OffsetIndex()
	if err != nil {
		return 0, 0, fmt.Errorf("trace_id offset index: %w", err)
	}
	id := traceID[:]
	n := index.NumPages()
	lo := sort.Search(n, func(p int) bool {
		return bytes.Compare(index.MaxValue(p).ByteArray(), id) >= 0
	})
	hi := lo
	for hi < n && bytes.Compare(index.MinValue(hi).ByteArray(), id) <= 0 {
		hi++
	}
	if lo == hi {
		return 0, 0, nil
	}

	pages := chunk.Pages()
	defer pages.Close()
	if err := pages.SeekToRow(offsets.FirstRowIndex(lo)); err != nil {
		return 0, 0, fmt.Errorf("trace_id seek: %w", err)
	}
	first, end = -1, -1
	var values []parquet.Value
	for p := lo; p < hi; p++ {
		page, err := pages.ReadPage()
		if err != nil {
			return 0, 0, fmt.Errorf("trace_id page %d: %w", p, err)
		}
		values, err = pageValues(values[:0], page)
		parquet.Release(page)
		if err != nil {
			return 0, 0, fmt.Errorf("trace_id page %d: %w", p, err)
		}
		i := sort.Search(len(values), func(i int) bool { return bytes.Compare(values[i].ByteArray(), id) >= 0 })
		j := sort.Search(len(values), func(i int) bool { return bytes.Compare(values[i].ByteArray(), id) > 0 })
		if i < j {
			base := offsets.FirstRowIndex(p)
			if first < 0 {
				first = base + int64(i)
			}
			end = base + int64(j)
		}
	}
	if first < 0 {
		return 0, 0, nil
	}
	return first, end, nil
}

// pageValues appends the values of page to values.
func pageValues(values []parquet.Value, page parquet.Page) ([]parquet.Value, error) {
	values = slices.Grow(values, int(page.NumValues()))
	buf := values[len(values) : len(values)+int(page.NumValues())]
	n, err := page.Values().ReadValues(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return values, err
	}
	return values[:len(values)+n], nil
}

// appendRowRange appends rows [first, end) of row group g to rows.
func (r *Reader) appendRowRange(ctx context.Context, rows []schema.SpanRow, g int, first, end int64) ([]schema.SpanRow, error) {
	rg := r.file.RowGroups()[g]
	var ranges []byteRange
	for c, chunk := range rg.ColumnChunks() {
		index, err := chunk.OffsetIndex()
		if err != nil {
			return rows, fmt.Errorf("offset index of column %d: %w", c, err)
		}
		ranges = append(ranges, pageRanges(index, r.chunkRange(g, c), first, end)...)
	}
	fetched, err := prefetch(ctx, r.obj, ranges)
	if err != nil {
		return rows, err
	}

	rd := parquet.NewGenericRowGroupReader[schema.SpanRow](newPrefetchedGroup(rg, fetched))
	defer rd.Close()
	if err := rd.SeekToRow(first); err != nil {
		return rows, fmt.Errorf("seek to row %d: %w", first, err)
	}
	n := int(end - first)
	rows = slices.Grow(rows, n)
	buf := rows[len(rows) : len(rows)+n]
	read := 0
	for read < n {
		k, err := rd.Read(buf[read:])
		read += k
		if read == n || err == nil && k > 0 {
			continue
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return rows, fmt.Errorf("rows %d to %d: %w", first, end, err)
	}
	return rows[:len(rows)+n], nil
}

// pageRanges returns the bytes of a column chunk that reading rows [first,
// end) takes: the pages holding them, and the dictionary before the first
// page. Each range extends readBufferSize past its end, within the chunk,
// because the buffered page reader reads that far ahead.
func pageRanges(index parquet.OffsetIndex, chunk byteRange, first, end int64) []byteRange {
	n := index.NumPages()
	if n == 0 {
		return nil
	}
	p0 := max(0, sort.Search(n, func(p int) bool { return index.FirstRowIndex(p) > first })-1)
	p1 := max(p0, sort.Search(n, func(p int) bool { return index.FirstRowIndex(p) >= end })-1)
	var ranges []byteRange
	if dataStart := index.Offset(0); chunk.off < dataStart {
		ranges = append(ranges, byteRange{off: chunk.off, end: min(dataStart+readBufferSize, chunk.end)})
	}
	pagesEnd := index.Offset(p1) + index.CompressedPageSize(p1)
	return append(ranges, byteRange{off: index.Offset(p0), end: min(pagesEnd+readBufferSize, chunk.end)})
}
