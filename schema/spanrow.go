package schema

import (
	"bytes"
	"cmp"
)

// SpanRow is one row of a block's Parquet file: one span, with its resource
// and instrumentation scope repeated on every row. Dictionary encoding makes
// the repetition cheap, and it keeps a row self-contained, so a reader can
// take any subset of rows (one trace, one search hit) without a join.
//
// The attribute lists are the lossless source of truth. The search columns
// at the end copy a few well-known attributes into columns of their own so
// that the common searches read one small column instead of every attribute.
//
// Every column is zstd-compressed. Columns that are usually empty are
// optional, so absent values cost only their definition levels.
type SpanRow struct {
	// TraceID is the first sort key; blocks are sorted by it so a trace's
	// spans are adjacent and found by binary search.
	TraceID      [16]byte `parquet:"trace_id,zstd"`
	SpanID       [8]byte  `parquet:"span_id,zstd"`
	ParentSpanID [8]byte  `parquet:"parent_span_id,zstd"`
	TraceState   string   `parquet:"trace_state,optional,dict,zstd"`
	Flags        uint32   `parquet:"flags,zstd"`
	Name         string   `parquet:"name,dict,zstd"`
	Kind         int32    `parquet:"kind,zstd"`

	StartUnixNano uint64 `parquet:"start_unix_nano,delta,zstd"`
	// DurationNano is end minus start, wrapping like OTLP's unsigned
	// timestamps do, so that EndUnixNano restores any end exactly, even one
	// before the start. Searches read it as a signed duration.
	DurationNano int64 `parquet:"duration_nano,delta,zstd"`

	StatusCode    int32  `parquet:"status_code,zstd"`
	StatusMessage string `parquet:"status_message,optional,zstd"`

	Attrs                  []Attribute `parquet:"attrs"`
	DroppedAttributesCount uint32      `parquet:"dropped_attributes_count,zstd"`
	Events                 []Event     `parquet:"events"`
	DroppedEventsCount     uint32      `parquet:"dropped_events_count,zstd"`
	Links                  []Link      `parquet:"links"`
	DroppedLinksCount      uint32      `parquet:"dropped_links_count,zstd"`

	ResourceAttrs                  []Attribute `parquet:"resource_attrs"`
	ResourceDroppedAttributesCount uint32      `parquet:"resource_dropped_attributes_count,zstd"`
	ResourceSchemaURL              string      `parquet:"resource_schema_url,optional,dict,zstd"`

	ScopeName                   string      `parquet:"scope_name,optional,dict,zstd"`
	ScopeVersion                string      `parquet:"scope_version,optional,dict,zstd"`
	ScopeAttrs                  []Attribute `parquet:"scope_attrs"`
	ScopeDroppedAttributesCount uint32      `parquet:"scope_dropped_attributes_count,zstd"`
	ScopeSchemaURL              string      `parquet:"scope_schema_url,optional,dict,zstd"`

	// Search columns, derived from the attributes above (see
	// setSearchColumns); TracesFromRows ignores them.
	ServiceName    string `parquet:"service_name,optional,dict,zstd"`
	HTTPMethod     string `parquet:"http_method,optional,dict,zstd"`
	HTTPStatusCode *int64 `parquet:"http_status_code,zstd"`
	HTTPURL        string `parquet:"http_url,optional,zstd"`

	// Trace is the summary of the trace's spans in the block, set on its
	// first row only (format v2 on); nil elsewhere, where it costs a
	// definition level per row.
	Trace *TraceSummary `parquet:"trace,optional"`
}

// Event is a span event.
type Event struct {
	TimeUnixNano           uint64      `parquet:"time_unix_nano,zstd"`
	Name                   string      `parquet:"name,dict,zstd"`
	Attrs                  []Attribute `parquet:"attrs"`
	DroppedAttributesCount uint32      `parquet:"dropped_attributes_count,zstd"`
}

// Link is a span link.
type Link struct {
	TraceID                [16]byte    `parquet:"trace_id,zstd"`
	SpanID                 [8]byte     `parquet:"span_id,zstd"`
	TraceState             string      `parquet:"trace_state,optional,zstd"`
	Flags                  uint32      `parquet:"flags,zstd"`
	Attrs                  []Attribute `parquet:"attrs"`
	DroppedAttributesCount uint32      `parquet:"dropped_attributes_count,zstd"`
}

// EndUnixNano is the span's end time.
func (r *SpanRow) EndUnixNano() uint64 {
	return r.StartUnixNano + uint64(r.DurationNano)
}

// CompareRows orders rows as a block stores them: by trace ID, then start
// time, then span ID.
func CompareRows(a, b *SpanRow) int {
	if c := bytes.Compare(a.TraceID[:], b.TraceID[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.StartUnixNano, b.StartUnixNano); c != 0 {
		return c
	}
	return bytes.Compare(a.SpanID[:], b.SpanID[:])
}
