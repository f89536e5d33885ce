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

// FindTraces calls fn with the spans of each trace of ids the block holds,
// in trace ID order, and stops at the first error fn returns. IDs the block
// does not hold get no call; an ID given twice gets one. It is
// FindTraceRows with the rows turned into OTLP.
func (r *Reader) FindTraces(ctx context.Context, ids []pcommon.TraceID, fn func(id pcommon.TraceID, td ptrace.Traces) error) error {
	return r.FindTraceRows(ctx, ids, func(id pcommon.TraceID, rows []schema.SpanRow) error {
		td, err := schema.TracesFromRows(rows)
		if err != nil {
			return fmt.Errorf("find trace %s in block %s: %w", id, r.meta.BlockID, err)
		}
		return fn(id, td)
	})
}

// FindTraceRows calls fn with the rows of each trace of ids the block
// holds, in trace ID order, and stops at the first error fn returns. IDs
// the block does not hold get no call; an ID given twice gets one. fn may
// keep the rows, not change them: in a block of format v3 the rows of a
// resource share its lists.
//
// Each row group is searched once for all ids, in steps that each read less
// than the next: the ids within the group's trace ID range (from the
// footer), those its bloom filter may hold (in memory since Open), the
// pages of the trace_id column that may hold them (from the page index),
// fetched together, a binary search in those pages, and last the rows of
// every trace found, about one page per column and trace, fetched together
// in a few concurrent requests. So IDs in one row group cost about what
// one of them costs alone.
func (r *Reader) FindTraceRows(ctx context.Context, ids []pcommon.TraceID, fn func(id pcommon.TraceID, rows []schema.SpanRow) error) error {
	return r.findTraces(ctx, ids, r.findInGroup, fn)
}

// findTraces calls fn with the rows of each trace of ids, which find reads
// from one row group.
func (r *Reader) findTraces(ctx context.Context, ids []pcommon.TraceID, find func(context.Context, int, []pcommon.TraceID) ([]traceRows, error), fn func(id pcommon.TraceID, rows []schema.SpanRow) error) error {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, compareTraceIDs)
	ids = slices.Compact(ids)

	// A trace split by a row group boundary is the last of one group and
	// the first of the next: its rows are held until the next group, whose
	// smallest ID tells whether it goes on there.
	var held []traceRows
	for g := range r.groups {
		if err := ctx.Err(); err != nil {
			return err
		}
		found, err := find(ctx, g, r.candidates(g, ids))
		if err != nil {
			return fmt.Errorf("find traces in block %s row group %d: %w", r.meta.BlockID, g, err)
		}
		held = appendTraceRows(held, found)
		complete := len(held)
		if g+1 < len(r.groups) {
			next := r.groups[g+1].min
			complete = sort.Search(len(held), func(i int) bool { return bytes.Compare(held[i].id[:], next[:]) >= 0 })
		}
		for _, t := range held[:complete] {
			if err := fn(t.id, t.rows); err != nil {
				return err
			}
		}
		held = slices.Delete(held, 0, complete)
	}
	return nil
}

// MayContain reports whether the block may hold spans of trace id: false
// means it certainly does not. It reads nothing, using the row group trace
// ID ranges and the bloom filters Open keeps in memory.
func (r *Reader) MayContain(id pcommon.TraceID) bool {
	for g := r.firstGroupOf(id); g < len(r.groups) && bytes.Compare(r.groups[g].min[:], id[:]) <= 0; g++ {
		if maybe, err := r.bloomMayHold(g, id); maybe || err != nil {
			return true // a filter that cannot be read rules nothing out
		}
	}
	return false
}

// traceRows are the rows of one trace.
type traceRows struct {
	id   pcommon.TraceID
	rows []schema.SpanRow
}

// appendTraceRows appends found, sorted by ID, to held, also sorted: the
// rows of a trace held from the previous row group go on with its rows in
// this one.
func appendTraceRows(held, found []traceRows) []traceRows {
	if n := len(held); n > 0 && len(found) > 0 && held[n-1].id == found[0].id {
		held[n-1].rows = append(held[n-1].rows, found[0].rows...)
		found = found[1:]
	}
	return append(held, found...)
}

func compareTraceIDs(a, b pcommon.TraceID) int { return bytes.Compare(a[:], b[:]) }

// firstGroupOf returns the first row group whose trace ID range may hold
// id. Rows are sorted by trace ID, so the groups that may hold it are
// adjacent from there: a trace split by a row group boundary spans two.
func (r *Reader) firstGroupOf(id pcommon.TraceID) int {
	return sort.Search(len(r.groups), func(i int) bool {
		return bytes.Compare(r.groups[i].max[:], id[:]) >= 0
	})
}

// candidates returns the IDs of sorted ids that row group g may hold: within
// its trace ID range, and not ruled out by its bloom filter.
func (r *Reader) candidates(g int, ids []pcommon.TraceID) []pcommon.TraceID {
	b := &r.groups[g]
	lo := sort.Search(len(ids), func(i int) bool { return bytes.Compare(ids[i][:], b.min[:]) >= 0 })
	hi := sort.Search(len(ids), func(i int) bool { return bytes.Compare(ids[i][:], b.max[:]) > 0 })
	var out []pcommon.TraceID
	for _, id := range ids[lo:hi] {
		// A filter that cannot be read leaves the page index to decide.
		if maybe, err := r.bloomMayHold(g, id); maybe || err != nil {
			out = append(out, id)
		}
	}
	return out
}

