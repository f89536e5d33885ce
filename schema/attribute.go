package schema

import (
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Attribute is one key/value pair of a span, event, link, resource or scope.
// A scalar value lives in the column of its type, so a search on, say, an
// integer attribute reads the int column only. At most one value column is
// set; none set is the empty value.
//
// Any holds what the typed columns cannot: arrays and maps, and empty byte
// strings (a zero-length Bytes cannot be told from an absent one), as an
// OTLP AnyValue message (see appendAnyValue).
type Attribute struct {
	Key    string   `parquet:"key,dict,zstd"`
	Str    *string  `parquet:"str,dict,zstd"`
	Int    *int64   `parquet:"int,zstd"`
	Double *float64 `parquet:"double,zstd"`
	Bool   *bool    `parquet:"bool,zstd"`
	Bytes  []byte   `parquet:"bytes,optional,zstd"`
	Any    []byte   `parquet:"any,optional,zstd"`
}

// appendAttributes appends m's attributes to dst.
func appendAttributes(dst []Attribute, m pcommon.Map) []Attribute {
	if m.Len() == 0 {
		return dst
	}
	dst = slices.Grow(dst, m.Len())
	for k, v := range m.All() {
		dst = append(dst, attributeOf(k, v))
	}
	return dst
}

func attributeOf(key string, v pcommon.Value) Attribute {
	a := Attribute{Key: key}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s := v.Str()
		a.Str = &s
	case pcommon.ValueTypeInt:
		i := v.Int()
		a.Int = &i
	case pcommon.ValueTypeDouble:
		d := v.Double()
		a.Double = &d
	case pcommon.ValueTypeBool:
		b := v.Bool()
		a.Bool = &b
	case pcommon.ValueTypeBytes:
		if v.Bytes().Len() > 0 {
			a.Bytes = v.Bytes().AsRaw()
		} else {
			a.Any = appendAnyValue(nil, v)
		}
	case pcommon.ValueTypeSlice, pcommon.ValueTypeMap:
		a.Any = appendAnyValue(nil, v)
	}
	return a
}

// putAttributes adds attrs to m.
func putAttributes(m pcommon.Map, attrs []Attribute) error {
	m.EnsureCapacity(m.Len() + len(attrs))
	for i := range attrs {
		if err := attrs[i].setValue(m.PutEmpty(attrs[i].Key)); err != nil {
			return fmt.Errorf("attribute %q: %w", attrs[i].Key, err)
		}
	}
	return nil
}

// setValue sets v, an empty value, to a's value.
func (a *Attribute) setValue(v pcommon.Value) error {
	switch {
	case a.Str != nil:
		v.SetStr(*a.Str)
	case a.Int != nil:
		v.SetInt(*a.Int)
	case a.Double != nil:
		v.SetDouble(*a.Double)
	case a.Bool != nil:
		v.SetBool(*a.Bool)
	case a.Bytes != nil:
		v.SetEmptyBytes().FromRaw(a.Bytes)
	case a.Any != nil:
		return decodeAnyValue(a.Any, v)
	}
	return nil
}
