package schema

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spanlog/spanlog/internal/spantest"
)

// scalarTraces returns spantest.Full without its arrays and maps: what
// instrumentations send most, and what RowDecoder reads directly.
func scalarTraces() ptrace.Traces {
	td := spantest.Full()
	drop := func(m pcommon.Map) {
		m.RemoveIf(func(_ string, v pcommon.Value) bool {
			return v.Type() == pcommon.ValueTypeSlice || v.Type() == pcommon.ValueTypeMap
		})
	}
	for _, rs := range td.ResourceSpans().All() {
		drop(rs.Resource().Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			drop(ss.Scope().Attributes())
			for _, span := range ss.Spans().All() {
				drop(span.Attributes())
				for _, e := range span.Events().All() {
					drop(e.Attributes())
				}
				for _, l := range span.Links().All() {
					drop(l.Attributes())
				}
			}
		}
	}
	return td
}

// pdataRows is what RowDecoder must give: pdata's decode, then AppendRows.
func pdataRows(value []byte) ([]SpanRow, error) {
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(value)
	if err != nil {
		return nil, err
	}
	return AppendRows(nil, td), nil
}

// checkRowDecoder checks that whatever the direct path accepts, pdata
// decodes to the same rows, and that Append fails exactly when pdata
// does. It reports whether the direct path took value.
func checkRowDecoder(t *testing.T, value []byte) (direct bool) {
	t.Helper()
	want, wantErr := pdataRows(value)
	var d RowDecoder
	prefix := []SpanRow{{Name: "before"}}
	got, ok := d.AppendWire(prefix[:1:1], value)
	if ok {
		if wantErr != nil {
			t.Fatalf("direct path decoded a value pdata refuses: %v", wantErr)
		}
		if !reflect.DeepEqual(got[1:], want) && !(len(got) == 1 && len(want) == 0) {
			t.Fatalf("direct path rows differ from pdata's:\n got %+v\nwant %+v", got[1:], want)
		}
	}
	checkLean(t, value, got, ok)
	got, err := d.Append(prefix[:1:1], value)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("Append error %v, pdata error %v", err, wantErr)
	}
	if len(got) == 0 || got[0].Name != "before" {
		t.Fatalf("Append lost the rows it was given")
	}
	if err == nil && !reflect.DeepEqual(got[1:], want) && !(len(got) == 1 && len(want) == 0) {
		t.Fatalf("Append rows differ from pdata's:\n got %+v\nwant %+v", got[1:], want)
	}
	return ok
}

// checkLean checks that the decodes that leave parts of the rows out
// (Lean and NoEventsOrLinks, each also borrowing the value's memory, as
// the metrics-generator and the live tail do) take value exactly when the
// full decode (full, ok, after a first row) does, with the rows the full
// decode gives less what they leave out: a lean decode, the span,
// resource and scope attributes it does not keep (service.name kept),
// events and links; NoEventsOrLinks, events and links.
func checkLean(t *testing.T, value []byte, full []SpanRow, ok bool) {
	t.Helper()
	http := func(key string) bool { return strings.HasPrefix(key, "http.") }
	checkLeaner(t, "lean", RowDecoder{Lean: func(key []byte) bool { return http(string(key)) }}, http, value, full, ok)
	checkLeaner(t, "borrowed lean", RowDecoder{Lean: func(key []byte) bool { return http(string(key)) }, Borrow: true}, http, value, full, ok)
	checkLeaner(t, "without events or links", RowDecoder{NoEventsOrLinks: true}, nil, value, full, ok)
	checkLeaner(t, "borrowed without events or links", RowDecoder{NoEventsOrLinks: true, Borrow: true}, nil, value, full, ok)
}

// TestRowDecoderRecycle decodes values of several sizes, each three times,
// recycling the rows of each decode before the next: the rows are
// pdata's, the third decode of a value reuses the memory of the second's
// rows, and a value too large to recycle leaves no more than the bound.
func TestRowDecoderRecycle(t *testing.T) {
	var d RowDecoder
	var rows []SpanRow
	for _, c := range []struct {
		copies   int
		recycled bool
	}{{1, true}, {4, true}, {40, false}, {1, true}} {
		td := ptrace.NewTraces()
		for range c.copies {
			scalarTraces().ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		value := marshalForTest(t, td)
		want, err := pdataRows(value)
		if err != nil {
			t.Fatal(err)
		}
		var last *Attribute
		for i := range 3 {
			d.Recycle()
			if len(d.attrSlab.chunk) > maxRecycled {
				t.Fatalf("%d copies: the decoder keeps %d attributes to recycle, over the bound of %d", c.copies, len(d.attrSlab.chunk), maxRecycled)
			}
			rows, err = d.Append(rows[:0], value)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rows, want) {
				t.Fatalf("%d copies, decode %d: rows differ from pdata's", c.copies, i)
			}
			first := &rows[0].ResourceAttrs[0]
			if i == 2 && (first == last) != c.recycled {
				t.Fatalf("%d copies (%d attributes): the third decode reuses the second's memory: %v, want %v", c.copies, d.attrSlab.used, first == last, c.recycled)
			}
			last = first
		}
	}
}

