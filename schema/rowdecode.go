package schema

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

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

// slabLen is how many values each slab allocation of a RowDecoder holds.
const slabLen = 512

// RowDecoder decodes records' values into rows. Rows it returns share
// memory with each other (interned strings, slabs of attributes and
// values): treat them as read-only, as AppendRows' rows. It is not safe
// for concurrent use.
type RowDecoder struct {
	// Lean, when set, makes rows lean for readers that need a span's own
	// fields and a few of its attributes (the metrics-generator): the
	// rows keep the span, resource and scope attributes whose keys Lean
	// keeps, and the resource's service.name (the search columns are
	// those of the attributes kept), and no events or links.
	// What is left out is still read, and checked as pdata
	// would, so that a value fails exactly where it fails for every
	// reader; it is not kept. Nil keeps everything.
	Lean func(key []byte) bool
	// NoEventsOrLinks, when set, leaves events and links out of the rows
	// as Lean does, keeping every attribute: for readers of the spans'
	// own fields and of their and their resources' attributes (the
	// querier's live tail). What it leaves out is still read and checked,
	// as with Lean.
	NoEventsOrLinks bool
	// Borrow, when set, makes the rows' strings and byte strings point
	// into the value they were decoded from rather than copy it: no
	// string is interned or allocated. The rows then hold only as long
	// as the value does, unchanged; what outlives it must be copied. For
	// a reader done with each value's rows before it lets the value go
	// (the querier's live tail and the metrics-generator, which copy the
	// little they keep).
	Borrow bool

	// dropping says what is read is checked, not kept (see Lean).
	dropping bool
	event    Event // where a lean decode reads the events and links it drops
	link     Link

	rng    rangeRead  // the range AppendRange decodes, if on
	filter spanFilter // AppendRange's way for what its direct path does not read

	intern Interner
	// Scratch space for the attributes of the message being read: span
	// attributes in one, the attributes of a resource, scope, event or
	// link (read inside a span or before its spans) in the other.
	spanAttrs, attrs []Attribute

	attrSlab slab[Attribute]
	strSlab  slab[string]
	intSlab  slab[int64]
	dblSlab  slab[float64]
	boolSlab slab[bool]
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

// nextWire reads the field at the start of b: its number, its wire type,
// its payload if length-delimited, else its value, and its length in b.
// The length is negative for anything the direct path leaves to pdata:
// malformed bytes, field numbers out of range, groups. (The field comes
// back in registers: a wireField is too large for them, and copying a
// returned one, or filling one through a pointer, cost more than the
// rest of reading it.) Tags, varints and lengths of one byte, which
// OTLP's are but for timestamps, IDs aside, and long values, are read
// without protowire's calls.
func nextWire(b []byte) (num protowire.Number, typ protowire.Type, val []byte, u uint64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		num, typ, n = protowire.Number(b[0]>>3), protowire.Type(b[0]&7), 1
		if num < protowire.MinValidNumber {
			return 0, 0, nil, 0, -1
		}
	} else {
		num, typ, n = protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return 0, 0, nil, 0, -1
		}
	}
	rest := b[n:]
	var m int
	switch typ {
	case protowire.VarintType:
		if len(rest) > 0 && rest[0] < 0x80 {
			u, m = uint64(rest[0]), 1
		} else {
			u, m = protowire.ConsumeVarint(rest)
		}
	case protowire.BytesType:
		if len(rest) > 0 && rest[0] < 0x80 {
			l := int(rest[0])
			if l >= len(rest) {
				return 0, 0, nil, 0, -1
			}
			val, m = rest[1:1+l], 1+l
		} else {
			val, m = protowire.ConsumeBytes(rest)
		}
	case protowire.Fixed64Type:
		u, m = protowire.ConsumeFixed64(rest)
	case protowire.Fixed32Type:
		var v uint32
		v, m = protowire.ConsumeFixed32(rest)
		u = uint64(v)
	default:
		return 0, 0, nil, 0, -1
	}
	if m < 0 {
		return 0, 0, nil, 0, -1
	}
	return num, typ, val, u, n + m
}

// shortBytesField reads the field at the start of b as nextWire does
// when it is its commonest: of a one-byte tag, length-delimited, under
// 128 bytes. n is 0 for any other. Unlike nextWire, it is inlined.
func shortBytesField(b []byte) (num protowire.Number, val []byte, n int) {
	if len(b) > 1 {
		tag, l := b[0], int(b[1])
		if tag&0x87 == byte(protowire.BytesType) && tag >= 1<<3 && l < 0x80 && l < len(b)-1 {
			return protowire.Number(tag >> 3), b[2 : 2+l], 2 + l
		}
	}
	return 0, nil, 0
}

