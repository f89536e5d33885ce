package block

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/spanlog/spanlog/schema"
)

// listTest is a RowTest of one attribute: the leaves of the list read.
// Bytes and other values that TraceQL reads as missing are not.
type listTest struct {
	// leaves are the key, str, int, double and bool leaves, and defs
	// their definition levels where they hold a value.
	leaves [5]int
	defs   [5]byte
}

func (r *Reader) listTest(t RowTest) (*listTest, error) {
	l := &listTest{}
	for i, leaf := range []string{schema.LeafKey, schema.LeafStr, schema.LeafInt, schema.LeafDouble, schema.LeafBool} {
		c, ok := r.file.Schema().Lookup(t.Column, leaf)
		if !ok {
			return nil, fmt.Errorf("no column %s.%s to test", t.Column, leaf)
		}
		l.leaves[i], l.defs[i] = c.ColumnIndex, byte(c.MaxDefinitionLevel)
	}
	return l, nil
}

// found is where a row holds the tested attribute first: its row, and the
// index of its values in the leaves, which the leaves of one list share.
type found struct {
	row, pos int64
}

// runList clears keep for the rows that fail an attribute test. The key
// leaf is read for every row, from the pages' decoded levels and values,
// comparing each distinct key of a dictionary once; the value leaves only
// at the rows that hold the key, stepping over the pages between.
func (t *rowTest) runList(fetched fetchedChunks, keep []bool) error {
	hits, err := t.list.findKey(fetched.pages(t.list.leaves[0]), t.Key)
	if err != nil {
		return err
	}
	attrs := make([]schema.Attribute, len(hits))
	for i := range attrs {
		attrs[i].Key = t.Key
	}
	// The strings are kept until every leaf is read: copied.
	a := &arena{}
	setters := [...]func(*schema.Attribute, parquet.Value){
		func(at *schema.Attribute, v parquet.Value) { at.Str = a.strPtr(v) },
		func(at *schema.Attribute, v parquet.Value) { n := v.Int64(); at.Int = &n },
		func(at *schema.Attribute, v parquet.Value) { f := v.Double(); at.Double = &f },
		func(at *schema.Attribute, v parquet.Value) { b := v.Boolean(); at.Bool = &b },
	}
	for i, leaf := range t.list.leaves[1:] {
		if t.Values != 0 && t.Values&(1<<i) == 0 {
			continue
		}
		err := valuesAt(fetched.pages(leaf), t.list.defs[i+1], hits, func(h int, v parquet.Value) { setters[i](&attrs[h], v) })
		if err != nil {
			return err
		}
	}
	var row schema.SpanRow
	list := func(l []schema.Attribute) {
		if t.Column == schema.ColumnAttrs {
			row.Attrs = l
		} else {
			row.ResourceAttrs = l
		}
	}
	list(nil)
	absentPasses := t.Keep(&row)
	next := 0
	for i := range keep {
		if next < len(hits) && hits[next].row == int64(i) {
			list(attrs[next : next+1])
			keep[i] = keep[i] && t.Keep(&row)
			next++
			continue
		}
		keep[i] = keep[i] && absentPasses
	}
	return nil
}

