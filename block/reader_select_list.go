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
	// leaves are the key, str, int, double and bool leaves.
	leaves [5]int
	// keyDef is the key leaf's definition level when the list holds an
	// attribute there.
	keyDef byte
}

func (r *Reader) listTest(t RowTest) (*listTest, error) {
	l := &listTest{}
	for i, leaf := range []string{schema.LeafKey, schema.LeafStr, schema.LeafInt, schema.LeafDouble, schema.LeafBool} {
		c, ok := r.file.Schema().Lookup(t.Column, leaf)
		if !ok {
			return nil, fmt.Errorf("no column %s.%s to test", t.Column, leaf)
		}
		l.leaves[i] = c.ColumnIndex
		if i == 0 {
			l.keyDef = byte(c.MaxDefinitionLevel)
		}
	}
	return l, nil
}

// found is where a row holds the tested attribute first: its row, and its
// place in the row's list.
type found struct {
	row  int64
	elem int
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
		c := fetched.cursor(leaf)
		err := valuesAt(c, hits, func(h int, v parquet.Value) { setters[i](&attrs[h], v) })
		c.close()
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
		elem    int
		seen    bool // the row's first occurrence is found
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
			if d == l.keyDef {
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
				row, elem, seen = row+1, 0, false
			} else {
				elem++
			}
			if defs[j] != l.keyDef {
				continue // an empty list
			}
			if !seen && isKey(k) {
				out = append(out, found{row: row, elem: elem})
				seen = true
			}
			k++
		}
	}
}

// valuesAt calls fn with the value of each of hits in the repeated leaf
// c reads, where it is not null.
func valuesAt(c *leafCursor, hits []found, fn func(hit int, v parquet.Value)) error {
	var pos int64
	for h, at := range hits {
		if at.row > pos {
			if err := c.skipRepeated(at.row-pos, at.row); err != nil {
				return err
			}
		}
		pos = at.row + 1
		for e := 0; ; e++ {
			if e > 0 {
				next, ok, err := c.peek()
				if err != nil {
					return err
				}
				if !ok || next.RepetitionLevel() == 0 {
					break
				}
			}
			v, err := c.next()
			if err != nil {
				return err
			}
			if e == at.elem && !v.IsNull() {
				fn(h, v)
			}
		}
	}
	return nil
}