// fieldsOf calls fn with each field of msg that typeOf names, once its
// wire type is checked against typeOf's; fields typeOf does not name are
// skipped, as protobuf skips unknown fields. It reports false, sending
// the value to pdata's path, for a field that does not read, one of
// another wire type, or fn's false.
func fieldsOf(msg []byte, typeOf func(protowire.Number) (protowire.Type, bool), fn func(f wireField) bool) bool {
	for b := msg; len(b) > 0; {
		num, val, n := shortBytesField(b)
		wt, u := protowire.BytesType, uint64(0)
		if n == 0 {
			num, wt, val, u, n = nextWire(b)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
		f := wireField{num: num, typ: wt, val: val, u: u}
		typ, known := typeOf(f.num)
		if !known {
			continue
		}
		if f.typ != typ || !fn(f) {
			return false
		}
	}
	return true
}

// The wire types of the fields the direct path reads, per message. A
// field that pdata reads and rows leave out is named too, and refused by
// its reader, so that pdata's path decides about it.

func requestField(num protowire.Number) (protowire.Type, bool) {
	return protowire.BytesType, num == fieldResourceSpans
}

func resourceSpansField(num protowire.Number) (protowire.Type, bool) {
	switch num {
	case rsResource, rsScopeSpans, rsSchemaURL, rsDeprecated:
		return protowire.BytesType, true
	}
	return 0, false
}

func resourceField(num protowire.Number) (protowire.Type, bool) {
	switch num {
	case resAttributes, resEntityRefs:
		return protowire.BytesType, true
	case resDropped:
		return protowire.VarintType, true
	}
	return 0, false
}

func scopeSpansField(num protowire.Number) (protowire.Type, bool) {
	switch num {
	case ssScope, ssSpans, ssSchemaURL:
		return protowire.BytesType, true
	}
	return 0, false
}

func scopeField(num protowire.Number) (protowire.Type, bool) {
	switch num {
	case scopeName, scopeVersion, scopeAttributes:
		return protowire.BytesType, true
	case scopeDropped:
		return protowire.VarintType, true
	}
	return 0, false
}

func spanField(num protowire.Number) (protowire.Type, bool) {
	switch num {
	case spanTraceIDNum, spanSpanID, spanTraceState, spanParentID, spanName, spanAttributes, spanEvents, spanLinks, spanStatus:
		return protowire.BytesType, true
	case spanKind, spanDropped, spanDroppedEv, spanDroppedLk:
		return protowire.VarintType, true
	case spanStart, spanEnd:
		return protowire.Fixed64Type, true
	case spanFlags:
		return protowire.Fixed32Type, true
	}
	return 0, false
}

func statusField(num protowire.Number) (protowire.Type, bool) {
	switch num {
	case statusMessage:
		return protowire.BytesType, true
	case statusCode:
		return protowire.VarintType, true
	}
	return 0, false
}

func eventField(num protowire.Number) (protowire.Type, bool) {
	switch num {
	case eventName, eventAttributes:
		return protowire.BytesType, true
	case eventTime:
		return protowire.Fixed64Type, true
	case eventDropped:
		return protowire.VarintType, true
	}
	return 0, false
}

func linkField(num protowire.Number) (protowire.Type, bool) {
	switch num {
	case linkTraceID, linkSpanID, linkTraceState, linkAttributes:
		return protowire.BytesType, true
	case linkDropped:
		return protowire.VarintType, true
	case linkFlags:
		return protowire.Fixed32Type, true
	}
	return 0, false
}

func keyValueField(num protowire.Number) (protowire.Type, bool) {
	switch num {
	case kvKey, kvValue:
		return protowire.BytesType, true
	case kvKeyStrindex:
		return protowire.VarintType, true
	}
	return 0, false
}

// appendWire is the direct path; ok false sends value to pdata's.
func (d *RowDecoder) appendWire(rows []SpanRow, value []byte) ([]SpanRow, bool) {
	ok := fieldsOf(value, requestField, func(f wireField) bool {
		var ok bool
		rows, ok = d.resourceSpans(rows, f.val)
		return ok
	})
	return rows, ok
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
	ok := fieldsOf(msg, resourceSpansField, func(f wireField) bool {
		switch f.num {
		case rsResource:
			if res.seen {
				return false
			}
			res.seen = true
			return d.resource(&res, f.val)
		case rsSchemaURL:
			res.schemaURL = d.str(f.val)
		case rsDeprecated:
			return false
		}
		return true
	})
	if !ok {
		return rows, false
	}
	res.service = lookupStrAttr(res.attrs, KeyServiceName)
	ok = fieldsOf(msg, resourceSpansField, func(f wireField) bool {
		if f.num == rsScopeSpans {
			rows, ok = d.scopeSpans(rows, f.val, &res)
			return ok
		}
		return true
	})
	return rows, ok
}

func (d *RowDecoder) resource(res *resourceRow, msg []byte) bool {
	d.attrs = d.attrs[:0]
	var keep func(key []byte) bool
	if d.Lean != nil {
		keep = d.leanResource
	}
	ok := fieldsOf(msg, resourceField, func(f wireField) bool {
		switch f.num {
		case resAttributes:
			return d.keyValue(&d.attrs, f.val, keep)
		case resDropped:
			res.dropped = uint32(f.u)
		case resEntityRefs:
			return false
		}
		return true
	})
	res.attrs = d.keep(d.attrs)
	return ok
}

// leanResource is Lean for a resource's attributes, which keep
// service.name too: the rows' ServiceName is its value.
func (d *RowDecoder) leanResource(key []byte) bool {
	return string(key) == KeyServiceName || d.Lean(key)
}

func (d *RowDecoder) scopeSpans(rows []SpanRow, msg []byte, res *resourceRow) ([]SpanRow, bool) {
	var sc scopeRow
	ok := fieldsOf(msg, scopeSpansField, func(f wireField) bool {
		switch f.num {
		case ssScope:
			if sc.seen {
				return false
			}
			sc.seen = true
			return d.scope(&sc, f.val)
		case ssSchemaURL:
			sc.schemaURL = d.str(f.val)
		}
		return true
	})
	if !ok {
		return rows, false
	}
	ok = fieldsOf(msg, scopeSpansField, func(f wireField) bool {
		if f.num != ssSpans {
			return true
		}
		var id [16]byte
		if d.rng.on {
			var in, planned bool
			if id, in, planned = d.rng.take(); !in {
				return planned
			}
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
		r := &rows[len(rows)-1]
		return d.span(r, f.val) && (!d.rng.on || r.TraceID == id)
	})
	return rows, ok
}

func (d *RowDecoder) scope(sc *scopeRow, msg []byte) bool {
	d.attrs = d.attrs[:0]
	ok := fieldsOf(msg, scopeField, func(f wireField) bool {
		switch f.num {
		case scopeName:
			sc.name = d.str(f.val)
		case scopeVersion:
			sc.version = d.str(f.val)
		case scopeAttributes:
			return d.keyValue(&d.attrs, f.val, d.Lean)
		case scopeDropped:
			sc.dropped = uint32(f.u)
		}
		return true
	})
	sc.attrs = d.keep(d.attrs)
	return ok
}

func (d *RowDecoder) span(r *SpanRow, msg []byte) bool {
	d.spanAttrs = d.spanAttrs[:0]
	var end uint64
	statusSeen := false
	// fieldsOf with spanField, unrolled as in keyValue: its call per
	// field cost a tenth of a lean decode.
	for b := msg; len(b) > 0; {
		num, val, n := shortBytesField(b)
		typ, u := protowire.BytesType, uint64(0)
		if n == 0 {
			num, typ, val, u, n = nextWire(b)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
		want, known := spanField(num)
		if !known {
			continue
		}
		if typ != want {
			return false
		}
		ok := true
		switch num {
		case spanTraceIDNum:
			ok = setID(r.TraceID[:], val)
		case spanSpanID:
			ok = setID(r.SpanID[:], val)
		case spanParentID:
			ok = setID(r.ParentSpanID[:], val)
		case spanName:
			r.Name = d.str(val)
		case spanTraceState:
			r.TraceState = d.str(val)
		case spanKind:
			r.Kind = int32(u)
		case spanStart:
			r.StartUnixNano = u
		case spanEnd:
			end = u
		case spanAttributes:
			ok = d.keyValue(&d.spanAttrs, val, d.Lean)
		case spanDropped:
			r.DroppedAttributesCount = uint32(u)
		case spanDroppedEv:
			r.DroppedEventsCount = uint32(u)
		case spanDroppedLk:
			r.DroppedLinksCount = uint32(u)
		case spanEvents:
			if d.Lean != nil || d.NoEventsOrLinks {
				ok = d.drop(func() bool { return d.readEvent(&d.event, val) })
			} else {
				r.Events = append(r.Events, Event{})
				ok = d.readEvent(&r.Events[len(r.Events)-1], val)
			}
		case spanLinks:
			if d.Lean != nil || d.NoEventsOrLinks {
				ok = d.drop(func() bool { return d.readLink(&d.link, val) })
			} else {
				r.Links = append(r.Links, Link{})
				ok = d.readLink(&r.Links[len(r.Links)-1], val)
			}
		case spanStatus:
			ok = !statusSeen && d.status(r, val)
			statusSeen = true
		case spanFlags:
			r.Flags = uint32(u)
		}
		if !ok {
			return false
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

func (d *RowDecoder) status(r *SpanRow, msg []byte) bool {
	return fieldsOf(msg, statusField, func(f wireField) bool {
		if f.num == statusMessage {
			r.StatusMessage = d.text(f.val)
		} else {
			r.StatusCode = int32(f.u)
		}
		return true
	})
}

func (d *RowDecoder) readEvent(e *Event, msg []byte) bool {
	d.attrs = d.attrs[:0]
	ok := fieldsOf(msg, eventField, func(f wireField) bool {
		switch f.num {
		case eventTime:
			e.TimeUnixNano = f.u
		case eventName:
			e.Name = d.str(f.val)
		case eventAttributes:
			return d.keyValue(&d.attrs, f.val, nil)
		case eventDropped:
			e.DroppedAttributesCount = uint32(f.u)
		}
		return true
	})
	e.Attrs = d.keep(d.attrs)
	return ok
}

func (d *RowDecoder) readLink(l *Link, msg []byte) bool {
	d.attrs = d.attrs[:0]
	ok := fieldsOf(msg, linkField, func(f wireField) bool {
		switch f.num {
		case linkTraceID:
			return setID(l.TraceID[:], f.val)
		case linkSpanID:
			return setID(l.SpanID[:], f.val)
		case linkTraceState:
			l.TraceState = d.str(f.val)
		case linkAttributes:
			return d.keyValue(&d.attrs, f.val, nil)
		case linkDropped:
			l.DroppedAttributesCount = uint32(f.u)
		case linkFlags:
			l.Flags = uint32(f.u)
		}
		return true
	})
	l.Attrs = d.keep(d.attrs)
	return ok
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

// drop runs read, which checks what it reads without keeping it.
func (d *RowDecoder) drop(read func() bool) bool {
	d.dropping = true
	ok := read()
	d.dropping = false
	return ok
}

// keyValue appends the attribute of msg, a KeyValue, to *dst, unless keep
// is set and refuses its key: then it only checks it.
func (d *RowDecoder) keyValue(dst *[]Attribute, msg []byte, keep func(key []byte) bool) bool {
	key, value, plain := plainKeyValue(msg)
	valueSeen := plain
	// fieldsOf with keyValueField, unrolled: a span reads many
	// attributes, and each would cost it two calls per field.
	for b := msg; !plain && len(b) > 0; {
		num, typ, val, _, n := nextWire(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		want, known := keyValueField(num)
		switch {
		case !known:
		case typ != want, num == kvKeyStrindex:
			return false
		case num == kvKey:
			key = val
		case valueSeen:
			return false
		default:
			value, valueSeen = val, true
		}
	}
	if keep != nil && !keep(key) {
		return d.drop(func() bool { return d.anyValue(nil, value) })
	}
	// Filled in place: an Attribute built aside and appended is copied
	// by wide loads of narrower stores, which stall.
	*dst = append(*dst, Attribute{})
	a := &(*dst)[len(*dst)-1]
	a.Key = d.str(key)
	return d.anyValue(a, value)
}

// plainKeyValue splits msg, a KeyValue, into its key and value when it
// is as encoders write it: the key and the value, each under 128 bytes,
// and nothing else. Google's protobuf writes the key first, pdata (the
// Collector's exporters) the value first: it encodes a message from its
// last field back. ok false leaves it to keyValue's loop.
func plainKeyValue(msg []byte) (key, value []byte, ok bool) {
	const keyTag, valueTag = kvKey<<3 | byte(protowire.BytesType), kvValue<<3 | byte(protowire.BytesType)
	if len(msg) < 4 || msg[1] >= 0x80 {
		return nil, nil, false
	}
	k := 2 + int(msg[1])
	if k+2 > len(msg) || msg[k+1] >= 0x80 || k+2+int(msg[k+1]) != len(msg) {
		return nil, nil, false
	}
	switch {
	case msg[0] == keyTag && msg[k] == valueTag:
		return msg[2:k], msg[k+2:], true
	case msg[0] == valueTag && msg[k] == keyTag:
		return msg[k+2:], msg[2:k], true
	}
	return nil, nil, false
}

// anyValue sets a's value to msg, an AnyValue holding at most one scalar,
// as attributeOf does with pdata's value.
func (d *RowDecoder) anyValue(a *Attribute, msg []byte) bool {
	var v wireField
	seen := false
	// A scalar, as encoders write it: its one field, a string under 128
	// bytes.
	switch {
	case len(msg) < 2:
	case msg[0] == anyString<<3|byte(protowire.BytesType) && msg[1] < 0x80 && int(msg[1])+2 == len(msg):
		v, seen = wireField{num: anyString, typ: protowire.BytesType, val: msg[2:]}, true
		msg = nil
	case msg[0] == anyDouble<<3|byte(protowire.Fixed64Type) && len(msg) == 9:
		v, seen = wireField{num: anyDouble, typ: protowire.Fixed64Type, u: binary.LittleEndian.Uint64(msg[1:])}, true
		msg = nil
	case msg[0] == anyInt<<3|byte(protowire.VarintType) || msg[0] == anyBool<<3|byte(protowire.VarintType):
		u, n := uint64(msg[1]), 1
		if u >= 0x80 {
			u, n = protowire.ConsumeVarint(msg[1:])
		}
		if n == len(msg)-1 {
			v, seen = wireField{num: protowire.Number(msg[0] >> 3), typ: protowire.VarintType, u: u}, true
			msg = nil
		}
	}
	for b := msg; len(b) > 0; {
		num, typ, val, u, n := nextWire(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if num < anyString || num > anyStrindex {
			continue
		}
		if seen || typ != anyWireType(num) {
			return false
		}
		v, seen = wireField{num: num, typ: typ, val: val, u: u}, true
	}
	if !seen {
		return true
	}
	if d.dropping {
		return v.num != anyArray && v.num != anyKVList && v.num != anyStrindex
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
			a.Bytes = v.val
			if !d.Borrow {
				a.Bytes = append([]byte(nil), v.val...)
			}
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

// str returns b as a string, interned when short, or b's own memory
// when borrowing.
func (d *RowDecoder) str(b []byte) string {
	if len(b) == 0 || d.dropping {
		return ""
	}
	if d.Borrow {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	return d.intern.Bytes(b)
}

// text returns b, a string that seldom repeats, as a string, b's own
// memory when borrowing.
func (d *RowDecoder) text(b []byte) string {
	if len(b) == 0 || !d.Borrow {
		return string(b)
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// keep returns a copy of attrs in the attribute slab, nil when empty.
func (d *RowDecoder) keep(attrs []Attribute) []Attribute {
	if len(attrs) == 0 || d.dropping {
		return nil
	}
	out := d.attrSlab.take(len(attrs))
	copy(out, attrs)
	return out
}

func (d *RowDecoder) strSlot() *string { return &d.strSlab.take(1)[0] }

func (d *RowDecoder) int(v int64) *int64 {
	p := &d.intSlab.take(1)[0]
	*p = v
	return p
}

func (d *RowDecoder) dblSlot() *float64 { return &d.dblSlab.take(1)[0] }

func (d *RowDecoder) boolSlot() *bool { return &d.boolSlab.take(1)[0] }

// Recycle lets d reuse the memory of the rows it returned so far for the
// rows it returns next: call it once nothing reads those rows, nor the
// attributes and values they point to, any more; their strings stay. A
// reader that is done with each record's rows once it has read them (the
// querier's live tail) so decodes without leaving garbage.
func (d *RowDecoder) Recycle() {
	d.attrSlab.rewind()
	d.strSlab.rewind()
	d.intSlab.rewind()
	d.dblSlab.rewind()
	d.boolSlab.rewind()
}

// slab hands out values from chunks of slabLen values or more, so that
// rows point into few allocations.
type slab[T any] struct {
	chunk []T
	next  int // the first value of chunk not handed out
	used  int // the values handed out since the last rewind
}

// maxRecycled bounds the values a slab keeps for Recycle to reuse: a
// larger record's are let go.
const maxRecycled = 16 * slabLen

func (s *slab[T]) take(n int) []T {
	if s.next+n > len(s.chunk) {
		s.chunk, s.next = make([]T, max(slabLen, n)), 0
	}
	out := s.chunk[s.next : s.next+n : s.next+n]
	s.next += n
	s.used += n
	return out
}

// rewind hands the values out again, from a chunk that holds as many as
// were handed out since the last rewind: the next rows likely need as
// many.
func (s *slab[T]) rewind() {
	if s.used > len(s.chunk) || len(s.chunk) > maxRecycled {
		s.chunk = nil
		if s.used <= maxRecycled {
			s.chunk = make([]T, max(slabLen, s.used))
		}
	}
	s.next, s.used = 0, 0
}