// bloomMayHold checks id against the trace ID bloom filter of row group g;
// a group without a filter may hold anything.
func (r *Reader) bloomMayHold(g int, id pcommon.TraceID) (bool, error) {
	filter := r.file.RowGroups()[g].ColumnChunks()[r.traceIDColumn].BloomFilter()
	if filter == nil {
		return true, nil
	}
	maybe, err := filter.Check(parquet.FixedLenByteArrayValue(id[:]))
	if err != nil {
		return true, fmt.Errorf("bloom filter: %w", err)
	}
	return maybe, nil
}

// findInGroup returns the rows of each of sorted ids held by row group g,
// sorted by ID.
func (r *Reader) findInGroup(ctx context.Context, g int, ids []pcommon.TraceID) ([]traceRows, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if err := r.loadOffsetIndexes(ctx, g); err != nil {
		return nil, err
	}
	spans, fetched, err := r.findRowSpans(ctx, g, ids, nil)
	if err != nil || len(spans) == 0 {
		return nil, err
	}
	return r.readRowSpans(ctx, g, spans, fetched)
}

// rowSpan is the range [first, end) of the rows of trace id in a row group.
type rowSpan struct {
	id         pcommon.TraceID
	first, end int64
}

// findRowSpans returns the rows of each of sorted ids in row group g, for
// the ids it holds, in ID order. The trace_id pages the page index points
// to are fetched, then binary-searched. Fetched with them, in the same
// requests, are the pages of every column of leaves (nil: all) that hold
// the rows of those trace_id pages: the trace's rows are among them, and
// reading them then needs no second round trip. It returns what it
// fetched.
func (r *Reader) findRowSpans(ctx context.Context, g int, ids []pcommon.TraceID, leaves []int) ([]rowSpan, *prefetchedReaderAt, error) {
	rg := r.file.RowGroups()[g]
	chunk := rg.ColumnChunks()[r.traceIDColumn]
	index, err := chunk.ColumnIndex()
	if err != nil {
		return nil, nil, fmt.Errorf("trace_id column index: %w", err)
	}
	offsets, err := chunk.OffsetIndex()
	if err != nil {
		return nil, nil, fmt.Errorf("trace_id offset index: %w", err)
	}
	// pageSpans[i] are the pages [lo, hi) that may hold ids[i]. Both ends
	// grow with the ID, so a page is read once, when the first ID that
	// needs it comes.
	n := index.NumPages()
	pageSpans := make([][2]int, len(ids))
	var ranges []byteRange
	for i, id := range ids {
		lo := sort.Search(n, func(p int) bool { return bytes.Compare(index.MaxValue(p).ByteArray(), id[:]) >= 0 })
		hi := lo
		for hi < n && bytes.Compare(index.MinValue(hi).ByteArray(), id[:]) <= 0 {
			hi++
		}
		pageSpans[i] = [2]int{lo, hi}
		if lo < hi {
			first, end := offsets.FirstRowIndex(lo), rg.NumRows()
			if hi < n {
				end = offsets.FirstRowIndex(hi)
			}
			rows, err := r.rowsBytes(g, []rowSpan{{first: first, end: end}}, leaves)
			if err != nil {
				return nil, nil, err
			}
			ranges = append(ranges, rows...)
		}
	}
	if len(ranges) == 0 {
		return nil, nil, nil
	}
	fetched, err := prefetchMerged(ctx, r.obj, mergeRanges(ranges, r.rowsGap))
	if err != nil {
		return nil, nil, err
	}
	pages := newSortedPages(prefetchedChunk{FileColumnChunk: chunk.(*parquet.FileColumnChunk), r: fetched}.Pages(), offsets)
	defer pages.close()

	var spans []rowSpan
	for i, id := range ids {
		s := rowSpan{id: id, first: -1}
		for p := pageSpans[i][0]; p < pageSpans[i][1]; p++ {
			values, err := pages.values(p)
			if err != nil {
				return nil, nil, fmt.Errorf("trace_id page %d: %w", p, err)
			}
			from := sort.Search(len(values), func(v int) bool { return bytes.Compare(values[v].ByteArray(), id[:]) >= 0 })
			to := sort.Search(len(values), func(v int) bool { return bytes.Compare(values[v].ByteArray(), id[:]) > 0 })
			if from < to {
				base := offsets.FirstRowIndex(p)
				if s.first < 0 {
					s.first = base + int64(from)
				}
				s.end = base + int64(to)
			}
		}
		if s.first >= 0 {
			spans = append(spans, s)
		}
	}
	return spans, fetched, nil
}

