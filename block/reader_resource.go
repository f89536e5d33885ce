package block

import (
	"fmt"
	"slices"

	"github.com/parquet-go/parquet-go"

	"github.com/spanlog/spanlog/schema"
)

// maxResourceBytes bounds the values a resourceDecoder keeps decoded:
// past it, it forgets them all and decodes afresh. A block's distinct
// resources and scopes are a few kilobytes to a few hundred; a block with
// more decodes some of them more than once.
const maxResourceBytes = 1 << 20

// resourceDecoder decodes the values of format v3's resource column
// (schema.SpanRowV3.Resource), each distinct value once, for one read of
// a block: the rows it fills share the resources' and scopes' memory,
// which no one changes. It is not safe for concurrent use.
type resourceDecoder struct {
	byValue map[string]*schema.ResourceScope
	// kept are the attributes of each resource that keys keeps.
	kept  map[*schema.ResourceScope][]schema.Attribute
	bytes int
}

// get returns the resource and scope of value b.
func (d *resourceDecoder) get(b []byte) (*schema.ResourceScope, error) {
	if s, ok := d.byValue[string(b)]; ok {
		return s, nil
	}
	s, err := schema.DecodeResourceScope(b)
	if err != nil {
		return nil, fmt.Errorf("column %s: %w", schema.ColumnResource, err)
	}
	if d.byValue == nil || d.bytes+len(b) > maxResourceBytes {
		d.byValue, d.kept, d.bytes = map[string]*schema.ResourceScope{}, map[*schema.ResourceScope][]schema.Attribute{}, 0
	}
	d.byValue[string(b)] = &s
	d.bytes += len(b)
	return &s, nil
}

// set sets row's resource and scope to value b's.
func (d *resourceDecoder) set(row *schema.SpanRow, b []byte) error {
	s, err := d.get(b)
	if err != nil {
		return err
	}
	s.Set(row)
	row.ResourceAttrs, row.ScopeAttrs = slices.Clip(row.ResourceAttrs), slices.Clip(row.ScopeAttrs)
	return nil
}

// attrs returns the attributes of value b's resource that keys holds, or
// all if keys is nil.
func (d *resourceDecoder) attrs(b []byte, keys map[string]bool) ([]schema.Attribute, error) {
	s, err := d.get(b)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return slices.Clip(s.Attrs), nil
	}
	if kept, ok := d.kept[s]; ok {
		return kept, nil
	}
	var kept []schema.Attribute
	for _, a := range s.Attrs {
		if keys[a.Key] {
			kept = append(kept, a)
		}
	}
	kept = slices.Clip(kept)
	d.kept[s] = kept
	return kept, nil
}

// rowReader reads whole rows of a row group: parquet-go's reader of
// SpanRow for blocks of format v1 and v2, v3Rows for v3.
type rowReader interface {
	Read(rows []schema.SpanRow) (int, error)
	SeekToRow(row int64) error
	Close() error
}

// newRowReader returns a reader of rg's whole rows, rg being of r.
func (r *Reader) newRowReader(rg parquet.RowGroup) rowReader {
	if r.resourceColumn < 0 {
		return parquet.NewGenericRowGroupReader[schema.SpanRow](rg)
	}
	return &v3Rows{rd: parquet.NewGenericRowGroupReader[schema.SpanRowV3](rg)}
}

// v3Rows reads the rows of a block of format v3 as SpanRows.
type v3Rows struct {
	rd        *parquet.GenericReader[schema.SpanRowV3]
	batch     []schema.SpanRowV3
	resources resourceDecoder
}

func (v *v3Rows) Read(rows []schema.SpanRow) (int, error) {
	if cap(v.batch) < len(rows) {
		v.batch = make([]schema.SpanRowV3, len(rows))
	}
	batch := v.batch[:len(rows)]
	// Zeroed rows make the reader allocate afresh what the caller keeps.
	clear(batch)
	n, err := v.rd.Read(batch)
	for i := range batch[:n] {
		if rerr := batch[i].SetSpan(&rows[i]); rerr != nil {
			return i, rerr
		}
		if rerr := v.resources.set(&rows[i], batch[i].Resource); rerr != nil {
			return i, rerr
		}
	}
	clear(batch[:n])
	return n, err
}

func (v *v3Rows) SeekToRow(row int64) error { return v.rd.SeekToRow(row) }
func (v *v3Rows) Close() error              { return v.rd.Close() }
