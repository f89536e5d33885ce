package schema

import (
	"errors"
	"math"
	"slices"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// SpanRowV3 is a span as format v3 stores it: SpanRow with the resource
// and the instrumentation scope, which the spans of a resource share, in
// one column, Resource. It holds their OTLP encoding (AppendResourceScope):
// the column is dictionary-encoded, so each distinct resource and scope is
// stored once per page's dictionary, and the writer encodes one value per
// span instead of the five to thirty list leaves per attribute of format
// v2's resource_attrs and scope columns, about a quarter of the cost of
// encoding a block.
type SpanRowV3 struct {
	TraceID      [16]byte `parquet:"trace_id,zstd"`
	SpanID       [8]byte  `parquet:"span_id,zstd"`
	ParentSpanID [8]byte  `parquet:"parent_span_id,zstd"`
	TraceState   string   `parquet:"trace_state,optional,dict,zstd"`
	Flags        uint32   `parquet:"flags,zstd"`
	Name         string   `parquet:"name,dict,zstd"`
	Kind         int32    `parquet:"kind,zstd"`

	StartUnixNano uint64 `parquet:"start_unix_nano,delta,zstd"`
	DurationNano  int64  `parquet:"duration_nano,delta,zstd"`

	StatusCode    int32  `parquet:"status_code,zstd"`
	StatusMessage string `parquet:"status_message,optional,zstd"`

	Attrs                  []Attribute `parquet:"attrs"`
	DroppedAttributesCount uint32      `parquet:"dropped_attributes_count,zstd"`
	// Events and Links are the span's, as AppendEvents and AppendLinks
	// encode them; null when it has none.
	Events             []byte `parquet:"events,optional,zstd"`
	DroppedEventsCount uint32 `parquet:"dropped_events_count,zstd"`
	Links              []byte `parquet:"links,optional,zstd"`
	DroppedLinksCount  uint32 `parquet:"dropped_links_count,zstd"`

	// Resource is the span's resource and scope, as AppendResourceScope
	// encodes them.
	Resource []byte `parquet:"resource,dict,zstd"`

	ServiceName    string `parquet:"service_name,optional,dict,zstd"`
	HTTPMethod     string `parquet:"http_method,optional,dict,zstd"`
	HTTPStatusCode *int64 `parquet:"http_status_code,zstd"`
	HTTPURL        string `parquet:"http_url,optional,zstd"`

	Trace *TraceSummary `parquet:"trace,optional"`
}

// SetV3 sets dst to r as format v3 stores it, its resource and scope
// encoded in resource (see AppendResourceScope), and its events and links
// appended to buf, which it returns. dst shares r's memory and buf's.
func (r *SpanRow) SetV3(dst *SpanRowV3, resource, buf []byte) []byte {
	var events, links []byte
	if len(r.Events) > 0 {
		n := len(buf)
		buf = AppendEvents(buf, r.Events)
		events = buf[n:len(buf):len(buf)]
	}
	if len(r.Links) > 0 {
		n := len(buf)
		buf = AppendLinks(buf, r.Links)
		links = buf[n:len(buf):len(buf)]
	}
	// Field by field, in place: the row is a few hundred bytes, and a
	// composite literal would build it aside and copy it.
	dst.TraceID, dst.SpanID, dst.ParentSpanID = r.TraceID, r.SpanID, r.ParentSpanID
	dst.TraceState, dst.Flags, dst.Name, dst.Kind = r.TraceState, r.Flags, r.Name, r.Kind
	dst.StartUnixNano, dst.DurationNano = r.StartUnixNano, r.DurationNano
	dst.StatusCode, dst.StatusMessage = r.StatusCode, r.StatusMessage
	dst.Attrs, dst.DroppedAttributesCount = r.Attrs, r.DroppedAttributesCount
	dst.Events, dst.DroppedEventsCount = events, r.DroppedEventsCount
	dst.Links, dst.DroppedLinksCount = links, r.DroppedLinksCount
	dst.Resource = resource
	dst.ServiceName, dst.HTTPMethod, dst.HTTPStatusCode, dst.HTTPURL = r.ServiceName, r.HTTPMethod, r.HTTPStatusCode, r.HTTPURL
	dst.Trace = r.Trace
	return buf
}

// SetSpan sets the fields of dst that v stores itself, its events and
// links decoded, leaving its resource and scope as they are: decode
// v.Resource into them with DecodeResourceScope. dst shares v's memory.
func (v *SpanRowV3) SetSpan(dst *SpanRow) error {
	var err1, err2 error
	dst.Events, err1 = DecodeEvents(v.Events)
	dst.Links, err2 = DecodeLinks(v.Links)
	dst.TraceID, dst.SpanID, dst.ParentSpanID = v.TraceID, v.SpanID, v.ParentSpanID
	dst.TraceState, dst.Flags, dst.Name, dst.Kind = v.TraceState, v.Flags, v.Name, v.Kind
	dst.StartUnixNano, dst.DurationNano = v.StartUnixNano, v.DurationNano
	dst.StatusCode, dst.StatusMessage = v.StatusCode, v.StatusMessage
	dst.Attrs, dst.DroppedAttributesCount = v.Attrs, v.DroppedAttributesCount
	dst.DroppedEventsCount, dst.DroppedLinksCount = v.DroppedEventsCount, v.DroppedLinksCount
	dst.ServiceName, dst.HTTPMethod, dst.HTTPStatusCode, dst.HTTPURL = v.ServiceName, v.HTTPMethod, v.HTTPStatusCode, v.HTTPURL
	dst.Trace = v.Trace
	return errors.Join(err1, err2)
}

// ResourceScope is the resource and instrumentation scope of a span: the
// fields of SpanRow that format v3 keeps in its resource column.
type ResourceScope struct {
	Attrs                       []Attribute
	DroppedAttributesCount      uint32
	SchemaURL                   string
	ScopeName, ScopeVersion     string
	ScopeAttrs                  []Attribute
	ScopeDroppedAttributesCount uint32
	ScopeSchemaURL              string
}

// ResourceScopeOf returns r's resource and scope; it shares r's memory.
func ResourceScopeOf(r *SpanRow) ResourceScope {
	return ResourceScope{
		Attrs: r.ResourceAttrs, DroppedAttributesCount: r.ResourceDroppedAttributesCount, SchemaURL: r.ResourceSchemaURL,
		ScopeName: r.ScopeName, ScopeVersion: r.ScopeVersion,
		ScopeAttrs: r.ScopeAttrs, ScopeDroppedAttributesCount: r.ScopeDroppedAttributesCount, ScopeSchemaURL: r.ScopeSchemaURL,
	}
}

// Set sets r's resource and scope to s's; r shares s's memory.
func (s *ResourceScope) Set(r *SpanRow) {
	r.ResourceAttrs, r.ResourceDroppedAttributesCount, r.ResourceSchemaURL = s.Attrs, s.DroppedAttributesCount, s.SchemaURL
	r.ScopeName, r.ScopeVersion = s.ScopeName, s.ScopeVersion
	r.ScopeAttrs, r.ScopeDroppedAttributesCount, r.ScopeSchemaURL = s.ScopeAttrs, s.ScopeDroppedAttributesCount, s.ScopeSchemaURL
}

// Equal reports whether s and o are the same resource and scope, which
// AppendResourceScope encodes to the same bytes. Rows decoded from one
// resource of one record share its attribute slices, and a decoder
// interns the strings of the others, so the test is mostly comparisons
// of pointers.
func (s *ResourceScope) Equal(o *ResourceScope) bool {
	return s.sameScalars(o) && attributesEqual(s.Attrs, o.Attrs) && attributesEqual(s.ScopeAttrs, o.ScopeAttrs)
}

// Same is Equal by identity: the same attribute slices, not merely equal
// ones; false says nothing.
func (s *ResourceScope) Same(o *ResourceScope) bool {
	return sameSlice(s.Attrs, o.Attrs) && sameSlice(s.ScopeAttrs, o.ScopeAttrs) && s.sameScalars(o)
}

// sameScalars reports whether s and o agree but for their attributes.
func (s *ResourceScope) sameScalars(o *ResourceScope) bool {
	return s.DroppedAttributesCount == o.DroppedAttributesCount && s.SchemaURL == o.SchemaURL &&
		s.ScopeName == o.ScopeName && s.ScopeVersion == o.ScopeVersion &&
		s.ScopeDroppedAttributesCount == o.ScopeDroppedAttributesCount && s.ScopeSchemaURL == o.ScopeSchemaURL
}

// sameSlice reports whether a and b are the same slice.
func sameSlice(a, b []Attribute) bool {
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

func attributesEqual(a, b []Attribute) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || sameSlice(a, b) {
		return true
	}
	for i := range a {
		if !a[i].equal(&b[i]) {
			return false
		}
	}
	return true
}

// equal reports whether a and b are the same attribute: the same key and
// value, a double's by its bits.
func (a *Attribute) equal(b *Attribute) bool {
	return a.Key == b.Key && samePtr(a.Str, b.Str) && samePtr(a.Int, b.Int) && samePtr(a.Bool, b.Bool) &&
		(a.Double == nil) == (b.Double == nil) && (a.Double == nil || math.Float64bits(*a.Double) == math.Float64bits(*b.Double)) &&
		(a.Bytes == nil) == (b.Bytes == nil) && string(a.Bytes) == string(b.Bytes) &&
		(a.Any == nil) == (b.Any == nil) && string(a.Any) == string(b.Any)
}

func samePtr[T comparable](a, b *T) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// AppendResourceScope appends s to b as an OTLP ResourceSpans message
// holding the resource, its schema URL, and one ScopeSpans with the scope
// and its schema URL and no spans: any OTLP decoder reads it. Equal
// resources and scopes encode to the same bytes, attributes in their
// order, so the column's dictionary holds each once.
func AppendResourceScope(b []byte, s *ResourceScope) []byte {
	// Sizes first, so that each length is written before its message
	// with nothing moved: this runs for a good part of a block's rows.
	resSize := attributesSize(resAttributes, s.Attrs) + varintFieldSize(uint64(s.DroppedAttributesCount))
	scopeSize := stringFieldSize(s.ScopeName) + stringFieldSize(s.ScopeVersion) +
		attributesSize(scopeAttributes, s.ScopeAttrs) + varintFieldSize(uint64(s.ScopeDroppedAttributesCount))
	ssSize := 1 + protowire.SizeBytes(scopeSize) + stringFieldSize(s.ScopeSchemaURL)
	b = slices.Grow(b, 1+protowire.SizeBytes(resSize)+1+protowire.SizeBytes(ssSize)+stringFieldSize(s.SchemaURL))

	b = protowire.AppendTag(b, rsResource, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(resSize))
	b = appendStoredAttributes(b, resAttributes, s.Attrs)
	b = appendVarintField(b, resDropped, uint64(s.DroppedAttributesCount))

	b = protowire.AppendTag(b, rsScopeSpans, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(ssSize))
	b = protowire.AppendTag(b, ssScope, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(scopeSize))
	b = appendStoredString(b, scopeName, s.ScopeName)
	b = appendStoredString(b, scopeVersion, s.ScopeVersion)
	b = appendStoredAttributes(b, scopeAttributes, s.ScopeAttrs)
	b = appendVarintField(b, scopeDropped, uint64(s.ScopeDroppedAttributesCount))
	b = appendStoredString(b, ssSchemaURL, s.ScopeSchemaURL)

	return appendStoredString(b, rsSchemaURL, s.SchemaURL)
}

// The field numbers AppendResourceScope writes are all under 16: each tag
// is one byte.

func stringFieldSize(s string) int {
	if s == "" {
		return 0
	}
	return 1 + protowire.SizeBytes(len(s))
}

func varintFieldSize(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendStoredString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// valueSize is the size of a's value as an AnyValue message.
func valueSize(a *Attribute) int {
	switch {
	case a.Str != nil:
		return 1 + protowire.SizeBytes(len(*a.Str))
	case a.Int != nil:
		return 1 + protowire.SizeVarint(uint64(*a.Int))
	case a.Double != nil:
		return 1 + 8
	case a.Bool != nil:
		return 1 + 1
	case a.Bytes != nil:
		return 1 + protowire.SizeBytes(len(a.Bytes))
	}
	return len(a.Any)
}

// keyValueSize is the size of a as a KeyValue message.
func keyValueSize(a *Attribute) int {
	return 1 + protowire.SizeBytes(len(a.Key)) + 1 + protowire.SizeBytes(valueSize(a))
}

// attributesSize is the size of attrs as KeyValue fields.
func attributesSize(num protowire.Number, attrs []Attribute) int {
	n := 0
	for i := range attrs {
		n += 1 + protowire.SizeBytes(keyValueSize(&attrs[i]))
	}
	return n
}

// appendStoredAttributes appends attrs as KeyValue fields num.
func appendStoredAttributes(b []byte, num protowire.Number, attrs []Attribute) []byte {
	for i := range attrs {
		a := &attrs[i]
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(keyValueSize(a)))
		b = protowire.AppendTag(b, kvKey, protowire.BytesType)
		b = protowire.AppendString(b, a.Key)
		b = protowire.AppendTag(b, kvValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(valueSize(a)))
		switch {
		case a.Str != nil:
			b = protowire.AppendTag(b, anyString, protowire.BytesType)
			b = protowire.AppendString(b, *a.Str)
		case a.Int != nil:
			b = protowire.AppendTag(b, anyInt, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(*a.Int))
		case a.Double != nil:
			b = protowire.AppendTag(b, anyDouble, protowire.Fixed64Type)
			b = protowire.AppendFixed64(b, math.Float64bits(*a.Double))
		case a.Bool != nil:
			b = protowire.AppendTag(b, anyBool, protowire.VarintType)
			b = protowire.AppendVarint(b, protowire.EncodeBool(*a.Bool))
		case a.Bytes != nil:
			b = protowire.AppendTag(b, anyBytes, protowire.BytesType)
			b = protowire.AppendBytes(b, a.Bytes)
		default:
			// Already an AnyValue message, or none.
			b = append(b, a.Any...)
		}
	}
	return b
}

// errStoredColumn is the error of a value of format v3's resource,
// events or links column that this package did not write.
var errStoredColumn = errors.New("malformed value of a stored column")

// DecodeResourceScope decodes b, a value AppendResourceScope wrote, into
// s, whose strings and slices are fresh copies. A value it could not have
// written is an error: a block's bytes are not trusted.
func DecodeResourceScope(b []byte) (ResourceScope, error) {
	var s ResourceScope
	var seenResource, seenScope bool
	err := eachStoredField(b, func(num protowire.Number, typ protowire.Type, val []byte, u uint64) error {
		switch {
		case typ != protowire.BytesType:
			return errStoredColumn
		case num == rsResource && !seenResource:
			seenResource = true
			return eachStoredField(val, func(num protowire.Number, typ protowire.Type, val []byte, u uint64) error {
				switch {
				case num == resAttributes && typ == protowire.BytesType:
					return appendDecodedAttribute(&s.Attrs, val)
				case num == resDropped && typ == protowire.VarintType && u <= math.MaxUint32:
					s.DroppedAttributesCount = uint32(u)
					return nil
				}
				return errStoredColumn
			})
		case num == rsScopeSpans && !seenScope:
			seenScope = true
			return decodeStoredScopeSpans(&s, val)
		case num == rsSchemaURL:
			s.SchemaURL = string(val)
			return nil
		}
		return errStoredColumn
	})
	if err == nil && (!seenResource || !seenScope) {
		err = errStoredColumn
	}
	return s, err
}

func decodeStoredScopeSpans(s *ResourceScope, b []byte) error {
	seen := false
	return eachStoredField(b, func(num protowire.Number, typ protowire.Type, val []byte, u uint64) error {
		switch {
		case typ != protowire.BytesType:
			return errStoredColumn
		case num == ssScope && !seen:
			seen = true
			return eachStoredField(val, func(num protowire.Number, typ protowire.Type, val []byte, u uint64) error {
				switch {
				case num == scopeName && typ == protowire.BytesType:
					s.ScopeName = string(val)
				case num == scopeVersion && typ == protowire.BytesType:
					s.ScopeVersion = string(val)
				case num == scopeAttributes && typ == protowire.BytesType:
					return appendDecodedAttribute(&s.ScopeAttrs, val)
				case num == scopeDropped && typ == protowire.VarintType && u <= math.MaxUint32:
					s.ScopeDroppedAttributesCount = uint32(u)
				default:
					return errStoredColumn
				}
				return nil
			})
		case num == ssSchemaURL:
			s.ScopeSchemaURL = string(val)
			return nil
		}
		return errStoredColumn
	})
}

// appendDecodedAttribute appends the attribute of msg, a KeyValue as
// appendStoredAttributes writes it, to dst. Its value is not recursed
// into: an array or map is kept as its AnyValue message, as Attribute.Any
// holds it.
func appendDecodedAttribute(dst *[]Attribute, msg []byte) error {
	var (
		a         Attribute
		seenKey   bool
		seenValue bool
	)
	err := eachStoredField(msg, func(num protowire.Number, typ protowire.Type, val []byte, u uint64) error {
		switch {
		case typ != protowire.BytesType:
			return errStoredColumn
		case num == kvKey && !seenKey:
			seenKey = true
			a.Key = string(val)
			return nil
		case num == kvValue && !seenValue:
			seenValue = true
			return decodeStoredValue(&a, val)
		}
		return errStoredColumn
	})
	if err != nil {
		return err
	}
	if !seenValue {
		return errStoredColumn
	}
	*dst = append(*dst, a)
	return nil
}

// decodeStoredValue sets a's value to msg, an AnyValue of one field or
// none, as appendStoredAttributes writes it.
func decodeStoredValue(a *Attribute, msg []byte) error {
	if len(msg) == 0 {
		return nil
	}
	num, typ, n := protowire.ConsumeTag(msg)
	if n < 0 {
		return errStoredColumn
	}
	body := msg[n:]
	switch {
	case num == anyString && typ == protowire.BytesType:
		v, m := protowire.ConsumeBytes(body)
		if m != len(body) {
			return errStoredColumn
		}
		s := string(v)
		a.Str = &s
	case (num == anyInt || num == anyBool) && typ == protowire.VarintType:
		v, m := protowire.ConsumeVarint(body)
		if m != len(body) {
			return errStoredColumn
		}
		if num == anyInt {
			i := int64(v)
			a.Int = &i
		} else {
			t := v != 0
			a.Bool = &t
		}
	case num == anyDouble && typ == protowire.Fixed64Type:
		v, m := protowire.ConsumeFixed64(body)
		if m != len(body) {
			return errStoredColumn
		}
		f := math.Float64frombits(v)
		a.Double = &f
	case num == anyBytes && typ == protowire.BytesType:
		v, m := protowire.ConsumeBytes(body)
		if m != len(body) {
			return errStoredColumn
		}
		if len(v) == 0 {
			// attributeOf keeps an empty byte string as its AnyValue.
			a.Any = append([]byte(nil), msg...)
		} else {
			a.Bytes = append([]byte(nil), v...)
		}
	case (num == anyArray || num == anyKVList) && typ == protowire.BytesType:
		_, m := protowire.ConsumeBytes(body)
		if m != len(body) {
			return errStoredColumn
		}
		a.Any = append([]byte(nil), msg...)
	default:
		return errStoredColumn
	}
	return nil
}

// eachStoredField calls fn with each field of msg, a protobuf message, in
// order, as nextWire reads them. Groups and malformed fields are
// errStoredColumn.
func eachStoredField(msg []byte, fn func(num protowire.Number, typ protowire.Type, val []byte, u uint64) error) error {
	for len(msg) > 0 {
		num, typ, val, u, n := nextWire(msg)
		if n < 0 {
			return errStoredColumn
		}
		msg = msg[n:]
		if err := fn(num, typ, val, u); err != nil {
			return err
		}
	}
	return nil
}
