package schema

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spanlog/spanlog/internal/spantest"
)

func TestScanRecordSpans(t *testing.T) {
	td := spanFilterTraces()
	value := marshalForTest(t, td)
	var ids []pcommon.TraceID
	var counts []int
	size := 0
	if err := ScanRecordSpans(value, func(id [16]byte, n int) {
		ids = append(ids, id)
		size += n
	}, func(spans int) { counts = append(counts, spans) }); err != nil {
		t.Fatal(err)
	}
	var want []pcommon.TraceID
	for _, s := range spansInOrder(t, td) {
		want = append(want, s.id)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("scanned trace IDs %x, want %x", ids, want)
	}
	var wantCounts []int
	for _, rs := range td.ResourceSpans().All() {
		n := 0
		for _, ss := range rs.ScopeSpans().All() {
			n += ss.Spans().Len()
		}
		wantCounts = append(wantCounts, n)
	}
	if !slices.Equal(counts, wantCounts) || !slices.Contains(counts, 0) {
		t.Errorf("spans per resource spans %v, want %v, one of them 0", counts, wantCounts)
	}
	if size <= 0 || size >= len(value) {
		t.Errorf("spans of %d bytes in a value of %d", size, len(value))
	}

	noSpans := ptrace.NewTraces()
	noSpans.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for _, v := range [][]byte{nil, marshalForTest(t, noSpans)} {
		if err := ScanRecordSpans(v, func([16]byte, int) {}, nil); !errors.Is(err, ErrNoSpans) {
			t.Errorf("value without spans: error %v, want %v", err, ErrNoSpans)
		}
	}
}

// Decoding each range of a partition of the trace IDs gives the spans of
// the range as decoding the whole value does, in the same order, with
// their resources and scopes; a value that does not decode fails in one of
// the ranges, and only such a value does.
func TestSpanFilterDecodesRangesAsTheWhole(t *testing.T) {
	valid := marshalForTest(t, spanFilterTraces())
	for _, cuts := range []int{0, 1, 2, 5} {
		checkSpanFilter(t, valid, cuts)
	}
	for name, value := range brokenValues() {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeSpans(value); err == nil {
				t.Fatal("the broken value decodes")
			}
			for _, cuts := range []int{0, 1, 3} {
				checkSpanFilter(t, value, cuts)
			}
		})
	}
}

func FuzzSpanFilter(f *testing.F) {
	f.Add(marshalForTest(f, spanFilterTraces()), uint8(2))
	for _, v := range brokenValues() {
		f.Add(v, uint8(1))
	}
	f.Fuzz(func(t *testing.T, value []byte, cuts uint8) {
		checkSpanFilter(t, value, int(cuts%8))
		checkSpanTraceID(t, value)
	})
}

// checkSpanTraceID checks spanTraceID's walk of span, a Span, against
// eachField's.
func checkSpanTraceID(t *testing.T, span []byte) {
	t.Helper()
	var want [16]byte
	wantErr := eachField(span, func(f field) error {
		if f.num != fieldTraceID {
			return nil
		}
		if f.typ != protowire.BytesType {
			return errWireType
		}
		if len(f.val) != 0 && len(f.val) != len(want) {
			return fmt.Errorf("trace ID of %d bytes", len(f.val))
		}
		want = [16]byte{}
		copy(want[:], f.val)
		return nil
	})
	got, err := spanTraceID(field{typ: protowire.BytesType, val: span})
	if (err != nil) != (wantErr != nil) || err == nil && got != want {
		t.Fatalf("spanTraceID(%x) = %x, %v; eachField reads %x, %v", span, got, err, want, wantErr)
	}
}

func TestSpanTraceID(t *testing.T) {
	id := bytes.Repeat([]byte{7}, 16)
	bytesField := func(num protowire.Number, b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
	}
	for _, span := range [][]byte{
		nil,
		bytesField(fieldTraceID, id),
		bytesField(fieldTraceID, nil),
		bytesField(fieldTraceID, id[:3]),
		append(bytesField(fieldTraceID, id), bytesField(fieldTraceID, nil)...),    // the last wins
		append(bytesField(9, bytes.Repeat([]byte{1}, 300)), bytesField(1, id)...), // a length of 2 bytes
		append(bytesField(5000, []byte("x")), bytesField(1, id)...),               // a tag of 2 bytes
		protowire.AppendVarint(protowire.AppendTag(nil, fieldTraceID, protowire.VarintType), 1),
		{0x02, 0x00},       // field number 0
		{0x0a, 0x10, 0x01}, // a length past the end
		{0x0b, 0x0c},       // a group
		{0x0b, 0x14},       // a group ended by another number
		{0x0e},             // wire type 6
	} {
		checkSpanTraceID(t, span)
	}
}

// checkSpanFilter decodes the copies of value in cuts+1 ranges of trace
// IDs and checks them against the decode of the whole value.
func checkSpanFilter(t *testing.T, value []byte, cuts int) {
	t.Helper()
	ranges, err := rangesOf(value, cuts)
	if err != nil {
		// A block-builder decodes such a value whole; it refuses a value
		// with a broken span list that pdata would decode.
		if _, derr := DecodeSpans(value); derr == nil && !errors.Is(err, ErrNoSpans) {
			t.Logf("scan fails (%v) where the decode does not", err)
		}
		return
	}
	whole, wholeErr := DecodeSpans(value)
	var want []orderedSpan
	if wholeErr == nil {
		want = spansInOrder(t, whole)
	}
	var sf spanFilter
	failed := false
	for _, r := range ranges {
		td, err := decodeFiltered(&sf, value, r)
		if err != nil {
			failed = true
			continue
		}
		got := spansInOrder(t, td)
		var in []orderedSpan
		for _, s := range want {
			if r.contains((*[16]byte)(&s.id)) {
				in = append(in, s)
			}
		}
		if wholeErr == nil && !slices.Equal(got, in) {
			t.Errorf("range %x to %x: got spans\n%v\nwant\n%v", r.Lo, r.Hi, got, in)
		}
	}
	if failed != (wholeErr != nil) {
		t.Errorf("a range failed to decode: %v; the whole value failed: %v", failed, wholeErr)
	}
}

