// Package traceql parses the subset of TraceQL that spanlog supports and
// evaluates it over the spans of one trace.
//
// It owns the language and is the only place that knows it: lexing,
// parsing into a query with a canonical text form, type checks, the
// semantics of every operator, intrinsic and pipeline stage, the list of
// intrinsics (Intrinsics), the value of a field on a span (Field.SpanValue),
// and the lenient parse of a query still being typed (ParseLenient). It
// does not read blocks or the live tail, rank or limit traces, or build
// HTTP responses; the querier does, calling Evaluate once per candidate
// trace and using Conditions to skip data that cannot match.
//
// The supported subset follows Grafana Tempo's TraceQL documentation
// ("Construct a TraceQL query"): spanset filters with comparisons on
// intrinsics (child counts and the nested set included) and span,
// resource, event, link, instrumentation or unscoped attributes, nil,
// arithmetic, and fields compared with fields; && and || between
// spansets; the structural operators >>, >, <<, <, ~, their negated
// (!>> ...) and union (&>> ...) forms; the pipeline stages count(), avg(),
// min(), max(), sum(), select(), by() and coalesce(); and query hints,
// with(...). A filter's condition holds on a span when it holds on one of
// the span's events together with one of its links (Field.Element). The
// parent scope is not supported, nor is ^. What is not supported is a
// parse error saying so, so that a query is never answered with other
// semantics than the user meant.
//
// Parse bounds what a query may cost before evaluating anything: its length
// (MaxQueryBytes) and how deeply it nests (MaxDepth), so that no query can
// overflow a goroutine's stack, which no recover catches.
package traceql
