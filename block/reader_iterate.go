package block

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/spanlog/spanlog/schema"
)

// iterateBatch is the number of rows Iterate decodes at once.
const iterateBatch = 256

// Iterate calls fn for each row of the block, in block order, and stops at
// the first error fn returns. fn may keep what row's fields point to, but
// not row itself, which is reused for later rows.
func (r *Reader) Iterate(ctx context.Context, fn func(row *schema.SpanRow) error) error {
	batch := make([]schema.SpanRow, iterateBatch)
	for g := range r.file.RowGroups() {
		if err := r.iterateGroup(ctx, g, batch, fn); err != nil {
			return fmt.Errorf("iterate block %s row group %d: %w", r.meta.BlockID, g, err)
		}
	}
	return nil
}

func (r *Reader) iterateGroup(ctx context.Context, g int, batch []schema.SpanRow, fn func(*schema.SpanRow) error) error {
	// A scan reads every page: fetch the row group whole, in one request,
	// rather than page by page.
	rg := r.file.RowGroups()[g]
	ranges := make([]byteRange, len(rg.ColumnChunks()))
	for c := range ranges {
		ranges[c] = r.chunkRange(g, c)
	}
	fetched, err := prefetch(ctx, r.obj, ranges)
	if err != nil {
		return err
	}
	rd := parquet.NewGenericRowGroupReader[schema.SpanRow](newPrefetchedGroup(rg, fetched))
	defer rd.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Decoding into zeroed rows makes the reader allocate afresh
		// instead of reusing what fn may have kept.
		clear(batch)
		n, err := rd.Read(batch)
		for i := range n {
			if err := fn(&batch[i]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
