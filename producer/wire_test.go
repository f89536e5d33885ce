package producer

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spanlog/spanlog/schema"
)

// richTraces returns a request that sets every field OTLP traces have:
// attributes of every value type, nested, on resources, scopes, spans,
// events and links; trace state, parent, flags, kind, status, dropped
// counts and schema URLs.
func richTraces() ptrace.Traces {
	td := testTraces(6, 3, 2)
	put := func(m pcommon.Map) {
		m.PutInt("int", -7)
		m.PutDouble("double", 2.5)
		m.PutBool("bool", true)
		m.PutEmptyBytes("bytes").FromRaw([]byte{0, 1, 2})
		s := m.PutEmptySlice("slice")
		s.AppendEmpty().SetStr("a")
		s.AppendEmpty().SetEmptyMap().PutStr("nested", "b")
		m.PutEmptyMap("map").PutEmptySlice("list").AppendEmpty().SetInt(3)
		m.PutEmpty("empty")
	}
	for i, rs := range td.ResourceSpans().All() {
		rs.SetSchemaUrl(fmt.Sprintf("https://opentelemetry.io/schemas/1.%d.0", i))
		put(rs.Resource().Attributes())
		rs.Resource().SetDroppedAttributesCount(1)
		for _, ss := range rs.ScopeSpans().All() {
			ss.SetSchemaUrl("https://opentelemetry.io/schemas/1.30.0")
			put(ss.Scope().Attributes())
			ss.Scope().SetDroppedAttributesCount(2)
			for k, s := range ss.Spans().All() {
				put(s.Attributes())
				s.TraceState().FromRaw("vendor=value")
				s.SetParentSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, byte(k + 1)})
				s.SetFlags(1)
				s.SetDroppedAttributesCount(3)
				s.SetDroppedEventsCount(4)
				s.SetDroppedLinksCount(5)
				s.Status().SetCode(ptrace.StatusCodeError)
				s.Status().SetMessage("failed")
				e := s.Events().AppendEmpty()
				e.SetName("exception")
				e.SetTimestamp(s.StartTimestamp() + 10)
				put(e.Attributes())
				e.SetDroppedAttributesCount(6)
				l := s.Links().AppendEmpty()
				l.SetTraceID(pcommon.TraceID{1, 2, 3})
				l.SetSpanID(pcommon.SpanID{4, 5, 6})
				l.TraceState().FromRaw("other=1")
				l.SetFlags(1)
				put(l.Attributes())
				l.SetDroppedAttributesCount(7)
			}
		}
	}
	return td
}

