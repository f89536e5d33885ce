package schema

// Names of the columns of a block's Parquet file that readers pick by name:
// block's scans, its footer statistics and bloom filters, and the
// querier's row-group pruning. Go struct tags cannot refer to constants,
// so the parquet tags of SpanRow and Attribute spell them too;
// TestColumnNames checks the two agree.
const (
	ColumnTraceID       = "trace_id"
	ColumnSpanID        = "span_id"
	ColumnParentSpanID  = "parent_span_id"
	ColumnName          = "name"
	ColumnKind          = "kind"
	ColumnStart         = "start_unix_nano"
	ColumnDuration      = "duration_nano"
	ColumnStatusCode    = "status_code"
	ColumnStatusMessage = "status_message"
	ColumnServiceName   = "service_name"
	ColumnHTTPMethod    = "http_method"
	ColumnHTTPURL       = "http_url"
	// ColumnAttrs and ColumnResourceAttrs are lists of Attribute, whose
	// leaves are named by the Leaf constants.
	ColumnAttrs         = "attrs"
	ColumnResourceAttrs = "resource_attrs"
	// ColumnResource is format v3's column of each span's resource and
	// scope (SpanRowV3.Resource).
	ColumnResource = "resource"
	// ColumnTrace is the group of a trace's summary (TraceSummary), set
	// on its first row.
	ColumnTrace = "trace"
)

// Names of the leaf columns of an attribute list, such as attrs.key.
const (
	LeafKey    = "key"
	LeafStr    = "str"
	LeafInt    = "int"
	LeafDouble = "double"
	LeafBool   = "bool"
	LeafBytes  = "bytes"
	LeafAny    = "any"
)

// Names of the leaves of the trace summary group, ColumnTrace: fields of
// TraceSummary and, under SummaryRoot, of RootSpan.
const (
	SummaryID      = "id"
	SummaryStart   = "start"
	SummaryEnd     = "end"
	SummarySpans   = "spans"
	SummaryErrors  = "errors"
	SummaryRoot    = "root"
	RootParentless = "parentless"
	RootStart      = "start"
	RootSpanID     = "span_id"
	RootName       = "name"
	RootService    = "service"
)
