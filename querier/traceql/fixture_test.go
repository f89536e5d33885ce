package traceql

import (
	"time"

	"github.com/spanlog/spanlog/schema"
)

// spec describes a span of a test trace; IDs are single bytes.
type spec struct {
	id, parent     byte
	name, service  string
	kind, status   int32
	message        string
	start, dur     time.Duration
	attrs, resAttr []schema.Attribute
}

func buildTrace(specs ...spec) []schema.SpanRow {
	rows := make([]schema.SpanRow, len(specs))
	for i, s := range specs {
		r := &rows[i]
		r.TraceID[15] = 0xab
		r.SpanID[7] = s.id
		r.ParentSpanID[7] = s.parent
		r.Name, r.Kind, r.StatusCode, r.StatusMessage = s.name, s.kind, s.status, s.message
		r.StartUnixNano = uint64(time.Hour + s.start)
		r.DurationNano = int64(s.dur)
		r.Attrs = s.attrs
		r.ResourceAttrs = append([]schema.Attribute{strAttr("service.name", s.service)}, s.resAttr...)
		r.ServiceName = s.service
	}
	return rows
}

func strAttr(k, v string) schema.Attribute       { return schema.Attribute{Key: k, Str: &v} }
func intAttr(k string, v int64) schema.Attribute { return schema.Attribute{Key: k, Int: &v} }
func fltAttr(k string, v float64) schema.Attribute {
	return schema.Attribute{Key: k, Double: &v}
}
func boolAttr(k string, v bool) schema.Attribute { return schema.Attribute{Key: k, Bool: &v} }

// Span kinds and status codes as OTLP numbers them.
const (
	kindInternal, kindServer, kindClient = 1, 2, 3
	statusOK, statusError                = 1, 2
)

// testTrace is
//
//	GET /      frontend server  0-100ms
//	├ call-db  frontend client 10-40ms
//	│ └ query  db       server 15-35ms  error "timeout"
//	│   └ disk db       internal 20-25ms ok
//	└ get      cache    client 95-105ms
//
// so that the trace lasts 105ms, longer than its root.
func testTrace() []schema.SpanRow {
	prod := []schema.Attribute{strAttr("env", "prod")}
	return buildTrace(
		spec{id: 1, name: "GET /", service: "frontend", kind: kindServer, dur: 100 * time.Millisecond, resAttr: prod,
			attrs: []schema.Attribute{strAttr("http.method", "GET"), intAttr("http.status_code", 200)}},
		spec{id: 2, parent: 1, name: "call-db", service: "frontend", kind: kindClient, start: 10 * time.Millisecond, dur: 30 * time.Millisecond, resAttr: prod,
			attrs: []schema.Attribute{strAttr("db.system", "postgresql"), intAttr("retries", 2)}},
		spec{id: 3, parent: 2, name: "query", service: "db", kind: kindServer, status: statusError, message: "timeout",
			start: 15 * time.Millisecond, dur: 20 * time.Millisecond, resAttr: prod,
			attrs: []schema.Attribute{fltAttr("rows", 1.5), boolAttr("cached", false), strAttr("my attr", "x"), {Key: "blob", Bytes: []byte{1}}}},
		spec{id: 4, parent: 3, name: "disk", service: "db", kind: kindInternal, status: statusOK, start: 20 * time.Millisecond, dur: 5 * time.Millisecond, resAttr: prod,
			attrs: []schema.Attribute{strAttr("http.status_code", "500")}},
		spec{id: 5, parent: 1, name: "get", service: "cache", kind: kindClient, start: 95 * time.Millisecond, dur: 10 * time.Millisecond, resAttr: prod,
			attrs: []schema.Attribute{intAttr("http.status_code", 503), strAttr("env", "canary")}},
	)
}