// sortedPages reads the pages of a column chunk in increasing order, each
// page once, keeping the last one read.
type sortedPages struct {
	pages   parquet.Pages
	offsets parquet.OffsetIndex
	// page is the last page read, number current; it stays unreleased
	// because the values in buf point into it.
	page    parquet.Page
	current int
	buf     []parquet.Value
	// next is the page pages reads next without a seek.
	next int
}

func newSortedPages(pages parquet.Pages, offsets parquet.OffsetIndex) *sortedPages {
	return &sortedPages{pages: pages, offsets: offsets, current: -1, next: -1}
}

// values returns the values of page p, which must not be below the last
// page asked for.
func (s *sortedPages) values(p int) ([]parquet.Value, error) {
	if s.page != nil && p == s.current {
		return s.buf, nil
	}
	if p != s.next {
		if err := s.pages.SeekToRow(s.offsets.FirstRowIndex(p)); err != nil {
			return nil, fmt.Errorf("seek: %w", err)
		}
	}
	s.release()
	page, err := s.pages.ReadPage()
	if err != nil {
		return nil, err
	}
	s.page, s.current, s.next = page, p, p+1
	s.buf, err = pageValues(s.buf[:0], page)
	return s.buf, err
}

func (s *sortedPages) release() {
	if s.page != nil {
		parquet.Release(s.page)
		s.page = nil
	}
}

func (s *sortedPages) close() {
	s.release()
	s.pages.Close()
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

// rowsBytes returns the bytes of row group g that reading the rows of
// spans takes: the pages holding them, of the leaf columns leaves, or of
// every column if leaves is nil.
func (r *Reader) rowsBytes(g int, spans []rowSpan, leaves []int) ([]byteRange, error) {
	var ranges []byteRange
	for c, chunk := range r.file.RowGroups()[g].ColumnChunks() {
		if leaves != nil && !slices.Contains(leaves, c) {
			continue
		}
		index, err := chunk.OffsetIndex()
		if err != nil {
			return nil, fmt.Errorf("offset index of column %d: %w", c, err)
		}
		for _, s := range spans {
			p0, p1 := pagesOfRows(index, s.first, s.end)
			ranges = append(ranges, pageBytes(index, r.chunkRange(g, c), p0, p1)...)
		}
	}
	return ranges, nil
}

// readRowSpans returns the rows of each of spans, sorted and disjoint, in
// row group g. The pages they need, of every column, are read from have,
// or, if it lacks any, fetched in one prefetch.
func (r *Reader) readRowSpans(ctx context.Context, g int, spans []rowSpan, have *prefetchedReaderAt) ([]traceRows, error) {
	rg := r.file.RowGroups()[g]
	ranges, err := r.rowsBytes(g, spans, nil)
	if err != nil {
		return nil, err
	}
	fetched := have
	if len(have.missing(ranges)) > 0 {
		if fetched, err = prefetchMerged(ctx, r.obj, mergeRanges(ranges, r.rowsGap)); err != nil {
			return nil, err
		}
	}

	rd := r.newRowReader(newPrefetchedGroup(rg, fetched))
	defer rd.Close()
	out := make([]traceRows, 0, len(spans))
	for _, s := range spans {
		rows, err := readRows(rd, s.first, s.end)
		if err != nil {
			return nil, err
		}
		out = append(out, traceRows{id: s.id, rows: rows})
	}
	return out, nil
}

// readRows returns rows [first, end) of rd.
func readRows(rd rowReader, first, end int64) ([]schema.SpanRow, error) {
	if err := rd.SeekToRow(first); err != nil {
		return nil, fmt.Errorf("seek to row %d: %w", first, err)
	}
	rows := make([]schema.SpanRow, end-first)
	read := 0
	for read < len(rows) {
		k, err := rd.Read(rows[read:])
		read += k
		if read == len(rows) || err == nil && k > 0 {
			continue
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("rows %d to %d: %w", first, end, err)
	}
	return rows, nil
}

// pagesOfRows returns the first and last pages that hold rows [first, end).
func pagesOfRows(index parquet.OffsetIndex, first, end int64) (p0, p1 int) {
	n := index.NumPages()
	p0 = max(0, sort.Search(n, func(p int) bool { return index.FirstRowIndex(p) > first })-1)
	p1 = max(p0, sort.Search(n, func(p int) bool { return index.FirstRowIndex(p) >= end })-1)
	return p0, p1
}

// pageBytes returns the bytes of a column chunk that reading pages p0 to
// p1 takes: those pages, and the dictionary before the first page. Each
// range extends readBufferSize past its end, within the chunk, because the
// buffered page reader reads that far ahead.
func pageBytes(index parquet.OffsetIndex, chunk byteRange, p0, p1 int) []byteRange {
	if index.NumPages() == 0 {
		return nil
	}
	var ranges []byteRange
	if dataStart := index.Offset(0); chunk.off < dataStart {
		ranges = append(ranges, byteRange{off: chunk.off, end: min(dataStart+readBufferSize, chunk.end)})
	}
	pagesEnd := index.Offset(p1) + index.CompressedPageSize(p1)
	return append(ranges, byteRange{off: index.Offset(p0), end: min(pagesEnd+readBufferSize, chunk.end)})
}
