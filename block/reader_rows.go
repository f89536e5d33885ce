package block

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
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
	rd    *parquet.GenericReader[schema.SpanRow]
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
func (r *Reader) openGroup(ctx context.Context, g int) (*parquet.GenericReader[schema.SpanRow], error) {
	rg := r.file.RowGroups()[g]
	ranges := make([]byteRange, len(rg.ColumnChunks()))
	for c := range ranges {
		ranges[c] = r.chunkRange(g, c)
	}
	fetched, err := prefetch(ctx, r.obj, ranges)
	if err != nil {
		return nil, err
	}
	return parquet.NewGenericRowGroupReader[schema.SpanRow](newPrefetchedGroup(rg, fetched)), nil
}