// findKey returns the rows whose list holds key, and where first, in row
// order.
func (l *listTest) findKey(pages parquet.Pages, key string) ([]found, error) {
	defer pages.Close()
	var (
		out     []found
		row     int64 = -1
		base    int64 // the index of the page's first value in the leaf
		seen    bool  // the row's first occurrence is found
		dict    parquet.Dictionary
		byIndex []uint8 // 0 not compared yet, 1 key, 2 another
	)
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		reps, defs := p.RepetitionLevels(), p.DefinitionLevels()
		if len(reps) != len(defs) {
			return nil, fmt.Errorf("page of %d repetition and %d definition levels", len(reps), len(defs))
		}
		keys := 0
		for _, d := range defs {
			if d == l.defs[0] {
				keys++
			}
		}
		// isKey says whether the k-th key of the page is key.
		var isKey func(k int) bool
		data := p.Data()
		if d := p.Dictionary(); d != nil {
			if d != dict {
				dict, byIndex = d, make([]uint8, d.Len())
			}
			idx := data.Int32()
			if len(idx) != keys {
				return nil, fmt.Errorf("page of %d keys holds %d", keys, len(idx))
			}
			isKey = func(k int) bool {
				i := idx[k]
				if byIndex[i] == 0 {
					byIndex[i] = 2
					if string(dict.Index(i).ByteArray()) == key {
						byIndex[i] = 1
					}
				}
				return byIndex[i] == 1
			}
		} else if p.Type().Kind() == parquet.ByteArray {
			b, offsets := data.ByteArray()
			if len(offsets) != keys+1 {
				return nil, fmt.Errorf("page of %d keys holds %d", keys, len(offsets)-1)
			}
			isKey = func(k int) bool { return string(b[offsets[k]:offsets[k+1]]) == key }
		} else {
			return nil, fmt.Errorf("attribute keys of kind %s", p.Type().Kind())
		}
		k := 0
		for j := range defs {
			if reps[j] == 0 {
				row, seen = row+1, false
			}
			if defs[j] != l.defs[0] {
				continue // an empty list
			}
			if !seen && isKey(k) {
				out = append(out, found{row: row, pos: base + int64(j)})
				seen = true
			}
			k++
		}
		base += int64(len(defs))
	}
}

// valuesAt calls fn with the value at each of hits in the leaf pages
// holds, where it is not null (definition level def), reading each page's
// decoded levels and values rather than a parquet.Value per value.
func valuesAt(pages parquet.Pages, def byte, hits []found, fn func(hit int, v parquet.Value)) error {
	defer pages.Close()
	var base int64
	h := 0
	for h < len(hits) {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%d values short of the key's", len(hits)-h)
		}
		if err != nil {
			return err
		}
		defs := p.DefinitionLevels()
		end := base + int64(len(defs))
		if hits[h].pos >= end {
			base = end
			continue
		}
		get, err := nonNullValues(p, defs, def)
		if err != nil {
			return err
		}
		// k counts the values before position i of the page.
		k, i := 0, int64(0)
		for ; h < len(hits) && hits[h].pos < end; h++ {
			at := hits[h].pos - base
			for ; i < at; i++ {
				if defs[i] == def {
					k++
				}
			}
			if defs[at] == def {
				fn(h, get(k))
			}
		}
		base = end
	}
	return nil
}

// nonNullValues returns the k-th value of page p that is not null.
func nonNullValues(p parquet.Page, defs []byte, def byte) (func(k int) parquet.Value, error) {
	count := 0
	for _, d := range defs {
		if d == def {
			count++
		}
	}
	data := p.Data()
	if d := p.Dictionary(); d != nil {
		idx := data.Int32()
		if len(idx) != count {
			return nil, fmt.Errorf("page of %d values holds %d", count, len(idx))
		}
		return func(k int) parquet.Value { return d.Index(idx[k]) }, nil
	}
	switch p.Type().Kind() {
	case parquet.Int64:
		vals := data.Int64()
		if len(vals) == count {
			return func(k int) parquet.Value { return parquet.Int64Value(vals[k]) }, nil
		}
	case parquet.Double:
		vals := data.Double()
		if len(vals) == count {
			return func(k int) parquet.Value { return parquet.DoubleValue(vals[k]) }, nil
		}
	case parquet.ByteArray:
		b, offsets := data.ByteArray()
		if len(offsets) == count+1 {
			return func(k int) parquet.Value { return parquet.ByteArrayValue(b[offsets[k]:offsets[k+1]]) }, nil
		}
	}
	// Booleans, and anything else: the values one by one.
	vals := make([]parquet.Value, 0, count)
	buf := make([]parquet.Value, readBatch)
	r := p.Values()
	for {
		n, err := r.ReadValues(buf)
		for _, v := range buf[:n] {
			if !v.IsNull() {
				vals = append(vals, v)
			}
		}
		if errors.Is(err, io.EOF) || n == 0 && err == nil {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(vals) != count {
		return nil, fmt.Errorf("page of %d values holds %d", count, len(vals))
	}
	return func(k int) parquet.Value { return vals[k] }, nil
}
