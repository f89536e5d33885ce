package live

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
)

// A record's index holds what span filters test of each of its spans, laid
// out as a small columnar block, so that a search judges a record's spans
// without decoding it (see Slice.Match): a column per field (the span's
// name, status, status message, kind and duration, and each attribute key
// of the spans and of the resources), each with the field's distinct
// values in the record, so that a filter judges a value once per record
// however many spans hold it, and which span (or resource) holds which. A
// filter reads only the columns of the fields it tests, and a record none
// of whose values passes is ruled out without reading which span holds
// them.
//
// It is one byte string, never written once built:
//
//	index    = uvarint(spans) span* uvarint(resources) column*
//	span     = uvarint(trace) uvarint(resource)
//	column   = kind [key] uvarint(len(body)) body
//	key      = uvarint(1 + key ID) | 0 uvarint(len) bytes     (attributes)
//	body     = varint(duration)*                             (durations)
//	         | uvarint(values) value* refs
//	refs     = uvarint(value ID)*                            (intrinsics)
//	         | uvarint(n) (uvarint(row gap) uvarint(value ID))*   (attributes)
//	value    = 'S' uvarint(len) bytes | 'I' varint | 'D' float64 bits
//	         | 'T' | 'F' | 'O' | 'L'
//
// A span's trace is its trace's place in the record's summaries (in trace
// ID order), its resource the place of its ResourceSpans in the record.
// Intrinsic columns give every span a value, in span order; durations,
// nearly all distinct, have no dictionary. An attribute's key is its ID in
// the tail's keyTable, or the key in full when the table does not hold
// it; its rows are spans, or resources for resource attributes, in
// increasing order, each the gap from the one before; a key a span holds
// twice counts once, as its first value, as TraceQL reads it. 'O' is a
// value of a type filters cannot compare (bytes, arrays, maps, empty):
// the attribute exists, with no value; 'L' a string longer than
// maxIndexedString, which the index does not hold: a record whose test
// reads one is decoded.
//
// The index copies each distinct value of at most maxIndexedString bytes
// once per field, and costs a few bytes per span and attribute beside:
// about as much as the record's compressed value for the load
// generator's spans. It is counted in the record's cost against the tail's
// bound.

// maxIndexedString is the longest string value (or attribute key) an
// index holds. Longer ones, rare in the fields people filter on, would
// make the index as large as the record.
const maxIndexedString = 256

// columnField says which field a column holds.
type columnField byte

const (
	columnName columnField = iota + 1
	columnStatus
	columnStatusMessage
	columnSpanKind
	columnDuration
	columnSpanAttr
	columnResourceAttr
)

// intrinsicColumns are the columns every span has a value in, in the
// order each index holds them.
var intrinsicColumns = [...]columnField{columnName, columnStatus, columnStatusMessage, columnSpanKind, columnDuration}

// Tags of the values of an index.
const (
	tagString = 'S'
	tagInt    = 'I'
	tagDouble = 'D'
	tagTrue   = 'T'
	tagFalse  = 'F'
	tagOther  = 'O'
	tagLong   = 'L'
)

// indexBuilder builds the indexes of a tail's records, and the summaries
// of their traces, reusing its columns and buffers from one record to the
// next.
type indexBuilder struct {
	keys *keyTable
	// order holds the record's rows in trace ID order, trace the place
	// of each row's trace among the record's summaries.
	order     []rowOrder
	trace     []int32
	spans     []byte
	nSpans    int
	resources int
	intrinsic [len(intrinsicColumns)]*indexColumn
	// attrs holds the attribute columns of every key seen, by kind and
	// key; used those the record being built uses, in the order it
	// first uses them.
	attrs map[columnKey]*indexColumn
	used  []*indexColumn
	// record numbers the records built, so that a column knows whether
	// the record being built uses it yet; generation the times attrs
	// was forgotten, so that a column forgotten is not used again.
	record, generation uint64
	// first holds, for span and for resource attributes, a column that
	// is none, whose after holds the columns of the first keys of the
	// last rows.
	first [2]indexColumn
	// interned is the cost of the keys the record added to the table.
	interned int64
	out      []byte
	// names holds the summaries' root names and services: the rows'
	// strings may be the record's memory (schema.RowDecoder.Borrow),
	// which the tail does not hold, and the same few repeat.
	names schema.Interner
}

type columnKey struct {
	kind columnField
	key  string
}

