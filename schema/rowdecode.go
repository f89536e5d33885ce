package schema

import (
	"fmt"
	"hash/maphash"
	"math"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// Decoding a record's value straight into rows.
//
// Block-builders turn every record of the log into rows. Through pdata
// that is two steps, each allocating per attribute: decode into pdata's
// objects, then copy them into rows. RowDecoder reads the protobuf once
// and fills rows directly, with strings that repeat (attribute keys, span
// names, short values) interned and the small values rows point to
// allocated in slabs.
//
// The rows must be the ones pdata's path gives, for every value, and a
// value must fail exactly when pdata fails on it. So the direct path
// takes only what it reads as pdata surely does: known fields with
// pdata's wire types, IDs of pdata's lengths, well-formed unknown fields
// (no groups), AnyValues holding one scalar. Anything else (arrays and
// maps, groups, a singular message given twice, the fields pdata knows and
// rows leave out, any malformed byte) sends the whole value down pdata's
// path, which decodes it or fails with pdata's error. FuzzRowDecoder
// checks that the two paths agree.

// OTLP field numbers read by RowDecoder (ExportTraceServiceRequest and
// below).
const (
	rsResource      = 1 // ResourceSpans
	rsScopeSpans    = 2
	rsSchemaURL     = 3
	rsDeprecated    = 1000 // instrumentation_library_spans, which pdata renames
	resAttributes   = 1    // Resource
	resDropped      = 2
	resEntityRefs   = 3
	ssScope         = 1 // ScopeSpans
	ssSpans         = 2
	ssSchemaURL     = 3
	scopeName       = 1 // InstrumentationScope
	scopeVersion    = 2
	scopeAttributes = 3
	scopeDropped    = 4
	spanTraceIDNum  = 1 // Span
	spanSpanID      = 2
	spanTraceState  = 3
	spanParentID    = 4
	spanName        = 5
	spanKind        = 6
	spanStart       = 7
	spanEnd         = 8
	spanAttributes  = 9
	spanDropped     = 10
	spanEvents      = 11
	spanDroppedEv   = 12
	spanLinks       = 13
	spanDroppedLk   = 14
	spanStatus      = 15
	spanFlags       = 16
	statusMessage   = 2 // Status
	statusCode      = 3
	eventTime       = 1 // Span.Event
	eventName       = 2
	eventAttributes = 3
	eventDropped    = 4
	linkTraceID     = 1 // Span.Link
	linkSpanID      = 2
	linkTraceState  = 3
	linkAttributes  = 4
	linkDropped     = 5
	linkFlags       = 6
	kvKeyStrindex   = 3 // KeyValue.key_strindex, for profiles
	anyStrindex     = 8 // AnyValue.string_value_strindex, for profiles
)

// Bounds of a RowDecoder's memory between values.
const (
	// internSlots is how many strings a RowDecoder interns: a string
	// takes the slot of its hash, replacing the one there, so a stream of
	// unique values costs a fixed table, and repeated ones stay found.
	internSlots = 1 << 12
	// internMaxLen is the longest string interned: keys, names and short
	// values repeat, long ones (URLs, messages) mostly do not.
	internMaxLen = 48
	// slabLen is how many values each slab allocation holds.
	slabLen = 512
)

// RowDecoder decodes records' values into rows. Rows it returns share
// memory with each other (interned strings, slabs of attributes and
// values): treat them as read-only, as AppendRows' rows. It is not safe
// for concurrent use.
type RowDecoder struct {
	intern *[internSlots]string
	seed   maphash.Seed
	// Scratch space for the attributes of the message being read: span
	// attributes in one, the attributes of a resource, scope, event or
	// link (read inside a span or before its spans) in the other.
	spanAttrs, attrs []Attribute

	attrSlab []Attribute
	strSlab  []string
	intSlab  []int64
	dblSlab  []float64
	boolSlab []bool
}

// Append appends one row per span of value, a record's value (an OTLP
// ExportTraceServiceRequest in protobuf), to rows, as AppendRows does with
// the spans pdata decodes from it. A value pdata cannot decode is an
// error, and rows are returned as they were. Unlike DecodeSpans, a value
// without spans is no error: it adds no row.
func (d *RowDecoder) Append(rows []SpanRow, value []byte) ([]SpanRow, error) {
	n := len(rows)
	if out, ok := d.appendWire(rows, value); ok {
		return out, nil
	}
	clear(rows[n:cap(rows)])
	rows = rows[:n]
	var u ptrace.ProtoUnmarshaler
	td, err := u.UnmarshalTraces(value)
	if err != nil {
		return rows, fmt.Errorf("decode record: %w", err)
	}
	return AppendRows(rows, td), nil
}

// wireField is one field of a message.
type wireField struct {
	num protowire.Number
	typ protowire.Type
	val []byte // a length-delimited field's payload
	u   uint64 // a varint's or fixed field's value
}

// nextWire reads the field at the start of *b and moves *b past it. ok is false
// for anything the direct path leaves to pdata: malformed bytes, field
// numbers out of range, groups.
func nextWire(b *[]byte) (f wireField, ok bool) {
	num, typ, n := protowire.ConsumeTag(*b)
	if n < 0 || num > protowire.MaxValidNumber {
		return f, false
	}
	rest := (*b)[n:]
	f.num, f.typ = num, typ
	switch typ {
	case protowire.VarintType:
		f.u, n = protowire.ConsumeVarint(rest)
	case protowire.Fixed64Type:
		f.u, n = protowire.ConsumeFixed64(rest)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(rest)
		f.u = uint64(v)
	case protowire.BytesType:
		f.val, n = protowire.ConsumeBytes(rest)
	default:
		return f, false
	}
	if n < 0 {
		return f, false
	}
	*b = rest[n:]
	return f, true
}

func (f wireField) is(t protowire.Type) bool { return f.typ == t }

// appendWire is the direct path; ok false sends value to pdata's.
func (d *RowDecoder) appendWire(rows []SpanRow, value []byte) ([]SpanRow, bool) {
	if d.intern == nil {
		d.intern = new([internSlots]string)
		d.seed = maphash.MakeSeed()
	}
	for b := value; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return rows, false
		}
		if f.num != fieldResourceSpans {
			continue
		}
		if !f.is(protowire.BytesType) {
			return rows, false
		}
		if rows, ok = d.resourceSpans(rows, f.val); !ok {
			return rows, false
		}
	}
	return rows, true
}