// decodeFiltered decodes sf's copy of value's spans in r through pdata.
func decodeFiltered(sf *spanFilter, value []byte, r SpanRange) (ptrace.Traces, error) {
	out, err := sf.filter(value, r.Lo, r.Hi, r.First)
	if err != nil {
		return ptrace.Traces{}, err
	}
	return (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(out)
}

// rangesOf cuts the trace IDs into about cuts+1 ranges between those of
// value's spans, the first with First set, and sets each one's TraceIDs
// to those of value's spans. It returns ScanRecordSpans' error, and then
// ranges cut evenly, without TraceIDs.
func rangesOf(value []byte, cuts int) ([]SpanRange, error) {
	var ids [][16]byte
	var counts []int32
	err := ScanRecordSpans(value, func(id [16]byte, _ int) { ids = append(ids, id) },
		func(spans int) { counts = append(counts, int32(spans)) })
	var his [][16]byte
	if err != nil {
		for k := 1; k <= cuts; k++ {
			his = append(his, [16]byte{0: byte(k * 256 / (cuts + 1))})
		}
	} else {
		sorted := slices.SortedFunc(slices.Values(ids), func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
		sorted = slices.Compact(sorted)
		// Range k ends at the trace ID after which cut k falls.
		for k := 1; k <= cuts; k++ {
			if i := k*len(sorted)/(cuts+1) - 1; i >= 0 && (len(his) == 0 || his[len(his)-1] != sorted[i]) {
				his = append(his, sorted[i])
			}
		}
	}
	his = append(his, [16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff,
		8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff})
	var ranges []SpanRange
	var lo [16]byte
	for k, hi := range his {
		if k > 0 && hi == his[k-1] {
			continue
		}
		ranges = append(ranges, SpanRange{Lo: lo, Hi: hi, First: k == 0, TraceIDs: ids, ResourceSpans: counts})
		lo = hi
		next(&lo)
	}
	if err != nil {
		for i := range ranges {
			ranges[i].TraceIDs, ranges[i].ResourceSpans = nil, nil
		}
	}
	return ranges, err
}

// next sets id to the trace ID after it, wrapping after the last.
func next(id *[16]byte) {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			return
		}
	}
}

type orderedSpan struct {
	id   pcommon.TraceID
	json string
}

// spansInOrder returns td's spans in order, each rendered with its
// resource and scope.
func spansInOrder(t testing.TB, td ptrace.Traces) []orderedSpan {
	t.Helper()
	var out []orderedSpan
	spantest.Each(t, td, func(id pcommon.TraceID, span string) { out = append(out, orderedSpan{id, span}) })
	return out
}

// spanFilterTraces returns every field OTLP has, spans of several traces
// interleaved across resources and scopes, and a resource without spans.
func spanFilterTraces() ptrace.Traces {
	td := spantest.Full()
	for i, span := range spantest.Spans(td) {
		span.SetTraceID(pcommon.TraceID{0: byte(i % 4 * 60), 15: byte(i % 3)})
	}
	empty := td.ResourceSpans().AppendEmpty()
	empty.Resource().Attributes().PutStr("service.name", "idle")
	empty.ScopeSpans().AppendEmpty().Scope().SetName("idle")
	return td
}

func marshalForTest(t testing.TB, td ptrace.Traces) []byte {
	t.Helper()
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// brokenValues returns values that do not decode, broken where the span
// filter reads and where only the decode does.
func brokenValues() map[string][]byte {
	msg := func(num protowire.Number, fields ...[]byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), bytes.Join(fields, nil))
	}
	id := func(b byte) []byte { return msg(fieldTraceID, bytes.Repeat([]byte{b}, 16)) }
	span := func(fields ...[]byte) []byte { return msg(fieldSpans, fields...) }
	rs := func(fields ...[]byte) []byte { return msg(fieldResourceSpans, fields...) }
	ss := func(fields ...[]byte) []byte { return msg(fieldScopeSpans, fields...) }
	garbage := []byte{0xff}              // a tag that never ends
	badKV := msg(2, garbage)             // KeyValue.value: a broken AnyValue
	badAttrs := msg(9, badKV)            // Span.attributes
	badResource := msg(1, msg(1, badKV)) // ResourceSpans.resource.attributes
	badScope := msg(1, msg(3, badKV))    // ScopeSpans.scope.attributes
	good := span(id(0x10))
	return map[string][]byte{
		"span attributes":                   rs(ss(good, span(id(0x90), badAttrs))),
		"resource of a resource with spans": rs(badResource, ss(span(id(0x90)))),
		"resource without spans":            append(rs(ss(good)), rs(badResource)...),
		"trace ID of 3 bytes":               rs(ss(good, span(msg(fieldTraceID, []byte{1, 2, 3})))),
		"span list":                         rs(ss(good, garbage)),
		"after the resource spans":          append(rs(ss(good)), garbage...),
		"unknown field":                     append(rs(ss(good)), msg(7, garbage)[:2]...),
		"scope":                             rs(ss(badScope, span(id(0x90)))),
	}
}
