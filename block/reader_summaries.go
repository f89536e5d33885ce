package block

import (
	"context"
	"fmt"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/spanlog/spanlog/schema"
)

// summaryLeaves are the leaf columns of SpanRow.Trace, in the order
// summaryFromValues reads them.
var summaryLeaves = [...][]string{
	{schema.ColumnTrace, schema.SummaryID},
	{schema.ColumnTrace, schema.SummaryStart},
	{schema.ColumnTrace, schema.SummaryEnd},
	{schema.ColumnTrace, schema.SummarySpans},
	{schema.ColumnTrace, schema.SummaryErrors},
	{schema.ColumnTrace, schema.SummaryRoot, schema.RootParentless},
	{schema.ColumnTrace, schema.SummaryRoot, schema.RootStart},
	{schema.ColumnTrace, schema.SummaryRoot, schema.RootSpanID},
	{schema.ColumnTrace, schema.SummaryRoot, schema.RootName},
	{schema.ColumnTrace, schema.SummaryRoot, schema.RootService},
}

// SummaryFields say which fields of a trace summary Summaries fills in
// besides the trace ID and start.
type SummaryFields uint8

const (
	// SummaryEnd fills in End.
	SummaryEnd SummaryFields = 1 << iota
	// SummaryRoot fills in Root, Spans and Errors.
	SummaryRoot
)

// Summaries calls fn with the summary of the spans of each trace the block
// holds, in trace ID order, with the fields fields asks for filled in (the
// others zero). Reading them costs a small part of reading the spans: a
// block of format v2 stores them with each trace's first row, and only
// those columns are read. For an older block, they are computed from the
// span columns they derive from, which costs what a scan of those
// columns does, and every field is filled in. fn may keep the summary's
// strings. Summaries stops at the first error fn returns, and when ctx
// ends.
func (r *Reader) Summaries(ctx context.Context, fields SummaryFields, fn func(schema.TraceSummary) error) error {
	leaves, ok := r.summaryColumns()
	if !ok {
		return r.computeSummaries(ctx, fn)
	}
	for g := range r.file.RowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if fields&SummaryRoot == 0 {
			err = r.groupTimes(ctx, g, leaves, fields&SummaryEnd != 0, fn)
		} else {
			err = r.groupSummaries(ctx, g, leaves, fn)
		}
		if err != nil {
			return fmt.Errorf("read trace summaries of block %s row group %d: %w", r.meta.BlockID, g, err)
		}
	}
	return nil
}

// summaryColumns returns the leaf column indexes of summaryLeaves, and
// false for a block written before summaries existed.
func (r *Reader) summaryColumns() ([]int, bool) {
	sch := r.file.Schema()
	out := make([]int, len(summaryLeaves))
	for i, path := range summaryLeaves {
		c, ok := sch.Lookup(path...)
		if !ok {
			return nil, false
		}
		out[i] = c.ColumnIndex
	}
	return out, true
}

// groupTimes reads the IDs and starts, and the ends if end, of the
// summaries of row group g. These leaves are required within the optional
// summary group: their pages' values, nulls left out, are one per trace,
// in order, and are read as typed slices rather than value by value,
// which for a column null on nine rows in ten costs ten times less.
func (r *Reader) groupTimes(ctx context.Context, g int, leaves []int, end bool, fn func(schema.TraceSummary) error) error {
	want := leaves[:2]
	if end {
		want = leaves[:3]
	}
	fetched, err := r.fetchChunks(ctx, g, want)
	if err != nil {
		return err
	}
	read := func(c int, add func(encoding.Values)) error {
		return eachPage(fetched.pages(c), func(page parquet.Page) error {
			add(page.Data())
			parquet.Release(page)
			return nil
		})
	}
	// A group holds at most one trace per row.
	rows := r.file.RowGroups()[g].NumRows()
	ids := make([]byte, 0, 16*rows/4)
	starts := make([]uint64, 0, rows/4)
	var ends []uint64
	if end {
		ends = make([]uint64, 0, rows/4)
	}
	err = read(leaves[0], func(v encoding.Values) {
		b, _ := v.FixedLenByteArray()
		ids = append(ids, b...)
	})
	if err == nil {
		err = read(leaves[1], func(v encoding.Values) { starts = append(starts, v.Uint64()...) })
	}
	if err == nil && end {
		err = read(leaves[2], func(v encoding.Values) { ends = append(ends, v.Uint64()...) })
	}
	if err != nil {
		return err
	}
	n := len(starts)
	if len(ids) != 16*n || end && len(ends) != n {
		return fmt.Errorf("trace summary columns disagree: %d IDs, %d starts, %d ends", len(ids)/16, n, len(ends))
	}
	for i := range n {
		s := schema.TraceSummary{ID: [16]byte(ids[16*i : 16*i+16]), Start: starts[i]}
		if end {
			s.End = ends[i]
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// groupSummaries reads the summaries of row group g: one value per row
// in each leaf, null but on the first row of a trace.
func (r *Reader) groupSummaries(ctx context.Context, g int, leaves []int, fn func(schema.TraceSummary) error) error {
	rg := r.file.RowGroups()[g]
	fetched, err := r.fetchChunks(ctx, g, leaves)
	if err != nil {
		return err
	}
	cursors := make([]*leafCursor, len(leaves))
	for i, c := range leaves {
		cursors[i] = fetched.cursor(c)
	}
	defer func() {
		for _, c := range cursors {
			c.close()
		}
	}()
	a := &arena{}
	var vals [len(summaryLeaves)]parquet.Value
	for i := range rg.NumRows() {
		if i%readBatch == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for k, c := range cursors {
			if vals[k], err = c.next(); err != nil {
				return err
			}
		}
		if vals[0].IsNull() {
			continue // not the first row of its trace
		}
		if err := fn(summaryFromValues(&vals, a)); err != nil {
			return err
		}
	}
	return nil
}

func summaryFromValues(v *[len(summaryLeaves)]parquet.Value, a *arena) schema.TraceSummary {
	var s schema.TraceSummary
	copy(s.ID[:], v[0].ByteArray())
	s.Start, s.End = v[1].Uint64(), v[2].Uint64()
	s.Spans, s.Errors = v[3].Uint32(), v[4].Uint32()
	s.Root.Parentless = v[5].Boolean()
	s.Root.Start = v[6].Uint64()
	copy(s.Root.SpanID[:], v[7].ByteArray())
	s.Root.Name = a.str(v[8])
	s.Root.Service = a.str(v[9])
	return s
}

// summaryColumnsV1 are the span columns a block of format v1 derives its
// summaries from.
const summaryColumnsV1 = SpanIDs | Name | Duration | Status | ServiceName

// computeSummaries derives the summaries of a block of format v1 from its
// span columns.
func (r *Reader) computeSummaries(ctx context.Context, fn func(schema.TraceSummary) error) error {
	var trace []schema.SpanRow
	flush := func() error {
		if len(trace) == 0 {
			return nil
		}
		s := schema.SummarizeTrace(trace)
		trace = trace[:0]
		return fn(s)
	}
	err := r.Scan(ctx, ScanOptions{Columns: summaryColumnsV1}, func(row *schema.SpanRow) error {
		if len(trace) > 0 && trace[0].TraceID != row.TraceID {
			if err := flush(); err != nil {
				return err
			}
		}
		trace = append(trace, *row)
		trace[len(trace)-1].Attrs, trace[len(trace)-1].ResourceAttrs = nil, nil
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