// resourceRow is what a resource and its scope give each of their rows.
type resourceRow struct {
	attrs     []Attribute
	dropped   uint32
	schemaURL string
	service   string
	seen      bool
}

type scopeRow struct {
	name, version, schemaURL string
	attrs                    []Attribute
	dropped                  uint32
	seen                     bool
}

// resourceSpans reads a ResourceSpans in two passes, since its resource
// may follow its spans.
func (d *RowDecoder) resourceSpans(rows []SpanRow, msg []byte) ([]SpanRow, bool) {
	var res resourceRow
	for b := msg; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return rows, false
		}
		switch f.num {
		case rsResource:
			if !f.is(protowire.BytesType) || res.seen || !d.resource(&res, f.val) {
				return rows, false
			}
			res.seen = true
		case rsSchemaURL:
			if !f.is(protowire.BytesType) {
				return rows, false
			}
			res.schemaURL = d.str(f.val)
		case rsScopeSpans:
			if !f.is(protowire.BytesType) {
				return rows, false
			}
		case rsDeprecated:
			return rows, false
		}
	}
	res.service = lookupStrAttr(res.attrs, KeyServiceName)
	for b := msg; len(b) > 0; {
		f, _ := nextWire(&b)
		if f.num != rsScopeSpans {
			continue
		}
		var ok bool
		if rows, ok = d.scopeSpans(rows, f.val, &res); !ok {
			return rows, false
		}
	}
	return rows, true
}