type indexColumn struct {
	kind columnField
	key  string
	// ref is 1 + the key's ID in the table, 0 if the table lacks it.
	ref uint64
	// after holds the columns the last rows using this one used next,
	// the latest first: spans of one shape name their keys in one
	// order, and the builder looks the next key up there first. Two,
	// as shapes often share a key then part (a server's and a client's
	// HTTP spans).
	after              [2]*indexColumn
	record, generation uint64
	// found finds the IDs of the record's distinct strings, ints and
	// doubles; tags holds 1 + those of the values of each tag without
	// more (true, false, other, long).
	found   valueTable
	tags    [4]uint64
	values  []byte
	nValues uint64
	refs    []byte
	nRefs   uint64
	// next is the first row a value of the column may be given for:
	// rows come in order, and a key held twice by one row counts once.
	next int
}

// maxBuilderColumns bounds the attribute columns a builder keeps between
// records; past it, it forgets them all.
const maxBuilderColumns = 4 * maxIndexedKeys

func newIndexBuilder(keys *keyTable) *indexBuilder {
	b := &indexBuilder{keys: keys, attrs: make(map[columnKey]*indexColumn)}
	for i, kind := range intrinsicColumns {
		b.intrinsic[i] = newIndexColumn(kind, "", 0)
	}
	return b
}

func newIndexColumn(kind columnField, key string, ref uint64) *indexColumn {
	return &indexColumn{kind: kind, key: key, ref: ref}
}

// build returns the summaries of the traces of rows, one record's, the
// index of their spans, and the cost of the keys it added to the tail's
// table.
func (b *indexBuilder) build(rows []schema.SpanRow) ([]schema.TraceSummary, []byte, int64) {
	traces := b.summarize(rows)
	b.record++
	b.spans = b.spans[:0]
	b.nSpans, b.resources, b.used, b.interned = 0, 0, b.used[:0], 0
	for _, c := range b.intrinsic {
		c.reset(b.record)
	}
	if len(b.attrs) > maxBuilderColumns {
		clear(b.attrs)
		b.generation++
	}
	ri := -1
	for i := range rows {
		r := &rows[i]
		if i == 0 || !sameResource(&rows[i-1], r) {
			ri++
			b.resources++
			prev := &b.first[1]
			for j := range r.ResourceAttrs {
				a := &r.ResourceAttrs[j]
				prev = b.add(prev, columnResourceAttr, a, ri)
			}
		}
		b.addSpan(r, int(b.trace[i]), ri)
	}
	index := b.encode()
	for _, c := range b.intrinsic {
		c.release()
	}
	for _, c := range b.used {
		c.release()
	}
	return traces, index, b.interned
}

// rowOrder is a row's place in its record and its trace ID, as two
// numbers that compare as the ID's bytes do.
type rowOrder struct {
	hi, lo uint64
	row    int32
}

// summarize returns the summary of each trace's spans in rows, in trace
// ID order, then row order: what schema.SummarizeTrace says of each
// trace's rows. It sorts the rows' places rather than the rows, and sets
// b.trace.
func (b *indexBuilder) summarize(rows []schema.SpanRow) []schema.TraceSummary {
	b.order, b.trace = b.order[:0], slices.Grow(b.trace[:0], len(rows))[:len(rows)]
	for i := range rows {
		id := &rows[i].TraceID
		b.order = append(b.order, rowOrder{binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint64(id[8:]), int32(i)})
	}
	slices.SortFunc(b.order, func(x, y rowOrder) int {
		if c := cmp.Compare(x.hi, y.hi); c != 0 {
			return c
		}
		if c := cmp.Compare(x.lo, y.lo); c != 0 {
			return c
		}
		return cmp.Compare(x.row, y.row)
	})
	n := 0
	for k, o := range b.order {
		if k == 0 || o.hi != b.order[k-1].hi || o.lo != b.order[k-1].lo {
			n++
		}
	}
	// Held as long as the record: no room to spare.
	out := make([]schema.TraceSummary, 0, n)
	for _, o := range b.order {
		i := o.row
		r := &rows[i]
		sum := schema.TraceSummary{
			ID: r.TraceID, Start: r.StartUnixNano, End: r.EndUnixNano(), Spans: 1,
			Root: schema.RootSpan{
				Parentless: r.ParentSpanID == [8]byte{}, Start: r.StartUnixNano,
				// The service_name search column: a string or nothing.
				SpanID: r.SpanID, Name: r.Name, Service: r.ServiceName,
			},
		}
		if r.StatusCode == int32(ptrace.StatusCodeError) {
			sum.Errors = 1
		}
		if n := len(out); n > 0 && out[n-1].ID == r.TraceID {
			out[n-1].Merge(&sum)
		} else {
			out = append(out, sum)
		}
		b.trace[i] = int32(len(out) - 1)
	}
	for i := range out {
		root := &out[i].Root
		root.Name, root.Service = b.names.String(root.Name), b.names.String(root.Service)
	}
	return out
}