// requestProto returns td as an OTLP request in protobuf.
func requestProto(t testing.TB, td ptrace.Traces) []byte {
	t.Helper()
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// checkWireSplit splits body, which checkProtoDepth accepts, on the wire
// path, for records of at most maxValue bytes, and reports whether it
// could. When it could, the request must be one pdata's path takes as it
// is (decoded, nothing truncated, no span refused), and both paths must
// make the same records: the same spans, resources and scopes per
// partition, each record decoding in a reader as the reader of a record
// built by pdata's path, within maxValue, of the size assign computed.
func checkWireSplit(t testing.TB, body []byte, maxAttributeBytes, maxValue int) bool {
	t.Helper()
	w, ok := scanRequest(body, "tenant", testPartitions, maxAttributeBytes)
	if !ok {
		return false
	}
	req, err := unmarshalProto(body)
	if err != nil {
		t.Fatalf("the wire path took a request pdata refuses: %v", err)
	}
	td := req.Traces()
	if maxAttributeBytes > 0 {
		if n := truncateAttributes(td, maxAttributeBytes); n > 0 {
			t.Fatalf("the wire path took a request with %d attributes to truncate", n)
		}
	}
	l, err := indexRequest(td, "tenant", testPartitions)
	if err != nil {
		t.Fatalf("the wire path took a request pdata's path refuses: %v", err)
	}
	if got, want := len(w.spans), td.SpanCount(); got != want {
		t.Fatalf("wire path: %d spans, pdata: %d", got, want)
	}
	want := keysOf(td) // before build moves the spans out of td

	// One record per partition on both paths: the same content.
	wire, pdata := make(map[int32][]byte), make(map[int32][]byte)
	var m ptrace.ProtoMarshaler
	sizes, err := l.assign(1<<30, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range l.build(td, sizes) {
		if pdata[sizes[i].partition], err = m.MarshalTraces(r); err != nil {
			t.Fatal(err)
		}
	}
	if sizes, err = w.assign(1<<30, 0); err != nil {
		t.Fatal(err)
	}
	values, err := w.values(sizes)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		wire[sizes[i].partition] = reencode(t, v)
	}
	if !reflect.DeepEqual(wire, pdata) {
		t.Fatalf("the records of the two paths differ:\n\twire:  %x\n\tpdata: %x", wire, pdata)
	}

	// Records of at most maxValue bytes: each span once, on its
	// partition, each record of the size computed.
	if sizes, err = w.assign(maxValue, 0); err != nil {
		if !isType[*TraceTooLargeError](err) {
			t.Fatalf("assign: %v", err)
		}
		return true
	}
	if values, err = w.values(sizes); err != nil {
		t.Fatal(err)
	}
	seen := make(map[spanKey]int)
	var u ptrace.ProtoUnmarshaler
	for i, v := range values {
		if len(v) != sizes[i].total || len(v) > maxValue {
			t.Fatalf("record %d: %d bytes, predicted %d, limit %d", i, len(v), sizes[i].total, maxValue)
		}
		rec, err := u.UnmarshalTraces(v)
		if err != nil {
			t.Fatalf("record %d does not decode: %v", i, err)
		}
		for _, k := range keysOf(rec) {
			seen[k]++
			if p := schema.Partition("tenant", k.trace, testPartitions); p != sizes[i].partition {
				t.Fatalf("record %d of partition %d holds a span of partition %d", i, sizes[i].partition, p)
			}
		}
	}
	checkSpansOnce(t, seen, want)
	return true
}

// reencode decodes a record's value as readers do and encodes it again,
// as pdata does.
func reencode(t testing.TB, v []byte) []byte {
	t.Helper()
	var u ptrace.ProtoUnmarshaler
	td, err := u.UnmarshalTraces(v)
	if err != nil {
		t.Fatalf("record does not decode: %v", err)
	}
	var m ptrace.ProtoMarshaler
	out, err := m.MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Requests as SDKs and Collectors send them take the wire path, and make
// the records pdata's path makes; for pdata's encoding of a request, the
// wire path computes the very sizes pdata's path does.
func TestWireSplit(t *testing.T) {
	for name, td := range map[string]ptrace.Traces{
		"plain":            testTraces(20, 5, 10),
		"every field":      richTraces(),
		"one span":         testTraces(1, 1, 0),
		"many tiny traces": testTraces(500, 1, 0),
	} {
		t.Run(name, func(t *testing.T) {
			body := requestProto(t, td)
			for _, maxValue := range []int{1 << 20, 2 << 10} {
				if !checkWireSplit(t, body, 2048, maxValue) {
					t.Fatal("the request took pdata's path")
				}
			}
			w, _ := scanRequest(body, "tenant", testPartitions, 0)
			l, err := indexRequest(td, "tenant", testPartitions)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(w.layout, *l) {
				t.Errorf("wire layout\n\t%+v\npdata's\n\t%+v", w.layout, *l)
			}
		})
	}
}

// Fields pdata does not know, fields in another order than pdata's, and
// varints longer than they need be are carried along as they are; readers
// read what pdata's path would have written.
func TestWireSplitUnusualEncodings(t *testing.T) {
	body := requestProto(t, richTraces())
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 5)
	unknown = protowire.AppendBytes(protowire.AppendTag(unknown, 98, protowire.BytesType), []byte("future"))
	unknown = protowire.AppendFixed32(protowire.AppendTag(unknown, 97, protowire.Fixed32Type), 1)
	unknown = protowire.AppendFixed64(protowire.AppendTag(unknown, 96, protowire.Fixed64Type), 2)
	for name, change := range map[string]func([]byte) []byte{
		// Every message gets unknown fields at its end, and the request
		// at its start.
		"unknown fields": func(b []byte) []byte {
			return append(append([]byte(nil), unknown...), mapMessages(b, msgRequest, func(m []byte) []byte {
				return append(m, unknown...)
			})...)
		},
		// Every message's fields, in reverse order.
		"fields reversed": func(b []byte) []byte {
			return mapMessages(b, msgRequest, func(m []byte) []byte {
				var fields [][]byte
				for len(m) > 0 {
					_, _, n := protowire.ConsumeField(m)
					fields = append([][]byte{m[:n]}, fields...)
					m = m[n:]
				}
				return bytes.Join(fields, nil)
			})
		},
		// Tags of two bytes where one does.
		"long tags": func(b []byte) []byte {
			return mapMessages(b, msgRequest, func(m []byte) []byte {
				var out []byte
				for len(m) > 0 {
					num, typ, n := protowire.ConsumeTag(m)
					_, _, all := protowire.ConsumeField(m)
					tag := uint64(protowire.EncodeTag(num, typ))
					if tag < 0x80 {
						out = append(out, byte(tag)|0x80, 0)
					} else {
						out = protowire.AppendVarint(out, tag)
					}
					out = append(out, m[n:all]...)
					m = m[all:]
				}
				return out
			})
		},
	} {
		t.Run(name, func(t *testing.T) {
			changed := change(body)
			if bytes.Equal(changed, body) {
				t.Fatal("nothing changed")
			}
			for _, maxValue := range []int{1 << 20, 2 << 10} {
				if !checkWireSplit(t, changed, 2048, maxValue) {
					t.Fatal("the request took pdata's path")
				}
			}
		})
	}
}

// mapMessages returns b, a message of type m, with every message in it
// (those holding attributes, as checkProtoDepth knows them) changed by
// change, the deepest first.
func mapMessages(b []byte, m message, change func([]byte) []byte) []byte {
	var out []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		_, _, all := protowire.ConsumeField(b)
		child := m.child(num)
		if typ != protowire.BytesType || child == msgNone {
			out = append(out, b[:all]...)
		} else {
			v, _ := protowire.ConsumeBytes(b[n:])
			out = protowire.AppendBytes(protowire.AppendTag(out, num, typ), mapMessages(v, child, change))
		}
		b = b[all:]
	}
	if m == msgRequest {
		return out
	}
	return change(out)
}

