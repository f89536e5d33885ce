package block

import (
	"context"
	"fmt"

	"github.com/parquet-go/parquet-go"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/schema"
)

// FindTraceColumns is FindTraceRows reading only the columns cols names,
// besides the trace ID and start, with the rows filled in as Scan fills
// them. A lookup reads and decompresses about a page of each column it
// reads: a search, which shows spans' names, times, status and attributes
// but not their events, links or scope, reads a third of the columns a
// whole row takes. Of the attribute lists, only the attributes keys names
// are decoded, or all if keys is nil. fn may keep the rows, not change
// them: in a block of format v3 the rows of a resource share its lists.
func (r *Reader) FindTraceColumns(ctx context.Context, cols Columns, keys []string, ids []pcommon.TraceID, fn func(id pcommon.TraceID, rows []schema.SpanRow) error) error {
	if cols&Whole != 0 {
		return r.FindTraceRows(ctx, ids, fn)
	}
	plan, err := r.scanPlan(cols)
	if err != nil {
		return fmt.Errorf("find traces in block %s: %w", r.meta.BlockID, err)
	}
	plan.setKeys(keys)
	return r.findTraces(ctx, ids, func(ctx context.Context, g int, ids []pcommon.TraceID) ([]traceRows, error) {
		return r.findColumnsInGroup(ctx, g, plan, ids)
	}, fn)
}

// findColumnsInGroup is findInGroup for the columns of plan.
func (r *Reader) findColumnsInGroup(ctx context.Context, g int, plan *scanPlan, ids []pcommon.TraceID) ([]traceRows, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if err := r.loadOffsetIndexes(ctx, g); err != nil {
		return nil, err
	}
	leaves := plan.leaves()
	spans, fetched, err := r.findRowSpans(ctx, g, ids, leaves)
	if err != nil || len(spans) == 0 {
		return nil, err
	}
	ranges, err := r.rowsBytes(g, spans, leaves)
	if err != nil {
		return nil, err
	}
	if len(fetched.missing(ranges)) > 0 {
		if fetched, err = prefetchMerged(ctx, r.obj, mergeRanges(ranges, r.rowsGap)); err != nil {
			return nil, err
		}
	}
	chunks := r.file.RowGroups()[g].ColumnChunks()
	out := make([]traceRows, 0, len(spans))
	for _, s := range spans {
		rows, err := decodeRowSpan(chunks, fetched, plan, s)
		if err != nil {
			return nil, fmt.Errorf("rows %d to %d: %w", s.first, s.end, err)
		}
		out = append(out, traceRows{id: s.id, rows: rows})
	}
	return out, nil
}

// leaves returns the leaf columns the plan reads.
func (p *scanPlan) leaves() []int {
	out := make([]int, 0, len(p.flat)+len(p.attrs)+len(p.resourceAttrs))
	for _, f := range p.flat {
		out = append(out, f.column)
	}
	out = append(out, p.attrs...)
	out = append(out, p.resourceAttrs...)
	if p.resource >= 0 {
		out = append(out, p.resource)
	}
	return out
}

// decodeRowSpan decodes the rows of s, the columns of plan, from the
// pages fetched holds.
func decodeRowSpan(chunks []parquet.ColumnChunk, fetched *prefetchedReaderAt, plan *scanPlan, s rowSpan) ([]schema.SpanRow, error) {
	var opened []*leafCursor
	defer func() {
		for _, c := range opened {
			c.close()
		}
	}()
	open := func(cs []int) ([]*leafCursor, error) {
		out := make([]*leafCursor, len(cs))
		for i, c := range cs {
			pages := fetchedChunks{chunks: chunks, fetched: fetched}.pages(c)
			out[i] = &leafCursor{pages: pages}
			opened = append(opened, out[i])
			if err := pages.SeekToRow(s.first); err != nil {
				return nil, fmt.Errorf("seek: %w", err)
			}
		}
		return out, nil
	}
	flatColumns := make([]int, len(plan.flat))
	for i, f := range plan.flat {
		flatColumns[i] = f.column
	}
	flat, err := open(flatColumns)
	if err != nil {
		return nil, err
	}
	attrs, err := open(plan.attrs)
	if err != nil {
		return nil, err
	}
	resourceAttrs, err := open(plan.resourceAttrs)
	if err != nil {
		return nil, err
	}
	var resource *leafCursor
	if plan.resource >= 0 {
		cs, err := open([]int{plan.resource})
		if err != nil {
			return nil, err
		}
		resource = cs[0]
	}
	a := &arena{}
	rows := make([]schema.SpanRow, s.end-s.first)
	for i := range rows {
		row := &rows[i]
		for k, c := range flat {
			v, err := c.next()
			if err != nil {
				return nil, err
			}
			plan.flat[k].set(row, v, a)
		}
		if row.Attrs, err = readAttributes(attrs, plan.keys, nil, a); err != nil {
			return nil, err
		}
		if resource != nil {
			if row.ResourceAttrs, err = plan.readResource(resource); err != nil {
				return nil, err
			}
		} else if row.ResourceAttrs, err = readAttributes(resourceAttrs, plan.keys, nil, a); err != nil {
			return nil, err
		}
	}
	return rows, nil
}
