package schema

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Reading a record's spans by trace ID without decoding them.
//
// A block-builder writes a large block in parts, each a range of trace
// IDs, so that only one part's spans are decoded at a time: it reads the
// trace ID and size of every span of the block's records first
// (ScanRecordSpans), then decodes, part by part, what each record holds
// of the part's range (RowDecoder.AppendRange). Both read the protobuf of
// the record's value, an ExportTraceServiceRequest, down to the spans'
// trace IDs. What AppendRange's direct path does not read goes through
// spanFilter, which copies the spans of the range, under their resources
// and scopes, byte for byte, into a value Append decodes.

// Field numbers of OTLP's trace messages, as far as they are read here.
const (
	fieldResourceSpans protowire.Number = 1 // ExportTraceServiceRequest.resource_spans
	fieldScopeSpans    protowire.Number = 2 // ResourceSpans.scope_spans
	fieldSpans         protowire.Number = 2 // ScopeSpans.spans
	fieldTraceID       protowire.Number = 1 // Span.trace_id
)

// errWireType is a field the OTLP schema declares as a message or bytes,
// encoded otherwise: pdata refuses it as well.
var errWireType = errors.New("wrong wire type")

// ScanRecordSpans calls fn with the trace ID and encoded size of every span
// of value, a record's value, in order, and resourceSpans, unless nil,
// after the spans of each of value's resource spans with their number
// (SpanRange.ResourceSpans). It fails as DecodeRecord does on what it
// reads, ErrNoSpans included; the fields it does not read (a span's other
// fields, resources, scopes) are checked when decoded.
func ScanRecordSpans(value []byte, fn func(traceID [16]byte, size int), resourceSpans func(spans int)) error {
	spans := 0
	err := eachField(value, func(f field) error {
		if f.num != fieldResourceSpans {
			return nil
		}
		if f.typ != protowire.BytesType {
			return fmt.Errorf("resource spans: %w", errWireType)
		}
		before := spans
		err := eachField(f.val, func(f field) error {
			if f.num != fieldScopeSpans {
				return nil
			}
			if f.typ != protowire.BytesType {
				return fmt.Errorf("scope spans: %w", errWireType)
			}
			return eachField(f.val, func(f field) error {
				if f.num != fieldSpans {
					return nil
				}
				id, err := spanTraceID(f)
				if err != nil {
					return err
				}
				spans++
				fn(id, len(f.val))
				return nil
			})
		})
		if err == nil && resourceSpans != nil {
			resourceSpans(spans - before)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("scan record: %w", err)
	}
	if spans == 0 {
		return ErrNoSpans
	}
	return nil
}

// spanFilter copies the spans of a range of trace IDs out of records'
// values. Its buffers are reused from call to call.
type spanFilter struct {
	out, rs, ss []byte
}

// filter returns an ExportTraceServiceRequest of value's spans whose
// trace ID lies in [lo, hi], each under its resource and scope, valid
// until the next call; decoded, it gives those spans exactly as value
// decoded would, and is empty when there are none. With first set, it
// also keeps the parts of value that hold no span (a resource without
// spans, fields unknown to OTLP): the copies of the ranges of a partition
// of the trace IDs, the first one with first set, hold every byte of
// value once, so one of them fails to decode if and only if value does.
// It fails where ScanRecordSpans would; the rest is checked when decoded.
func (sf *spanFilter) filter(value []byte, lo, hi [16]byte, first bool) ([]byte, error) {
	out, err := sf.appendRange(sf.out[:0], value, lo, hi, first)
	if err != nil {
		return nil, fmt.Errorf("filter record: %w", err)
	}
	sf.out = out
	return out, nil
}

// appendRange appends to dst the ExportTraceServiceRequest of value's
// spans in [lo, hi], as filter describes it.
func (sf *spanFilter) appendRange(dst, value []byte, lo, hi [16]byte, first bool) ([]byte, error) {
	err := eachField(value, func(f field) error {
		if f.num != fieldResourceSpans {
			if first {
				dst = append(dst, f.raw...)
			}
			return nil
		}
		if f.typ != protowire.BytesType {
			return fmt.Errorf("resource spans: %w", errWireType)
		}
		kept, spans, err := sf.resourceSpans(f.val, lo, hi)
		if err != nil {
			return err
		}
		if kept > 0 || spans == 0 && first {
			dst = protowire.AppendTag(dst, fieldResourceSpans, protowire.BytesType)
			dst = protowire.AppendBytes(dst, sf.rs)
		}
		return nil
	})
	return dst, err
}

// resourceSpans leaves in sf.rs the ResourceSpans b with only the spans in
// [lo, hi], and returns how many it kept of how many. Every ScopeSpans
// stays, emptied or not, as do the fields that are not ScopeSpans.
func (sf *spanFilter) resourceSpans(b []byte, lo, hi [16]byte) (kept, spans int, err error) {
	sf.rs = sf.rs[:0]
	err = eachField(b, func(f field) error {
		if f.num != fieldScopeSpans {
			sf.rs = append(sf.rs, f.raw...)
			return nil
		}
		if f.typ != protowire.BytesType {
			return fmt.Errorf("scope spans: %w", errWireType)
		}
		sf.ss = sf.ss[:0]
		err := eachField(f.val, func(f field) error {
			if f.num != fieldSpans {
				sf.ss = append(sf.ss, f.raw...)
				return nil
			}
			id, err := spanTraceID(f)
			if err != nil {
				return err
			}
			spans++
			if bytes.Compare(id[:], lo[:]) >= 0 && bytes.Compare(id[:], hi[:]) <= 0 {
				kept++
				sf.ss = append(sf.ss, f.raw...)
			}
			return nil
		})
		if err != nil {
			return err
		}
		sf.rs = protowire.AppendTag(sf.rs, fieldScopeSpans, protowire.BytesType)
		sf.rs = protowire.AppendBytes(sf.rs, sf.ss)
		return nil
	})
	return kept, spans, err
}

// spanTraceID returns the trace ID of f, a span. As in pdata, the last
// trace_id field wins, and an absent or empty one is the zero ID. It reads
// every span of a large block once, when the block-builder plans its
// parts, so it walks the span's fields in a loop of its own, a field's
// tag and length read inline when they take a byte each, as most do.
func spanTraceID(f field) ([16]byte, error) {
	var id [16]byte
	if f.typ != protowire.BytesType {
		return id, fmt.Errorf("span: %w", errWireType)
	}
	for b := f.val; len(b) > 0; {
		var num protowire.Number
		var typ protowire.Type
		if b[0] < 0x80 && b[0]>>3 != 0 {
			num, typ = protowire.Number(b[0]>>3), protowire.Type(b[0]&7)
			b = b[1:]
		} else {
			var n int
			if num, typ, n = protowire.ConsumeTag(b); n < 0 {
				return id, protowire.ParseError(n)
			}
			b = b[n:]
		}
		if typ != protowire.BytesType {
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return id, protowire.ParseError(n)
			}
			if num == fieldTraceID {
				return id, fmt.Errorf("trace ID: %w", errWireType)
			}
			b = b[n:]
			continue
		}
		var v []byte
		if len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) {
			v, b = b[1:1+b[0]], b[1+b[0]:]
		} else {
			var n int
			if v, n = protowire.ConsumeBytes(b); n < 0 {
				return id, protowire.ParseError(n)
			}
			b = b[n:]
		}
		if num != fieldTraceID {
			continue
		}
		switch len(v) {
		case 0:
			id = [16]byte{}
		case len(id):
			id = [16]byte(v)
		default:
			return id, fmt.Errorf("trace ID of %d bytes", len(v))
		}
	}
	return id, nil
}

// field is one field of a protobuf message.
type field struct {
	num protowire.Number
	typ protowire.Type
	val []byte // the payload of a length-delimited field, nil for others
	raw []byte // the whole field, tag included
}

// eachField calls fn with every field of the message b, in order, and
// stops at the first error, its own or fn's.
func eachField(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		f := field{num: num, typ: typ}
		var m int
		if typ == protowire.BytesType {
			f.val, m = protowire.ConsumeBytes(b[n:])
		} else {
			m = protowire.ConsumeFieldValue(num, typ, b[n:])
		}
		if m < 0 {
			return protowire.ParseError(m)
		}
		f.raw = b[:n+m]
		if err := fn(f); err != nil {
			return err
		}
		b = b[n+m:]
	}
	return nil
}