func (d *RowDecoder) resource(res *resourceRow, msg []byte) bool {
	d.attrs = d.attrs[:0]
	for b := msg; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return false
		}
		switch f.num {
		case resAttributes:
			if !f.is(protowire.BytesType) || !d.keyValue(&d.attrs, f.val) {
				return false
			}
		case resDropped:
			if !f.is(protowire.VarintType) {
				return false
			}
			res.dropped = uint32(f.u)
		case resEntityRefs:
			return false
		}
	}
	res.attrs = d.keep(d.attrs)
	return true
}

func (d *RowDecoder) scopeSpans(rows []SpanRow, msg []byte, res *resourceRow) ([]SpanRow, bool) {
	var sc scopeRow
	for b := msg; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return rows, false
		}
		switch f.num {
		case ssScope:
			if !f.is(protowire.BytesType) || sc.seen || !d.scope(&sc, f.val) {
				return rows, false
			}
			sc.seen = true
		case ssSchemaURL:
			if !f.is(protowire.BytesType) {
				return rows, false
			}
			sc.schemaURL = d.str(f.val)
		case ssSpans:
			if !f.is(protowire.BytesType) {
				return rows, false
			}
		}
	}
	for b := msg; len(b) > 0; {
		f, _ := nextWire(&b)
		if f.num != ssSpans {
			continue
		}
		rows = append(rows, SpanRow{
			ResourceAttrs:                  res.attrs,
			ResourceDroppedAttributesCount: res.dropped,
			ResourceSchemaURL:              res.schemaURL,
			ScopeName:                      sc.name,
			ScopeVersion:                   sc.version,
			ScopeAttrs:                     sc.attrs,
			ScopeDroppedAttributesCount:    sc.dropped,
			ScopeSchemaURL:                 sc.schemaURL,
			ServiceName:                    res.service,
		})
		if !d.span(&rows[len(rows)-1], f.val) {
			return rows, false
		}
	}
	return rows, true
}

func (d *RowDecoder) scope(sc *scopeRow, msg []byte) bool {
	d.attrs = d.attrs[:0]
	for b := msg; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return false
		}
		switch f.num {
		case scopeName, scopeVersion:
			if !f.is(protowire.BytesType) {
				return false
			}
			if f.num == scopeName {
				sc.name = d.str(f.val)
			} else {
				sc.version = d.str(f.val)
			}
		case scopeAttributes:
			if !f.is(protowire.BytesType) || !d.keyValue(&d.attrs, f.val) {
				return false
			}
		case scopeDropped:
			if !f.is(protowire.VarintType) {
				return false
			}
			sc.dropped = uint32(f.u)
		}
	}
	sc.attrs = d.keep(d.attrs)
	return true
}

func (d *RowDecoder) span(r *SpanRow, msg []byte) bool {
	d.spanAttrs = d.spanAttrs[:0]
	var end uint64
	statusSeen := false
	for b := msg; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return false
		}
		switch f.num {
		case spanTraceIDNum, spanSpanID, spanParentID:
			if !f.is(protowire.BytesType) {
				return false
			}
			switch f.num {
			case spanTraceIDNum:
				ok = setID(r.TraceID[:], f.val)
			case spanSpanID:
				ok = setID(r.SpanID[:], f.val)
			default:
				ok = setID(r.ParentSpanID[:], f.val)
			}
			if !ok {
				return false
			}
		case spanTraceState, spanName:
			if !f.is(protowire.BytesType) {
				return false
			}
			if f.num == spanName {
				r.Name = d.str(f.val)
			} else {
				r.TraceState = d.str(f.val)
			}
		case spanKind:
			if !f.is(protowire.VarintType) {
				return false
			}
			r.Kind = int32(f.u)
		case spanStart, spanEnd:
			if !f.is(protowire.Fixed64Type) {
				return false
			}
			if f.num == spanStart {
				r.StartUnixNano = f.u
			} else {
				end = f.u
			}
		case spanAttributes:
			if !f.is(protowire.BytesType) || !d.keyValue(&d.spanAttrs, f.val) {
				return false
			}
		case spanDropped, spanDroppedEv, spanDroppedLk:
			if !f.is(protowire.VarintType) {
				return false
			}
			switch f.num {
			case spanDropped:
				r.DroppedAttributesCount = uint32(f.u)
			case spanDroppedEv:
				r.DroppedEventsCount = uint32(f.u)
			default:
				r.DroppedLinksCount = uint32(f.u)
			}
		case spanEvents:
			if !f.is(protowire.BytesType) {
				return false
			}
			r.Events = append(r.Events, Event{})
			if !d.event(&r.Events[len(r.Events)-1], f.val) {
				return false
			}
		case spanLinks:
			if !f.is(protowire.BytesType) {
				return false
			}
			r.Links = append(r.Links, Link{})
			if !d.link(&r.Links[len(r.Links)-1], f.val) {
				return false
			}
		case spanStatus:
			if !f.is(protowire.BytesType) || statusSeen || !status(r, f.val) {
				return false
			}
			statusSeen = true
		case spanFlags:
			if !f.is(protowire.Fixed32Type) {
				return false
			}
			r.Flags = uint32(f.u)
		}
	}
	r.DurationNano = int64(end - r.StartUnixNano)
	r.Attrs = d.keep(d.spanAttrs)
	r.HTTPMethod = lookupStrAttr(r.Attrs, keyHTTPMethod, keyHTTPMethodOld)
	r.HTTPURL = lookupStrAttr(r.Attrs, keyURL, keyURLOld)
	if code, ok := lookupIntAttr(r.Attrs, keyHTTPStatusCode, keyHTTPStatusCodeOld); ok {
		r.HTTPStatusCode = d.int(code)
	}
	return true
}