// A request the distributor must change or refuse, or whose reading pdata
// might not share, takes pdata's path: it refuses it with the error
// clients know, or writes it changed.
func TestWireSplitLeavesToPdata(t *testing.T) {
	body := requestProto(t, richTraces())
	body = body[:len(body):len(body)] // appended to below, copied each time
	span := func(change func(ptrace.Span)) []byte {
		td := richTraces()
		change(td.ResourceSpans().At(1).ScopeSpans().At(1).Spans().At(0))
		return requestProto(t, td)
	}
	long := strings.Repeat("x", 2049)
	group := protowire.AppendTag(protowire.AppendTag(nil, 50, protowire.StartGroupType), 50, protowire.EndGroupType)
	// A span of valid IDs and nothing else, which the wire path takes;
	// each case below adds one thing to it.
	ids := append(wireBytes(1, bytes.Repeat([]byte{1}, 16)), wireBytes(2, bytes.Repeat([]byte{1}, 8))...)
	if _, ok := scanRequest(append(body, spanRequest(ids)...), "tenant", testPartitions, 2048); !ok {
		t.Fatal("a request with a span of IDs only took pdata's path")
	}
	for name, body := range map[string][]byte{
		"long attribute value": span(func(s ptrace.Span) { s.Attributes().PutStr("long", long) }),
		"long attribute key":   span(func(s ptrace.Span) { s.Attributes().PutStr(long, "v") }),
		"long nested value": span(func(s ptrace.Span) {
			s.Attributes().PutEmptyMap("m").PutEmptySlice("s").AppendEmpty().SetStr(long)
		}),
		"long bytes in an event": span(func(s ptrace.Span) {
			s.Events().At(0).Attributes().PutEmptyBytes("b").FromRaw([]byte(long))
		}),
		"long value in a link":          span(func(s ptrace.Span) { s.Links().At(0).Attributes().PutStr("l", long) }),
		"zero trace ID":                 span(func(s ptrace.Span) { s.SetTraceID(pcommon.TraceID{}) }),
		"zero span ID":                  span(func(s ptrace.Span) { s.SetSpanID(pcommon.SpanID{}) }),
		"end past 2262":                 span(func(s ptrace.Span) { s.SetEndTimestamp(1 << 63) }),
		"a group":                       append(group, body...),
		"short trace ID":                append(body, spanRequest(ids, wireBytes(1, []byte{1, 2}))...),
		"trace ID as a varint":          append(body, spanRequest(ids, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1))...),
		"status as a varint":            append(body, spanRequest(ids, protowire.AppendVarint(protowire.AppendTag(nil, 15, protowire.VarintType), 1))...),
		"broken attribute":              append(body, spanRequest(ids, wireBytes(9, []byte{0x0a, 0x05}))...),
		"instrumentation_library_spans": append(body, wireBytes(1, wireBytes(1000, nil))...),
		"truncated":                     body[:len(body)-1],
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok := scanRequest(body, "tenant", testPartitions, 2048); ok {
				t.Error("the request took the wire path")
			}
		})
	}
}

