package block

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/schema"
)

// readBatch is the number of rows, or values of a column, that readers of
// a block decode at once.
const readBatch = 256

// rowCursor reads a block's rows in block order, one row group in memory
// at a time: the group's column chunks, fetched whole, and a batch of
// decoded rows.
type rowCursor struct {
	r     *Reader
	g     int // the group rd reads; len(groups) at the end
	rd    rowReader
	batch []schema.SpanRow
	i, n  int // batch[i:n] are decoded and not returned yet
}

// rows returns a cursor over r's rows that decodes batch rows at once.
func (r *Reader) rows(batch int) *rowCursor {
	return &rowCursor{r: r, g: -1, batch: make([]schema.SpanRow, batch)}
}

// next returns the next row, or nil after the last. The caller may keep
// what the row's fields point to, but not the row, which is reused.
func (c *rowCursor) next(ctx context.Context) (*schema.SpanRow, error) {
	for c.i == c.n {
		if err := c.fill(ctx); err != nil {
			return nil, fmt.Errorf("read block %s row group %d: %w", c.r.meta.BlockID, max(c.g, 0), err)
		}
		if c.g == len(c.r.groups) {
			return nil, nil
		}
	}
	c.i++
	return &c.batch[c.i-1], nil
}

// fill decodes the next batch, opening the next row group when the one
// being read has no rows left.
func (c *rowCursor) fill(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.rd == nil {
		if c.g++; c.g == len(c.r.groups) {
			return nil
		}
		rd, err := c.r.openGroup(ctx, c.g)
		if err != nil {
			return err
		}
		c.rd = rd
	}
	// Decoding into zeroed rows makes the reader allocate afresh instead
	// of reusing what the caller may have kept.
	clear(c.batch)
	n, err := c.rd.Read(c.batch)
	c.i, c.n = 0, n
	if errors.Is(err, io.EOF) {
		c.rd.Close()
		c.rd = nil
		return nil
	}
	return err
}

// close releases the row group being read.
func (c *rowCursor) close() {
	if c.rd != nil {
		c.rd.Close()
		c.rd = nil
	}
	clear(c.batch)
}

// openGroup returns a reader of row group g's rows. A scan reads every
// page: it fetches the group whole, in one request per column chunk that
// is not beside another, rather than page by page.
func (r *Reader) openGroup(ctx context.Context, g int) (rowReader, error) {
	rg := r.file.RowGroups()[g]
	ranges := make([]byteRange, len(rg.ColumnChunks()))
	for c := range ranges {
		ranges[c] = r.chunkRange(g, c)
	}
	fetched, err := prefetch(ctx, r.obj, ranges)
	if err != nil {
		return nil, err
	}
	return r.newRowReader(newPrefetchedGroup(rg, fetched)), nil
}

// scanWholeTraces is ScanTraces reading whole rows: the row groups that
// may hold any of ids, every column, decoded row by row as FindTraceRows
// decodes them.
func (r *Reader) scanWholeTraces(ctx context.Context, ids []pcommon.TraceID, want map[[16]byte]bool, fn func(id pcommon.TraceID, rows []schema.SpanRow) error) error {
	var trace []schema.SpanRow
	flush := func() error {
		if len(trace) == 0 {
			return nil
		}
		t := trace
		trace = nil
		return fn(t[0].TraceID, t)
	}
	for g := range r.file.RowGroups() {
		if len(r.candidates(g, ids)) == 0 {
			continue
		}
		err := r.wholeRows(ctx, g, func(row *schema.SpanRow) error {
			if !want[row.TraceID] {
				return nil
			}
			if len(trace) > 0 && trace[0].TraceID != row.TraceID {
				if err := flush(); err != nil {
					return err
				}
			}
			trace = append(trace, *row)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return flush()
}

// scanWhole is Scan reading whole rows, of the row groups skip (if not
// nil) does not skip.
func (r *Reader) scanWhole(ctx context.Context, skip func(GroupStats) bool, fn func(row *schema.SpanRow) error) error {
	for g := range r.file.RowGroups() {
		if skip != nil && skip(GroupStats{r: r, g: g}) {
			continue
		}
		if err := r.wholeRows(ctx, g, fn); err != nil {
			return err
		}
	}
	return nil
}

// wholeRows calls fn with each row of row group g, every column decoded.
// fn may keep what the row's fields point to, but not the row.
func (r *Reader) wholeRows(ctx context.Context, g int, fn func(row *schema.SpanRow) error) error {
	rd, err := r.openGroup(ctx, g)
	if err != nil {
		return fmt.Errorf("read block %s row group %d: %w", r.meta.BlockID, g, err)
	}
	defer rd.Close()
	batch := make([]schema.SpanRow, readBatch)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Zeroed rows make the reader allocate afresh what fn may keep.
		clear(batch)
		n, err := rd.Read(batch)
		for i := range batch[:n] {
			if err := fn(&batch[i]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read block %s row group %d: %w", r.meta.BlockID, g, err)
		}
	}
}
