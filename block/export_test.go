package block

import (
	"context"
	"io"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/schema"
)

// SplitTraces returns the trace IDs whose rows a row group boundary splits,
// so tests can check that they cover that case.
func (r *Reader) SplitTraces() []pcommon.TraceID {
	var ids []pcommon.TraceID
	for g := 1; g < len(r.groups); g++ {
		if r.groups[g-1].max == r.groups[g].min {
			ids = append(ids, r.groups[g].min)
		}
	}
	return ids
}

// RowGroups returns the number of row groups of the block.
func (r *Reader) RowGroups() int { return len(r.groups) }

// Meta returns the meta of the block.
func (r *Reader) Meta() *schema.BlockMeta {
	return r.meta
}

// Iterate calls fn for each row of the block, in block order, and stops at
// the first error fn returns. fn may keep what row's fields point to, but
// not row itself, which is reused for later rows.
func (r *Reader) Iterate(ctx context.Context, fn func(row *schema.SpanRow) error) error {
	c := r.rows(readBatch)
	defer c.close()
	for {
		row, err := c.next(ctx)
		if err != nil || row == nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// EncodeRows writes rows, in block order, as a block's Parquet file to w
// and returns its size, as the builder and Compact encode them.
func EncodeRows(w io.Writer, opts Options, rows []schema.SpanRow) (int64, error) {
	rw := newRowWriter(w, opts)
	for i := range rows {
		if err := rw.Write(&rows[i]); err != nil {
			return 0, err
		}
	}
	if err := rw.Close(); err != nil {
		return 0, err
	}
	return rw.out.n, nil
}
