package spantest

import (
	"math"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// PutEveryValueType puts one attribute of each value type into m, nested
// arrays and maps included, with the edge values that a lossy encoding
// would lose (empty string, zero, empty bytes, empty containers).
func PutEveryValueType(m pcommon.Map, prefix string) {
	m.PutStr(prefix+"str", "value")
	m.PutStr(prefix+"str.empty", "")
	m.PutInt(prefix+"int", -42)
	m.PutInt(prefix+"int.zero", 0)
	m.PutInt(prefix+"int.max", math.MaxInt64)
	m.PutDouble(prefix+"double", 3.25)
	m.PutDouble(prefix+"double.zero", 0)
	m.PutBool(prefix+"bool", true)
	m.PutBool(prefix+"bool.false", false)
	m.PutEmptyBytes(prefix + "bytes").FromRaw([]byte{0, 1, 2, 0xff})
	m.PutEmptyBytes(prefix + "bytes.empty")
	m.PutEmpty(prefix + "empty")

	arr := m.PutEmptySlice(prefix + "array")
	arr.AppendEmpty().SetStr("a")
	arr.AppendEmpty().SetInt(7)
	arr.AppendEmpty().SetDouble(-1.5)
	arr.AppendEmpty().SetBool(false)
	arr.AppendEmpty()
	arr.AppendEmpty().SetEmptyBytes().FromRaw([]byte("raw"))
	inner := arr.AppendEmpty().SetEmptySlice()
	inner.AppendEmpty().SetStr("nested")
	inner.AppendEmpty().SetEmptyMap().PutStr("deep", "er")
	arr.AppendEmpty().SetEmptyMap()
	m.PutEmptySlice(prefix + "array.empty")

	kv := m.PutEmptyMap(prefix + "map")
	kv.PutStr("s", "x")
	kv.PutInt("i", 1)
	kv.PutEmpty("e")
	kv.PutEmptyBytes("b")
	kv.PutEmptyMap("m").PutEmptySlice("a").AppendEmpty().SetDouble(2)
	// A container over 127 bytes needs a longer length prefix.
	long := kv.PutEmptySlice("long")
	for i := range 100 {
		long.AppendEmpty().SetInt(int64(i))
	}
	m.PutEmptyMap(prefix + "map.empty")
}

// Full returns traces that set every field OTLP has, in two resources
// with two scopes each.
func Full() ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		res := rs.Resource()
		res.Attributes().PutStr("service.name", []string{"frontend", "backend"}[r])
		PutEveryValueType(res.Attributes(), "res.")
		res.SetDroppedAttributesCount(uint32(r + 1))
		for s := range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.SetSchemaUrl("https://opentelemetry.io/schemas/1.25.0")
			scope := ss.Scope()
			scope.SetName([]string{"net/http", "database/sql"}[s])
			scope.SetVersion("v1.2.3")
			PutEveryValueType(scope.Attributes(), "scope.")
			scope.SetDroppedAttributesCount(3)
			for i := range 3 {
				FillSpan(ss.Spans().AppendEmpty(), byte(10*r+5*s+i))
			}
			// Over 16383 bytes, a length prefix takes three bytes.
			long := ss.Spans().At(0).Attributes().PutEmptySlice("span.long")
			long.AppendEmpty().SetStr(strings.Repeat("x", 20000))
		}
	}
	// A span without any optional part, to check nothing appears on the
	// way back.
	bare := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	bare.SetTraceID(pcommon.TraceID{9})
	bare.SetSpanID(pcommon.SpanID{9})
	return td
}

// FillSpan sets every field of span, from n, which also makes its IDs.
func FillSpan(span ptrace.Span, n byte) {
	span.SetTraceID(pcommon.TraceID{1, 2, 3, n % 4})
	span.SetSpanID(pcommon.SpanID{n, 1})
	span.SetParentSpanID(pcommon.SpanID{n, 2})
	span.TraceState().FromRaw("vendor=x,other=y")
	span.SetFlags(0x301)
	span.SetName("GET /api/users")
	span.SetKind(ptrace.SpanKindServer)
	span.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + uint64(n)))
	if n%3 == 0 {
		// End before start must survive too.
		span.SetEndTimestamp(pcommon.Timestamp(1_600_000_000_000_000_000))
	} else {
		span.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_500_000_000))
	}
	span.Status().SetCode(ptrace.StatusCodeError)
	span.Status().SetMessage("boom")
	attrs := span.Attributes()
	attrs.PutStr("http.request.method", "GET")
	attrs.PutInt("http.response.status_code", 503)
	attrs.PutStr("url.full", "https://example.com/api/users?id=1")
	PutEveryValueType(attrs, "span.")
	span.SetDroppedAttributesCount(4)
	span.SetDroppedEventsCount(5)
	span.SetDroppedLinksCount(6)
	for e := range 2 {
		ev := span.Events().AppendEmpty()
		ev.SetTimestamp(pcommon.Timestamp(1_700_000_000_100_000_000 + uint64(e)))
		ev.SetName("exception")
		ev.Attributes().PutStr("exception.message", "timeout")
		PutEveryValueType(ev.Attributes(), "event.")
		ev.SetDroppedAttributesCount(7)
	}
	span.Events().AppendEmpty() // an event with nothing set
	for l := range 2 {
		link := span.Links().AppendEmpty()
		link.SetTraceID(pcommon.TraceID{0xaa, byte(l)})
		link.SetSpanID(pcommon.SpanID{0xbb, byte(l)})
		link.TraceState().FromRaw("k=v")
		link.SetFlags(0x101)
		PutEveryValueType(link.Attributes(), "link.")
		link.SetDroppedAttributesCount(8)
	}
	span.Links().AppendEmpty()
}
