package schema

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Format v3 stores a span's events and its links each in one column of
// bytes (SpanRowV3.Events, Links): as the OTLP Span message's fields 11 and
// 13 hold them, one length-delimited field per event or link. Few spans
// have any, and as lists of Event and Link they cost every span a
// definition level in each of their 23 leaves; as bytes, one in each of
// two. Only whole rows read them.

// AppendEvents appends events to b as the Span message's events field
// holds them; nothing when there are none.
func AppendEvents(b []byte, events []Event) []byte {
	for i := range events {
		e := &events[i]
		size := fixed64FieldSize(e.TimeUnixNano) + stringFieldSize(e.Name) +
			attributesSize(eventAttributes, e.Attrs) + varintFieldSize(uint64(e.DroppedAttributesCount))
		b = protowire.AppendTag(b, spanEvents, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		b = appendFixed64Field(b, eventTime, e.TimeUnixNano)
		b = appendStoredString(b, eventName, e.Name)
		b = appendStoredAttributes(b, eventAttributes, e.Attrs)
		b = appendVarintField(b, eventDropped, uint64(e.DroppedAttributesCount))
	}
	return b
}

// AppendLinks appends links to b as the Span message's links field holds
// them; nothing when there are none.
func AppendLinks(b []byte, links []Link) []byte {
	for i := range links {
		l := &links[i]
		size := 1 + protowire.SizeBytes(len(l.TraceID)) + 1 + protowire.SizeBytes(len(l.SpanID)) +
			stringFieldSize(l.TraceState) + attributesSize(linkAttributes, l.Attrs) +
			varintFieldSize(uint64(l.DroppedAttributesCount)) + fixed32FieldSize(l.Flags)
		b = protowire.AppendTag(b, spanLinks, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		b = protowire.AppendTag(b, linkTraceID, protowire.BytesType)
		b = protowire.AppendBytes(b, l.TraceID[:])
		b = protowire.AppendTag(b, linkSpanID, protowire.BytesType)
		b = protowire.AppendBytes(b, l.SpanID[:])
		b = appendStoredString(b, linkTraceState, l.TraceState)
		b = appendStoredAttributes(b, linkAttributes, l.Attrs)
		b = appendVarintField(b, linkDropped, uint64(l.DroppedAttributesCount))
		if l.Flags != 0 {
			b = protowire.AppendTag(b, linkFlags, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, l.Flags)
		}
	}
	return b
}

func fixed64FieldSize(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + 8
}

func fixed32FieldSize(v uint32) int {
	if v == 0 {
		return 0
	}
	return 1 + 4
}

func appendFixed64Field(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

// DecodeEvents decodes b, events as AppendEvents writes them; nil when b
// is empty. Bytes it could not have written are an error.
func DecodeEvents(b []byte) ([]Event, error) {
	var events []Event
	err := eachStoredField(b, func(num protowire.Number, typ protowire.Type, val []byte, _ uint64) error {
		if num != spanEvents || typ != protowire.BytesType {
			return errStoredColumn
		}
		var e Event
		err := eachStoredField(val, func(num protowire.Number, typ protowire.Type, val []byte, u uint64) error {
			switch {
			case num == eventTime && typ == protowire.Fixed64Type:
				e.TimeUnixNano = u
			case num == eventName && typ == protowire.BytesType:
				e.Name = string(val)
			case num == eventAttributes && typ == protowire.BytesType:
				return appendDecodedAttribute(&e.Attrs, val)
			case num == eventDropped && typ == protowire.VarintType && u <= math.MaxUint32:
				e.DroppedAttributesCount = uint32(u)
			default:
				return errStoredColumn
			}
			return nil
		})
		events = append(events, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}

// DecodeLinks decodes b, links as AppendLinks writes them; nil when b is
// empty. Bytes it could not have written are an error.
func DecodeLinks(b []byte) ([]Link, error) {
	var links []Link
	err := eachStoredField(b, func(num protowire.Number, typ protowire.Type, val []byte, _ uint64) error {
		if num != spanLinks || typ != protowire.BytesType {
			return errStoredColumn
		}
		var (
			l           Link
			trace, span bool
		)
		err := eachStoredField(val, func(num protowire.Number, typ protowire.Type, val []byte, u uint64) error {
			switch {
			case num == linkTraceID && typ == protowire.BytesType && len(val) == len(l.TraceID) && !trace:
				trace = true
				copy(l.TraceID[:], val)
			case num == linkSpanID && typ == protowire.BytesType && len(val) == len(l.SpanID) && !span:
				span = true
				copy(l.SpanID[:], val)
			case num == linkTraceState && typ == protowire.BytesType:
				l.TraceState = string(val)
			case num == linkAttributes && typ == protowire.BytesType:
				return appendDecodedAttribute(&l.Attrs, val)
			case num == linkDropped && typ == protowire.VarintType && u <= math.MaxUint32:
				l.DroppedAttributesCount = uint32(u)
			case num == linkFlags && typ == protowire.Fixed32Type:
				l.Flags = uint32(u)
			default:
				return errStoredColumn
			}
			return nil
		})
		if err == nil && (!trace || !span) {
			err = errStoredColumn
		}
		links = append(links, l)
		return err
	})
	if err != nil {
		return nil, err
	}
	return links, nil
}
