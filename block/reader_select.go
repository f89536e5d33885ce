package block

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/spanlog/spanlog/schema"
)

// RowTest is a test of one flat column of a span, or of one attribute of
// the span or its resource (ScanOptions.Where).
type RowTest struct {
	// Column is the tested column's name, one of schema's Column
	// constants for a column that Columns reads (not the trace ID nor the
	// start), or schema.ColumnAttrs or ColumnResourceAttrs for the
	// attribute Key.
	Column string
	Key    string
	// Values, for an attribute, are the types of value Keep can pass:
	// the value leaves of other types are not read, and the attribute
	// reaches Keep without a value if it holds one of them. Zero reads
	// every type.
	Values AttrValues
	// Keep reports whether a row passes, from a row with only the
	// column's field filled in; for an attribute, with a list that holds
	// the attribute's first occurrence, or nothing if the span has none.
	// Its strings are valid during the call only. For a
	// dictionary-encoded column, Keep is asked once per distinct value of
	// a row group, not once per row.
	Keep func(row *schema.SpanRow) bool
}

// AttrValues are types of attribute values.
type AttrValues uint8

// The types of attribute values a RowTest reads.
const (
	AttrStr AttrValues = 1 << iota
	AttrInt
	AttrDouble
	AttrBool
)

// rowTest is a RowTest with the column's leaf index and how to set it,
// or for an attribute the leaves of its list.
type rowTest struct {
	RowTest
	column int
	set    func(*schema.SpanRow, parquet.Value, *arena)
	list   *listTest
	// resource says column is a format v3 block's resource column, which
	// holds the resource attributes tested.
	resource bool
}

func (r *Reader) rowTests(tests []RowTest) ([]rowTest, error) {
	out := make([]rowTest, 0, len(tests))
	for _, t := range tests {
		if t.Keep == nil {
			return nil, fmt.Errorf("test of column %q without a Keep", t.Column)
		}
		if t.Column == schema.ColumnResourceAttrs && r.resourceColumn >= 0 {
			out = append(out, rowTest{RowTest: t, column: r.resourceColumn, resource: true})
			continue
		}
		if t.Column == schema.ColumnAttrs || t.Column == schema.ColumnResourceAttrs {
			l, err := r.listTest(t)
			if err != nil {
				return nil, err
			}
			out = append(out, rowTest{RowTest: t, list: l})
			continue
		}
		f, known := flatColumnNamed(t.Column)
		c, ok := r.file.Schema().Lookup(t.Column)
		if !known || f.flag == 0 || !ok || !c.Node.Leaf() {
			return nil, fmt.Errorf("no flat column %q to test", t.Column)
		}
		out = append(out, rowTest{RowTest: t, column: c.ColumnIndex, set: f.set})
	}
	return out, nil
}

// selectRows runs tests over row group g, a column at a time, and returns
// which rows pass them all, and whether any does. A column is read page by
// page from its decoded values, without a parquet.Value per row, and a
// dictionary-encoded column's test runs once per distinct value.
func (r *Reader) selectRows(ctx context.Context, g int, tests []rowTest) ([]bool, bool, error) {
	fetched, err := r.fetchChunks(ctx, g, testLeaves(tests))
	if err != nil {
		return nil, false, err
	}
	return selectFetched(ctx, fetched, r.file.RowGroups()[g].NumRows(), tests)
}

// testLeaves returns the leaf columns tests read.
func testLeaves(tests []rowTest) []int {
	var leaves []int
	for _, t := range tests {
		if t.list != nil {
			leaves = append(leaves, t.list.leaves[:]...)
		} else {
			leaves = append(leaves, t.column)
		}
	}
	return leaves
}

// selectFetched is selectRows of a row group of rows rows whose columns
// tests read are in fetched.
func selectFetched(ctx context.Context, fetched fetchedChunks, rows int64, tests []rowTest) ([]bool, bool, error) {
	var err error
	keep := make([]bool, rows)
	for i := range keep {
		keep[i] = true
	}
	for _, t := range tests {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		if t.list != nil {
			err = t.runList(fetched, keep)
		} else {
			err = t.run(fetched.pages(t.column), keep)
		}
		if err != nil {
			return nil, false, fmt.Errorf("test column %s: %w", t.Column, err)
		}
	}
	for _, k := range keep {
		if k {
			return keep, true, nil
		}
	}
	return keep, false, nil
}

