package schema

import (
	"errors"
	"fmt"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"
)

// Values that have no column of their own (arrays, maps) are stored as the
// bytes of an OTLP AnyValue message, so that any protobuf tool holding the
// OTLP .proto files can read them. Field numbers are OTLP's.
const (
	anyString = 1
	anyBool   = 2
	anyInt    = 3
	anyDouble = 4
	anyArray  = 5 // ArrayValue{values = 1}
	anyKVList = 6 // KeyValueList{values = 1}
	anyBytes  = 7

	listValues = 1 // ArrayValue.values and KeyValueList.values
	kvKey      = 1 // KeyValue.key
	kvValue    = 2 // KeyValue.value
)

// errAnyValue marks a malformed AnyValue encoding.
var errAnyValue = errors.New("malformed AnyValue")

// appendAnyValue appends v encoded as an OTLP AnyValue message. The empty
// value is the empty message.
func appendAnyValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		b = protowire.AppendTag(b, anyString, protowire.BytesType)
		b = protowire.AppendString(b, v.Str())
	case pcommon.ValueTypeBool:
		b = protowire.AppendTag(b, anyBool, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(v.Bool()))
	case pcommon.ValueTypeInt:
		b = protowire.AppendTag(b, anyInt, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		b = protowire.AppendTag(b, anyDouble, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBytes:
		b = protowire.AppendTag(b, anyBytes, protowire.BytesType)
		b = protowire.AppendBytes(b, v.Bytes().AsRaw())
	case pcommon.ValueTypeSlice:
		b = protowire.AppendTag(b, anyArray, protowire.BytesType)
		array := len(b)
		b = append(b, 0)
		for _, elem := range v.Slice().All() {
			b = protowire.AppendTag(b, listValues, protowire.BytesType)
			at := len(b)
			b = append(b, 0)
			b = appendAnyValue(b, elem)
			b = closeLength(b, at)
		}
		b = closeLength(b, array)
	case pcommon.ValueTypeMap:
		b = protowire.AppendTag(b, anyKVList, protowire.BytesType)
		list := len(b)
		b = append(b, 0)
		for k, elem := range v.Map().All() {
			b = protowire.AppendTag(b, listValues, protowire.BytesType)
			kv := len(b)
			b = append(b, 0)
			b = protowire.AppendTag(b, kvKey, protowire.BytesType)
			b = protowire.AppendString(b, k)
			b = protowire.AppendTag(b, kvValue, protowire.BytesType)
			at := len(b)
			b = append(b, 0)
			b = appendAnyValue(b, elem)
			b = closeLength(b, at)
			b = closeLength(b, kv)
		}
		b = closeLength(b, list)
	}
	return b
}

// closeLength writes the length of a length-delimited field whose content
// follows the byte reserved for it at b[at]. The length is known only once
// the content is written: one byte fits any content under 128 bytes, the
// usual case, and longer content is shifted to make room.
func closeLength(b []byte, at int) []byte {
	n := len(b) - at - 1
	size := protowire.SizeVarint(uint64(n))
	if size > 1 {
		b = append(b, make([]byte, size-1)...)
		copy(b[at+size:], b[at+1:at+1+n])
	}
	protowire.AppendVarint(b[:at], uint64(n))
	return b
}

// decodeAnyValue sets v, an empty value, to the AnyValue message b. Unknown
// fields are skipped, as protobuf does; when the message sets several value
// fields, the last one wins, as for a protobuf oneof. Recursion is bounded
// by len(b): every level of nesting takes at least two bytes.
func decodeAnyValue(b []byte, v pcommon.Value) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errAnyValue, protowire.ParseError(n))
		}
		b = b[n:]
		if !knownAnyField(num) {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %w", errAnyValue, num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		if want := anyFieldType(num); typ != want {
			return fmt.Errorf("%w: field %d has wire type %d, want %d", errAnyValue, num, typ, want)
		}
		var err error
		switch typ {
		case protowire.VarintType:
			var x uint64
			x, n = protowire.ConsumeVarint(b)
			if num == anyBool {
				v.SetBool(x != 0)
			} else {
				v.SetInt(int64(x))
			}
		case protowire.Fixed64Type:
			var x uint64
			x, n = protowire.ConsumeFixed64(b)
			v.SetDouble(math.Float64frombits(x))
		default:
			var msg []byte
			msg, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				err = decodeAnyBytesField(num, msg, v)
			}
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %w", errAnyValue, num, protowire.ParseError(n))
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func knownAnyField(num protowire.Number) bool {
	return num >= anyString && num <= anyBytes
}

func anyFieldType(num protowire.Number) protowire.Type {
	switch num {
	case anyBool, anyInt:
		return protowire.VarintType
	case anyDouble:
		return protowire.Fixed64Type
	default:
		return protowire.BytesType
	}
}

// decodeAnyBytesField sets v from a length-delimited field of AnyValue.
func decodeAnyBytesField(num protowire.Number, msg []byte, v pcommon.Value) error {
	switch num {
	case anyString:
		v.SetStr(string(msg))
	case anyBytes:
		v.SetEmptyBytes().FromRaw(msg)
	case anyArray:
		return decodeArray(msg, v.SetEmptySlice())
	case anyKVList:
		return decodeKVList(msg, v.SetEmptyMap())
	}
	return nil
}

// decodeArray appends the values of the ArrayValue message b to s.
func decodeArray(b []byte, s pcommon.Slice) error {
	return forEachListValue(b, func(elem []byte) error {
		return decodeAnyValue(elem, s.AppendEmpty())
	})
}

// decodeKVList puts the entries of the KeyValueList message b into m.
func decodeKVList(b []byte, m pcommon.Map) error {
	return forEachListValue(b, func(kv []byte) error {
		// The key may follow the value on the wire, so both are found
		// before the value is decoded under its key.
		var key, value []byte
		for len(kv) > 0 {
			num, typ, n := protowire.ConsumeTag(kv)
			if n < 0 {
				return fmt.Errorf("%w: key/value: %w", errAnyValue, protowire.ParseError(n))
			}
			kv = kv[n:]
			if (num == kvKey || num == kvValue) && typ == protowire.BytesType {
				var field []byte
				field, n = protowire.ConsumeBytes(kv)
				if num == kvKey {
					key = field
				} else {
					value = field
				}
			} else {
				n = protowire.ConsumeFieldValue(num, typ, kv)
			}
			if n < 0 {
				return fmt.Errorf("%w: key/value field %d: %w", errAnyValue, num, protowire.ParseError(n))
			}
			kv = kv[n:]
		}
		return decodeAnyValue(value, m.PutEmpty(string(key)))
	})
}

// forEachListValue calls fn with each element of field 1 of the ArrayValue
// or KeyValueList message b.
func forEachListValue(b []byte, fn func(elem []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: list: %w", errAnyValue, protowire.ParseError(n))
		}
		b = b[n:]
		if num != listValues || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%w: list field %d: %w", errAnyValue, num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		elem, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("%w: list value: %w", errAnyValue, protowire.ParseError(n))
		}
		if err := fn(elem); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
