package producer

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Truncating attributes to a tenant's max-attribute-bytes.
//
// A long attribute is cut rather than its request refused, as the
// OpenTelemetry SDKs' own attribute length limit and Tempo do: refusing
// would lose every span of the request for one runaway value, while the
// truncated span keeps its place in its trace. The client is told in the
// response's partial_success, which OTLP defines for such warnings.

// truncateAttributes cuts every attribute key and every string or bytes
// value of td, at any depth in arrays and maps, longer than limit bytes to
// limit bytes, and returns how many it cut. Strings are cut at a UTF-8
// boundary, so a cut string may be a few bytes shorter.
func truncateAttributes(td ptrace.Traces, limit int) int {
	n := 0
	for _, rs := range td.ResourceSpans().All() {
		n += truncateMap(rs.Resource().Attributes(), limit)
		for _, ss := range rs.ScopeSpans().All() {
			n += truncateMap(ss.Scope().Attributes(), limit)
			for _, s := range ss.Spans().All() {
				n += truncateMap(s.Attributes(), limit)
				for _, e := range s.Events().All() {
					n += truncateMap(e.Attributes(), limit)
				}
				for _, l := range s.Links().All() {
					n += truncateMap(l.Attributes(), limit)
				}
			}
		}
	}
	return n
}

func truncateMap(m pcommon.Map, limit int) int {
	n := 0
	var longKeys []string
	for k, v := range m.All() {
		n += truncateValue(v, limit)
		if len(k) > limit {
			longKeys = append(longKeys, k)
		}
	}
	// A Map cannot rename a key: the value moves to the cut key, which
	// replaces a value the map may already hold under it.
	for _, k := range longKeys {
		v, _ := m.Get(k)
		moved := pcommon.NewValueEmpty()
		v.CopyTo(moved)
		m.Remove(k)
		moved.CopyTo(m.PutEmpty(truncateString(k, limit)))
		n++
	}
	return n
}

// truncateValue recurses once per level of v's nesting, which the
// receivers bounded before decoding.
func truncateValue(v pcommon.Value, limit int) int {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s := v.Str(); len(s) > limit {
			v.SetStr(truncateString(s, limit))
			return 1
		}
	case pcommon.ValueTypeBytes:
		if b := v.Bytes(); b.Len() > limit {
			// Copied out first: SetEmptyBytes releases the old value.
			cut := bytes.Clone(b.AsRaw()[:limit])
			v.SetEmptyBytes().FromRaw(cut)
			return 1
		}
	case pcommon.ValueTypeSlice:
		n := 0
		for _, e := range v.Slice().All() {
			n += truncateValue(e, limit)
		}
		return n
	case pcommon.ValueTypeMap:
		return truncateMap(v.Map(), limit)
	}
	return 0
}

// truncateString returns the longest prefix of s of at most limit bytes
// that does not end inside a UTF-8 sequence. It is a copy, so that the long
// string's memory is not kept alive by the prefix.
func truncateString(s string, limit int) string {
	n := limit
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n])
}