func status(r *SpanRow, msg []byte) bool {
	for b := msg; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return false
		}
		switch f.num {
		case statusMessage:
			if !f.is(protowire.BytesType) {
				return false
			}
			r.StatusMessage = string(f.val)
		case statusCode:
			if !f.is(protowire.VarintType) {
				return false
			}
			r.StatusCode = int32(f.u)
		}
	}
	return true
}

func (d *RowDecoder) event(e *Event, msg []byte) bool {
	d.attrs = d.attrs[:0]
	for b := msg; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return false
		}
		switch f.num {
		case eventTime:
			if !f.is(protowire.Fixed64Type) {
				return false
			}
			e.TimeUnixNano = f.u
		case eventName:
			if !f.is(protowire.BytesType) {
				return false
			}
			e.Name = d.str(f.val)
		case eventAttributes:
			if !f.is(protowire.BytesType) || !d.keyValue(&d.attrs, f.val) {
				return false
			}
		case eventDropped:
			if !f.is(protowire.VarintType) {
				return false
			}
			e.DroppedAttributesCount = uint32(f.u)
		}
	}
	e.Attrs = d.keep(d.attrs)
	return true
}

func (d *RowDecoder) link(l *Link, msg []byte) bool {
	d.attrs = d.attrs[:0]
	for b := msg; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return false
		}
		switch f.num {
		case linkTraceID, linkSpanID, linkTraceState:
			if !f.is(protowire.BytesType) {
				return false
			}
			switch f.num {
			case linkTraceID:
				ok = setID(l.TraceID[:], f.val)
			case linkSpanID:
				ok = setID(l.SpanID[:], f.val)
			default:
				l.TraceState = d.str(f.val)
			}
			if !ok {
				return false
			}
		case linkAttributes:
			if !f.is(protowire.BytesType) || !d.keyValue(&d.attrs, f.val) {
				return false
			}
		case linkDropped:
			if !f.is(protowire.VarintType) {
				return false
			}
			l.DroppedAttributesCount = uint32(f.u)
		case linkFlags:
			if !f.is(protowire.Fixed32Type) {
				return false
			}
			l.Flags = uint32(f.u)
		}
	}
	l.Attrs = d.keep(d.attrs)
	return true
}

// setID sets id to b, an ID field: as in pdata, empty is the zero ID and
// any length but the ID's is refused.
func setID(id, b []byte) bool {
	switch len(b) {
	case 0:
		clear(id)
	case len(id):
		copy(id, b)
	default:
		return false
	}
	return true
}

