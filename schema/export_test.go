package schema

import "sort"

// SortRows sorts rows into block order (see CompareRows).
func SortRows(rows []SpanRow) {
	sort.Sort(blockOrder(rows))
}

// blockOrder sorts in place through pointers: slices.SortFunc would copy
// the large rows at every comparison.
type blockOrder []SpanRow

func (o blockOrder) Len() int           { return len(o) }
func (o blockOrder) Less(i, j int) bool { return CompareRows(&o[i], &o[j]) < 0 }
func (o blockOrder) Swap(i, j int)      { o[i], o[j] = o[j], o[i] }

// AppendWire is RowDecoder's direct path alone: ok false where Append
// would take pdata's.
func (d *RowDecoder) AppendWire(rows []SpanRow, value []byte) ([]SpanRow, bool) {
	return d.appendWire(rows, value)
}

// AppendRangeWire is AppendRange's direct path alone: ok false where
// AppendRange would decode spanFilter's copy.
func (d *RowDecoder) AppendRangeWire(rows []SpanRow, value []byte, r SpanRange) ([]SpanRow, bool) {
	d.rng = rangeRead{SpanRange: r, on: true}
	defer func() { d.rng.on = false }()
	return d.appendRangeWire(rows, value)
}