// wireBytes returns field num holding b, length-delimited.
func wireBytes(num protowire.Number, b []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
}

// spanRequest returns a request holding one span made of fields.
func spanRequest(fields ...[]byte) []byte {
	return wireBytes(1, wireBytes(2, wireBytes(2, bytes.Join(fields, nil))))
}

// FuzzWireSplit checks the wire path against pdata's on any request:
// where it takes a request, both paths make the same records.
func FuzzWireSplit(f *testing.F) {
	f.Add(requestProto(f, testTraces(3, 2, 2)), 2048, 1<<20)
	f.Add(requestProto(f, richTraces()), 0, 4<<10)
	f.Add(requestProto(f, richTraces()), 4, 1<<20)
	f.Add([]byte{0x0a, 0x05, 0x12, 0x03, 0x12, 0x01, 0x00}, 0, 1<<20)
	twice := testTraces(1, 1, 1) // a span sent twice is written twice
	spans := twice.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(0).CopyTo(spans.AppendEmpty())
	f.Add(requestProto(f, twice), 0, 1<<20)
	f.Fuzz(func(t *testing.T, body []byte, maxAttributeBytes, maxValue int) {
		if checkProtoDepth(body, DefaultConfig().MaxAttributeDepth) != nil {
			return
		}
		checkWireSplit(t, body, maxAttributeBytes, max(maxValue, 64))
	})
}

// Splitting a request on the wire path allocates per record, not per span
// or attribute.
func TestWireSplitAllocations(t *testing.T) {
	body := requestProto(t, testTraces(20, 5, 10))
	allocs := testing.AllocsPerRun(100, func() {
		w, ok := scanRequest(body, "tenant", testPartitions, 2048)
		if !ok {
			t.Fatal("the request took pdata's path")
		}
		sizes, err := w.assign(1<<20, 0)
		if err == nil {
			_, err = w.values(sizes)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	// 100 spans of 10 attributes in 20 traces, 8 records.
	t.Logf("%.0f allocs", allocs)
	if allocs > 150 {
		t.Errorf("%.0f allocations for a request of 100 spans", allocs)
	}
}

func TestWireSplitTraceTooLarge(t *testing.T) {
	body := requestProto(t, testTraces(3, 50, 5))
	w, ok := scanRequest(body, "tenant", testPartitions, 0)
	if !ok {
		t.Fatal("the request took pdata's path")
	}
	_, err := w.assign(len(body)/4, 0)
	if _, ok := errors.AsType[*TraceTooLargeError](err); !ok {
		t.Fatalf("err = %v, want TraceTooLargeError", err)
	}
}