// maxKeptValues and maxKeptBytes bound what a column keeps between
// records for the next: past them, a large record's, it lets its maps
// and buffers go.
const (
	maxKeptValues = 1 << 12
	maxKeptBytes  = 64 << 10
)

// release lets go of the table and buffers a large record grew.
func (c *indexColumn) release() {
	if c.nValues > maxKeptValues || cap(c.values)+cap(c.refs) > maxKeptBytes {
		c.found = valueTable{}
		c.values, c.refs = nil, nil
	}
}

func (c *indexColumn) reset(record uint64) {
	c.record = record
	c.found.reset()
	c.tags = [4]uint64{}
	c.values, c.nValues = c.values[:0], 0
	c.refs, c.nRefs = c.refs[:0], 0
	c.next = 0
}

func (b *indexBuilder) addSpan(r *schema.SpanRow, trace, resource int) {
	row := b.nSpans
	b.nSpans++
	b.spans = binary.AppendUvarint(b.spans, uint64(trace))
	b.spans = binary.AppendUvarint(b.spans, uint64(resource))
	for i, c := range b.intrinsic {
		var vid uint64
		switch intrinsicColumns[i] {
		case columnName:
			vid = c.stringValue(r.Name)
		case columnStatus:
			vid = c.intValue(int64(r.StatusCode))
		case columnStatusMessage:
			vid = c.stringValue(r.StatusMessage)
		case columnSpanKind:
			vid = c.intValue(int64(r.Kind))
		case columnDuration:
			// As the block's rows hold it, so that the index and the
			// rows agree.
			c.refs = binary.AppendVarint(c.refs, r.DurationNano)
			continue
		}
		c.refs = binary.AppendUvarint(c.refs, vid)
	}
	prev := &b.first[0]
	for i := range r.Attrs {
		prev = b.add(prev, columnSpanAttr, &r.Attrs[i], row)
	}
}

// sameResource reports whether two rows of a record, next to each other,
// come from one resource: rows of a resource share its attributes.
// Resources without attributes are not told apart, and need not be:
// nothing of theirs is indexed.
func sameResource(a, b *schema.SpanRow) bool {
	if len(a.ResourceAttrs) != len(b.ResourceAttrs) {
		return false
	}
	return len(a.ResourceAttrs) == 0 || &a.ResourceAttrs[0] == &b.ResourceAttrs[0]
}

// add gives row the value of attribute a, unless the row has one, and
// returns the key's column; prev is the column of the row's attribute
// before, or the kind's first.
func (b *indexBuilder) add(prev *indexColumn, kind columnField, a *schema.Attribute, row int) *indexColumn {
	c := b.column(prev, kind, a.Key)
	if row < c.next {
		return c
	}
	var vid uint64
	switch {
	case a.Str != nil:
		vid = c.stringValue(*a.Str)
	case a.Int != nil:
		vid = c.intValue(*a.Int)
	case a.Double != nil:
		vid = c.doubleValue(*a.Double)
	case a.Bool != nil:
		if *a.Bool {
			vid = c.tagValue(tagTrue)
		} else {
			vid = c.tagValue(tagFalse)
		}
	default:
		vid = c.tagValue(tagOther)
	}
	c.refs = binary.AppendUvarint(c.refs, uint64(row-c.next))
	c.refs = binary.AppendUvarint(c.refs, vid)
	c.nRefs++
	c.next = row + 1
	return c
}

// column returns the column of attribute key of kind in the record being
// built, prev being the column of the row's attribute before, or the
// kind's first.
func (b *indexBuilder) column(prev *indexColumn, kind columnField, key string) *indexColumn {
	c := b.after(prev, kind, key)
	if c == nil {
		if c = b.attrs[columnKey{kind, key}]; c == nil {
			id, cost, ok := b.keys.intern(key)
			var ref uint64
			if ok {
				ref = id + 1
				b.interned += cost
			}
			c = newIndexColumn(kind, b.keys.canonical(key, id, ok), ref)
			c.generation = b.generation
			b.attrs[columnKey{kind, c.key}] = c
		}
		prev.after[0], prev.after[1] = c, prev.after[0]
	}
	if c.record != b.record {
		c.reset(b.record)
		b.used = append(b.used, c)
	}
	return c
}