// checkLeaner checks one of checkLean's decodes, keep saying which span
// attributes it keeps (nil: all of them).
func checkLeaner(t *testing.T, name string, dec RowDecoder, keep func(key string) bool, value []byte, full []SpanRow, ok bool) {
	t.Helper()
	got, leanOK := dec.AppendWire(nil, value)
	if leanOK != ok {
		t.Fatalf("%s decode took the value: %v, full decode: %v", name, leanOK, ok)
	}
	if !ok {
		return
	}
	want := slices.Clone(full[1:])
	for i := range want {
		r := &want[i]
		r.Events, r.Links = nil, nil
		if keep != nil {
			r.Attrs = keptAttrs(r.Attrs, keep, "")
			r.ResourceAttrs = keptAttrs(r.ResourceAttrs, keep, KeyServiceName)
			r.ScopeAttrs = keptAttrs(r.ScopeAttrs, keep, "")
		}
		r.HTTPStatusCode = nil
		r.setSearchColumns()
	}
	if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s row %d differs from the full row less what it leaves out:\n got %+v\nwant %+v", name, i, got[i], want[i])
			}
		}
		t.Fatalf("%d %s rows, %d full ones", len(got), name, len(want))
	}
}

// keptAttrs returns the attributes of attrs a lean decode keeps: those
// keep says, and also's.
func keptAttrs(attrs []Attribute, keep func(key string) bool, also string) []Attribute {
	out := slices.DeleteFunc(slices.Clone(attrs), func(a Attribute) bool {
		return !keep(a.Key) && (also == "" || a.Key != also)
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

func TestRowDecoderMatchesPdata(t *testing.T) {
	msg := func(num protowire.Number, fields ...[]byte) []byte {
		var b []byte
		for _, f := range fields {
			b = append(b, f...)
		}
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
	}
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	kv := func(key string, value []byte) []byte { return append(str(kvKey, key), msg(kvValue, value)...) }
	vk := func(key string, value []byte) []byte { return append(msg(kvValue, value), str(kvKey, key)...) } // as pdata writes it
	fixed64 := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendFixed64(protowire.AppendTag(nil, num, protowire.Fixed64Type), v)
	}
	span := func(fields ...[]byte) []byte {
		return msg(fieldResourceSpans, msg(rsScopeSpans, msg(ssSpans, fields...)))
	}
	traceID := protowire.AppendBytes(protowire.AppendTag(nil, spanTraceIDNum, protowire.BytesType), []byte("0123456789abcdef"))

	for _, c := range []struct {
		name   string
		value  []byte
		direct bool
	}{
		{"scalar attributes", marshalForTest(t, scalarTraces()), true},
		{"every value type", marshalForTest(t, spantest.Full()), false},
		{"split and empty resources", marshalForTest(t, spanFilterTraces()), false},
		{"empty value", nil, true},
		{"resource after its spans", msg(fieldResourceSpans,
			msg(rsScopeSpans, msg(ssSpans, traceID), msg(ssScope, str(scopeName, "late"))),
			msg(rsResource, msg(resAttributes, kv("service.name", str(anyString, "svc"))))), true},
		{"duplicate keys, first wins for search", span(traceID,
			msg(spanAttributes, kv("http.response.status_code", str(anyString, "x"))),
			msg(spanAttributes, kv("http.response.status_code", varint(anyInt, 404))),
			msg(spanAttributes, kv("http.status_code", str(anyString, "500")))), true},
		{"empty bytes and empty value", span(traceID,
			msg(spanAttributes, kv("b", msg(anyBytes))),
			msg(spanAttributes, str(kvKey, "none"))), true},
		{"unknown fields everywhere", span(traceID, varint(99, 1), str(98, "x"),
			msg(spanAttributes, kv("k", append(str(anyString, "v"), varint(20, 3)...)))), true},
		// keyValue and anyValue read a plain key and value, either
		// first, and a plain scalar, without their loops.
		{"value before key", span(traceID,
			msg(spanAttributes, vk("s", str(anyString, "v"))),
			msg(spanAttributes, vk("i", varint(anyInt, 1<<40))),
			msg(spanAttributes, vk("b", varint(anyBool, 1))),
			msg(spanAttributes, vk("d", fixed64(anyDouble, 0x400921fb54442d18)))), true},
		{"key twice, value between", span(traceID, msg(spanAttributes, append(kv("a", str(anyString, "v")), str(kvKey, "b")...))), true},
		{"scalars then more fields", span(traceID,
			msg(spanAttributes, kv("i", append(varint(anyInt, 7), str(20, "x")...))),
			msg(spanAttributes, kv("d", append(fixed64(anyDouble, 1), varint(anyBool, 1)...)))), false},
		{"bool of ten bytes", span(traceID, msg(spanAttributes, kv("b", append([]byte{anyBool << 3}, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)))), true},
		{"int varint past the end", span(traceID, msg(spanAttributes, kv("i", []byte{anyInt << 3, 0x81}))), false},
		{"double cut short", span(traceID, msg(spanAttributes, kv("d", []byte{anyDouble<<3 | 1, 1, 2, 3}))), false},
		{"last name wins", span(traceID, str(spanName, "a"), str(spanName, "b")), true},
		{"status given twice", span(traceID, msg(spanStatus, varint(statusCode, 2)), msg(spanStatus, str(statusMessage, "m"))), false},
		{"two values in one AnyValue", span(traceID, msg(spanAttributes, kv("k", append(str(anyString, "v"), varint(anyInt, 3)...)))), false},
		{"trace ID of 3 bytes", span(msg(spanTraceIDNum, []byte{1, 2, 3})), false},
		{"name as varint", span(traceID, varint(spanName, 1)), false},
		{"truncated", marshalForTest(t, scalarTraces())[:200], false},
		// nextWire reads one-byte tags, varints and lengths itself.
		{"field number 0", span(traceID, []byte{0x02, 0x00}), false},
		{"one-byte length past the end", span(traceID, []byte{byte(spanName<<3 | protowire.BytesType), 5, 'a'}), false},
		{"varint and length of two bytes", span(traceID, varint(spanKind, 300), str(spanName, strings.Repeat("n", 200))), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if direct := checkRowDecoder(t, c.value); direct != c.direct {
				t.Errorf("direct path took it: %v, want %v", direct, c.direct)
			}
		})
	}
	for name, v := range brokenValues() {
		t.Run("broken "+name, func(t *testing.T) { checkRowDecoder(t, v) })
	}
}

// FuzzRowDecoder checks Append against pdata, and AppendRange, on value's
// spans cut into cuts%8+1 ranges of trace IDs, against Append of
// spanFilter's copy of each range.
func FuzzRowDecoder(f *testing.F) {
	f.Add(marshalForTest(f, scalarTraces()), uint8(0))
	f.Add(marshalForTest(f, rangeTraces(scalarTraces())), uint8(2))
	// Every value type, without Full's attribute of 20,000 bytes: large
	// inputs take the fuzzer minutes to minimize.
	td := spantest.Full()
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				span.Attributes().Remove("span.long")
			}
		}
	}
	f.Add(marshalForTest(f, rangeTraces(td)), uint8(3))
	for _, v := range brokenValues() {
		f.Add(v, uint8(1))
	}
	f.Fuzz(func(t *testing.T, value []byte, cuts uint8) {
		checkRowDecoder(t, value)
		checkRowRange(t, value, int(cuts%8))
	})
}