// keyValue appends the attribute of msg, a KeyValue, to *dst.
func (d *RowDecoder) keyValue(dst *[]Attribute, msg []byte) bool {
	var key, value []byte
	valueSeen := false
	for b := msg; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return false
		}
		switch f.num {
		case kvKey:
			if !f.is(protowire.BytesType) {
				return false
			}
			key = f.val
		case kvValue:
			if !f.is(protowire.BytesType) || valueSeen {
				return false
			}
			value, valueSeen = f.val, true
		case kvKeyStrindex:
			return false
		}
	}
	a := Attribute{Key: d.str(key)}
	if !d.anyValue(&a, value) {
		return false
	}
	*dst = append(*dst, a)
	return true
}

// anyValue sets a's value to msg, an AnyValue holding at most one scalar,
// as attributeOf does with pdata's value.
func (d *RowDecoder) anyValue(a *Attribute, msg []byte) bool {
	var v wireField
	seen := false
	for b := msg; len(b) > 0; {
		f, ok := nextWire(&b)
		if !ok {
			return false
		}
		if f.num < anyString || f.num > anyStrindex {
			continue
		}
		if seen || f.typ != anyWireType(f.num) {
			return false
		}
		v, seen = f, true
	}
	if !seen {
		return true
	}
	switch v.num {
	case anyString:
		s := d.strSlot()
		*s = d.str(v.val)
		a.Str = s
	case anyBool:
		p := d.boolSlot()
		*p = v.u != 0
		a.Bool = p
	case anyInt:
		a.Int = d.int(int64(v.u))
	case anyDouble:
		p := d.dblSlot()
		*p = math.Float64frombits(v.u)
		a.Double = p
	case anyBytes:
		if len(v.val) == 0 {
			// As attributeOf: an empty byte string has no column.
			a.Any = protowire.AppendBytes(protowire.AppendTag(nil, anyBytes, protowire.BytesType), nil)
		} else {
			a.Bytes = append([]byte(nil), v.val...)
		}
	default: // arrays, maps and string indexes: pdata's path
		return false
	}
	return true
}

func anyWireType(num protowire.Number) protowire.Type {
	switch num {
	case anyBool, anyInt, anyStrindex:
		return protowire.VarintType
	case anyDouble:
		return protowire.Fixed64Type
	}
	return protowire.BytesType
}

// str returns b as a string, interned when short.
func (d *RowDecoder) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > internMaxLen {
		return string(b)
	}
	slot := &d.intern[maphash.Bytes(d.seed, b)%internSlots]
	if *slot != string(b) {
		*slot = string(b)
	}
	return *slot
}

// keep returns a copy of attrs in the attribute slab, nil when empty.
func (d *RowDecoder) keep(attrs []Attribute) []Attribute {
	if len(attrs) == 0 {
		return nil
	}
	if len(attrs) > len(d.attrSlab) {
		d.attrSlab = make([]Attribute, max(slabLen, len(attrs)))
	}
	out := d.attrSlab[:len(attrs):len(attrs)]
	copy(out, attrs)
	d.attrSlab = d.attrSlab[len(attrs):]
	return out
}

func (d *RowDecoder) strSlot() *string {
	if len(d.strSlab) == 0 {
		d.strSlab = make([]string, slabLen)
	}
	p := &d.strSlab[0]
	d.strSlab = d.strSlab[1:]
	return p
}

func (d *RowDecoder) int(v int64) *int64 {
	if len(d.intSlab) == 0 {
		d.intSlab = make([]int64, slabLen)
	}
	p := &d.intSlab[0]
	*p = v
	d.intSlab = d.intSlab[1:]
	return p
}

func (d *RowDecoder) dblSlot() *float64 {
	if len(d.dblSlab) == 0 {
		d.dblSlab = make([]float64, slabLen)
	}
	p := &d.dblSlab[0]
	d.dblSlab = d.dblSlab[1:]
	return p
}

func (d *RowDecoder) boolSlot() *bool {
	if len(d.boolSlab) == 0 {
		d.boolSlab = make([]bool, slabLen)
	}
	p := &d.boolSlab[0]
	d.boolSlab = d.boolSlab[1:]
	return p
}