// after returns the column of key of kind among those prev was last
// followed by, moving it first; nil if it is none of them.
func (b *indexBuilder) after(prev *indexColumn, kind columnField, key string) *indexColumn {
	for i, c := range prev.after {
		if c != nil && c.generation == b.generation && c.kind == kind && c.key == key {
			if i > 0 {
				prev.after[0], prev.after[i] = c, prev.after[0]
			}
			return c
		}
	}
	return nil
}

func (c *indexColumn) stringValue(s string) uint64 {
	if len(s) > maxIndexedString {
		return c.tagValue(tagLong)
	}
	// Its bytes, if it is new, follow its tag and length.
	at := len(c.values) + 1 + uvarintLen(uint64(len(s)))
	vid, found := c.found.findString(s, c.values, c.nValues, at)
	if found {
		return vid
	}
	c.newValue(tagString)
	c.values = binary.AppendUvarint(c.values, uint64(len(s)))
	c.values = append(c.values, s...)
	return vid
}

func (c *indexColumn) intValue(n int64) uint64 {
	return c.numberValue(tagInt, uint64(n))
}

func (c *indexColumn) doubleValue(f float64) uint64 {
	return c.numberValue(tagDouble, math.Float64bits(f))
}

// numberValue returns the ID of the int or double (by its bits) n.
func (c *indexColumn) numberValue(tag byte, n uint64) uint64 {
	vid, found := c.found.findNumber(tag, n, c.nValues)
	if found {
		return vid
	}
	c.newValue(tag)
	if tag == tagInt {
		c.values = binary.AppendVarint(c.values, int64(n))
	} else {
		c.values = binary.LittleEndian.AppendUint64(c.values, n)
	}
	return vid
}

// tagValue returns the ID of the value tag stands for alone.
func (c *indexColumn) tagValue(tag byte) uint64 {
	var slot *uint64
	switch tag {
	case tagTrue:
		slot = &c.tags[0]
	case tagFalse:
		slot = &c.tags[1]
	case tagOther:
		slot = &c.tags[2]
	default:
		slot = &c.tags[3]
	}
	if *slot == 0 {
		*slot = 1 + c.newValue(tag)
	}
	return *slot - 1
}

// newValue adds a value of tag, whose bytes follow, and returns its ID.
func (c *indexColumn) newValue(tag byte) uint64 {
	vid := c.nValues
	c.nValues++
	c.values = append(c.values, tag)
	return vid
}

// encode returns the index built, in a buffer of its own.
func (b *indexBuilder) encode() []byte {
	out := binary.AppendUvarint(b.out[:0], uint64(b.nSpans))
	out = append(out, b.spans...)
	out = binary.AppendUvarint(out, uint64(b.resources))
	for _, c := range b.intrinsic {
		out = c.encode(out)
	}
	for _, c := range b.used {
		out = c.encode(out)
	}
	b.out = out
	// Its own buffer, its capacity what the allocator gave, which the
	// tail counts.
	return append([]byte(nil), out...)
}

func (c *indexColumn) encode(out []byte) []byte {
	out = append(out, byte(c.kind))
	attr := c.kind == columnSpanAttr || c.kind == columnResourceAttr
	if attr {
		out = binary.AppendUvarint(out, c.ref)
		if c.ref == 0 {
			out = binary.AppendUvarint(out, uint64(len(c.key)))
			out = append(out, c.key...)
		}
	}
	if c.kind == columnDuration {
		out = binary.AppendUvarint(out, uint64(len(c.refs)))
		return append(out, c.refs...)
	}
	size := uvarintLen(c.nValues) + len(c.values) + len(c.refs)
	if attr {
		size += uvarintLen(c.nRefs)
	}
	out = binary.AppendUvarint(out, uint64(size))
	out = binary.AppendUvarint(out, c.nValues)
	out = append(out, c.values...)
	if attr {
		out = binary.AppendUvarint(out, c.nRefs)
	}
	return append(out, c.refs...)
}

func uvarintLen(n uint64) int { return (bits.Len64(n|1) + 6) / 7 }