// run clears keep for the rows of the column chunk pages holds that fail
// the test.
func (t *rowTest) run(pages parquet.Pages, keep []bool) error {
	var (
		row  int64
		dict parquet.Dictionary
		// byIndex caches the test's verdict on the dictionary's
		// values: 0 not asked yet, 1 kept, 2 failed.
		byIndex []uint8
		scratch schema.SpanRow
		a       = &arena{borrow: true}
		// A resource test sees the resource's every attribute, the
		// first occurrence of its key among them.
		resources resourceDecoder
		bad       error
	)
	test := func(v parquet.Value) bool {
		if !t.resource {
			t.set(&scratch, v, a)
			return t.Keep(&scratch)
		}
		attrs, err := resources.attrs(v.ByteArray(), nil)
		if err != nil {
			bad = cmp.Or(bad, err)
			return false
		}
		scratch.ResourceAttrs = attrs
		return t.Keep(&scratch)
	}
	err := eachPage(pages, func(p parquet.Page) error {
		n := p.NumRows()
		if row+n > int64(len(keep)) {
			return fmt.Errorf("page of %d rows from row %d in a group of %d", n, row, len(keep))
		}
		rows := keep[row : row+n]
		row += n
		if d := p.Dictionary(); d != nil && d != dict {
			dict, byIndex = d, make([]uint8, d.Len())
		}
		return testPage(p, rows, dict, byIndex, test)
	})
	return cmp.Or(err, bad)
}

// eachPage calls fn with each page pages reads, to the last, and closes
// pages. It stops at the first error fn returns.
func eachPage(pages parquet.Pages, fn func(parquet.Page) error) error {
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
}

// testPage clears rows for those of page p that fail test. Nulls are
// tested as the null value.
func testPage(p parquet.Page, rows []bool, dict parquet.Dictionary, byIndex []uint8, test func(parquet.Value) bool) error {
	defs := p.DefinitionLevels()
	nullPasses := -1 // not asked yet
	// next returns whether the k-th non-null value passes.
	var next func(k int) bool
	data := p.Data()
	count := len(rows)
	if defs != nil {
		count = 0
		for _, d := range defs {
			if d != 0 {
				count++
			}
		}
	}
	switch {
	case dict != nil && p.Dictionary() != nil:
		idx := data.Int32()
		if len(idx) != count {
			return genericTestPage(p, rows, test)
		}
		next = func(k int) bool {
			i := idx[k]
			if byIndex[i] == 0 {
				byIndex[i] = 2
				if test(dict.Index(i)) {
					byIndex[i] = 1
				}
			}
			return byIndex[i] == 1
		}
	case p.Type().Kind() == parquet.Int32:
		vals := data.Int32()
		if len(vals) != count {
			return genericTestPage(p, rows, test)
		}
		next = func(k int) bool { return test(parquet.Int32Value(vals[k])) }
	case p.Type().Kind() == parquet.Int64:
		vals := data.Int64()
		if len(vals) != count {
			return genericTestPage(p, rows, test)
		}
		next = func(k int) bool { return test(parquet.Int64Value(vals[k])) }
	case p.Type().Kind() == parquet.ByteArray:
		b, offsets := data.ByteArray()
		if len(offsets) != count+1 {
			return genericTestPage(p, rows, test)
		}
		next = func(k int) bool { return test(parquet.ByteArrayValue(b[offsets[k]:offsets[k+1]])) }
	default:
		return genericTestPage(p, rows, test)
	}
	k := 0
	for i := range rows {
		if defs != nil && defs[i] == 0 {
			if nullPasses < 0 {
				nullPasses = 0
				if test(parquet.NullValue()) {
					nullPasses = 1
				}
			}
			rows[i] = rows[i] && nullPasses == 1
			continue
		}
		if rows[i] && !next(k) {
			rows[i] = false
		}
		k++
	}
	return nil
}

// genericTestPage is testPage through the page's values one by one, for
// the encodings testPage does not read directly.
func genericTestPage(p parquet.Page, rows []bool, test func(parquet.Value) bool) error {
	values := p.Values()
	buf := make([]parquet.Value, readBatch)
	i := 0
	for i < len(rows) {
		n, err := values.ReadValues(buf)
		for _, v := range buf[:n] {
			if i < len(rows) && rows[i] && !test(v) {
				rows[i] = false
			}
			i++
		}
		if errors.Is(err, io.EOF) || n == 0 && err == nil {
			break
		}
		if err != nil {
			return err
		}
	}
	if i != len(rows) {
		return fmt.Errorf("page of %d rows holds %d values", len(rows), i)
	}
	return nil
}