// TestRowDecoderBorrow decodes a value with and without Borrow, then
// overwrites the value: the rows decoded without still equal pdata's, and
// the borrowed ones changed with the value, their strings and byte
// strings being its memory.
func TestRowDecoderBorrow(t *testing.T) {
	value := marshalForTest(t, scalarTraces())
	want, err := pdataRows(value)
	if err != nil {
		t.Fatal(err)
	}
	copied, err := (&RowDecoder{}).Append(nil, value)
	if err != nil {
		t.Fatal(err)
	}
	borrowed, err := (&RowDecoder{Borrow: true}).Append(nil, value)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(borrowed, want) {
		t.Fatalf("borrowed rows differ from pdata's:\n got %+v\nwant %+v", borrowed, want)
	}
	for i := range value {
		value[i] = 'x'
	}
	if !reflect.DeepEqual(copied, want) {
		t.Fatalf("rows decoded without Borrow changed with the value")
	}
	var bytesAttr *Attribute
	for i := range borrowed[0].Attrs {
		if borrowed[0].Attrs[i].Bytes != nil {
			bytesAttr = &borrowed[0].Attrs[i]
		}
	}
	if bytesAttr == nil {
		t.Fatal("the first span has no bytes attribute to borrow")
	}
	for _, s := range []string{borrowed[0].Name, borrowed[0].ServiceName, borrowed[0].Attrs[0].Key, string(bytesAttr.Bytes)} {
		if s != strings.Repeat("x", len(s)) {
			t.Errorf("borrowed %q did not change with the value", s)
		}
	}
}
