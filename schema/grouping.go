package schema

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// TracesFromRows regroups spans under their resource and scope, which every
// row repeats. Two rows share a resource (scope) when their keys below are
// equal: an unambiguous encoding of every resource (scope) field, where each
// variable-length part is length-prefixed.

// appendResourceKey appends the identity of r's resource to b.
func (r *SpanRow) appendResourceKey(b []byte) []byte {
	b = protowire.AppendString(b, r.ResourceSchemaURL)
	b = protowire.AppendVarint(b, uint64(r.ResourceDroppedAttributesCount))
	return appendAttributesKey(b, r.ResourceAttrs)
}

// appendScopeKey appends the identity of r's scope to b.
func (r *SpanRow) appendScopeKey(b []byte) []byte {
	b = protowire.AppendString(b, r.ScopeSchemaURL)
	b = protowire.AppendString(b, r.ScopeName)
	b = protowire.AppendString(b, r.ScopeVersion)
	b = protowire.AppendVarint(b, uint64(r.ScopeDroppedAttributesCount))
	return appendAttributesKey(b, r.ScopeAttrs)
}

func appendAttributesKey(b []byte, attrs []Attribute) []byte {
	b = protowire.AppendVarint(b, uint64(len(attrs)))
	for i := range attrs {
		a := &attrs[i]
		b = protowire.AppendString(b, a.Key)
		switch {
		case a.Str != nil:
			b = append(b, 's')
			b = protowire.AppendString(b, *a.Str)
		case a.Int != nil:
			b = append(b, 'i')
			b = protowire.AppendFixed64(b, uint64(*a.Int))
		case a.Double != nil:
			b = append(b, 'd')
			b = protowire.AppendFixed64(b, math.Float64bits(*a.Double))
		case a.Bool != nil:
			b = append(b, 'b')
			b = protowire.AppendVarint(b, protowire.EncodeBool(*a.Bool))
		case a.Bytes != nil:
			b = append(b, 'y')
			b = protowire.AppendBytes(b, a.Bytes)
		case a.Any != nil:
			b = append(b, 'a')
			b = protowire.AppendBytes(b, a.Any)
		default:
			b = append(b, 'e')
		}
	}
	return b
}
