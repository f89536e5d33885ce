package block

import (
	"context"
	"errors"
	"fmt"

	"github.com/parquet-go/parquet-go"
)

// TracesWhere calls fn, in trace ID order, with the ID of each trace of
// the block with a span that passes every test of where, and stops at the
// first error fn returns. It reads the columns of where, and of the rest
// only the trace summaries' ID column, whose definition levels say where
// each trace's rows begin (a block of format v2 stores each trace's
// summary on its first row): not the trace ID of every span, which is
// most of what Scan reads to tell the traces of the spans that pass. A
// group that skip rules out by its statistics is not read. where must
// not be empty.
//
// It returns false, reading nothing, for a block without stored
// summaries (format v1), which Scan has to read instead.
func (r *Reader) TracesWhere(ctx context.Context, where []RowTest, skip func(GroupStats) bool, fn func(id [16]byte) error) (bool, error) {
	leaves, ok := r.summaryColumns()
	if !ok {
		return false, nil
	}
	if len(where) == 0 {
		return true, errors.New("TracesWhere needs a test")
	}
	tests, err := r.rowTests(where)
	if err != nil {
		return true, fmt.Errorf("block %s: %w", r.meta.BlockID, err)
	}
	idLeaf := leaves[0]
	idPath := summaryLeaves[0]
	idCol, _ := r.file.Schema().Lookup(idPath[:]...)
	maxDef := byte(idCol.MaxDefinitionLevel)
	var last [16]byte // the last trace fn was called with
	called := false
	for g := range r.file.RowGroups() {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		if skip != nil && skip(GroupStats{r: r, g: g}) {
			continue
		}
		fetched, err := r.fetchChunks(ctx, g, append(testLeaves(tests), idLeaf))
		if err != nil {
			return true, fmt.Errorf("block %s row group %d: %w", r.meta.BlockID, g, err)
		}
		keep, any, err := selectFetched(ctx, fetched, r.file.RowGroups()[g].NumRows(), tests)
		if err != nil {
			return true, fmt.Errorf("block %s row group %d: %w", r.meta.BlockID, g, err)
		}
		if !any {
			continue
		}
		// The group's first rows, before its first summary, go on with
		// the trace the last group ended with: the group's smallest
		// trace ID, rows being sorted by it.
		current := r.groups[g].min
		err = traceStarts(fetched, idLeaf, maxDef, func(row int, id [16]byte) error {
			current = id
			return nil
		}, func(row int) error {
			if !keep[row] || called && current == last {
				return nil
			}
			last, called = current, true
			return fn(current)
		})
		if err != nil {
			return true, fmt.Errorf("block %s row group %d: %w", r.meta.BlockID, g, err)
		}
	}
	return true, nil
}

// traceStarts reads the summary ID leaf of a row group from fetched, and
// for each row calls start with the trace ID when a trace begins there,
// then each with the row.
func traceStarts(fetched fetchedChunks, leaf int, maxDef byte, start func(row int, id [16]byte) error, each func(row int) error) error {
	row := 0
	return eachPage(fetched.pages(leaf), func(p parquet.Page) error {
		defer parquet.Release(p)
		return pageStarts(p, &row, maxDef, start, each)
	})
}

func pageStarts(p parquet.Page, row *int, maxDef byte, start func(row int, id [16]byte) error, each func(row int) error) error {
	defs := p.DefinitionLevels()
	data := p.Data()
	ids, _ := data.FixedLenByteArray()
	k := 0
	for _, d := range defs {
		if d == maxDef {
			if 16*(k+1) > len(ids) {
				return fmt.Errorf("trace summary IDs: %d values for more starts", len(ids)/16)
			}
			if err := start(*row, [16]byte(ids[16*k:16*k+16])); err != nil {
				return err
			}
			k++
		}
		if err := each(*row); err != nil {
			return err
		}
		*row++
	}
	if 16*k != len(ids) {
		return fmt.Errorf("trace summary IDs: %d values for %d starts", len(ids)/16, k)
	}
	return nil
}
