package producer

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The errors below are the ones a caller of Push decides on. Each protocol
// maps them to its codes in one function: grpcStatus and httpStatus.

// InvalidSpanError reports a span that cannot be stored; the whole request
// is rejected and the client must not retry it unchanged.
type InvalidSpanError struct {
	// Resource, Scope and Span locate the span in the request:
	// resourceSpans[Resource].scopeSpans[Scope].spans[Span].
	Resource, Scope, Span int
	Name                  string
	TraceID               pcommon.TraceID
	SpanID                pcommon.SpanID
	// Problem says what is wrong, e.g. "trace ID is missing or all zero".
	Problem string
}

func (e *InvalidSpanError) Error() string {
	return fmt.Sprintf("invalid span %q at resourceSpans[%d].scopeSpans[%d].spans[%d] (trace ID %s, span ID %s): %s",
		e.Name, e.Resource, e.Scope, e.Span, hex.EncodeToString(e.TraceID[:]), hex.EncodeToString(e.SpanID[:]), e.Problem)
}

// TraceTooLargeError reports a trace whose spans in one request do not fit
// in one Kafka record. Nothing of the request is written: splitting a trace
// across records would be possible, but one trace this large is almost
// always a runaway instrumentation loop, and storing it would hurt every
// query that touches it.
type TraceTooLargeError struct {
	TraceID pcommon.TraceID
	// Size is the size of the record the trace needs, Limit the largest
	// record allowed (Config.MaxRecordBytes), both in bytes.
	Size, Limit int
}

func (e *TraceTooLargeError) Error() string {
	return fmt.Sprintf("trace %s is too large: it needs a %d-byte Kafka record, the limit (max-record-bytes) is %d",
		hex.EncodeToString(e.TraceID[:]), e.Size, e.Limit)
}

// RequestTooLargeError reports a request larger than a limit on the size of
// one request. Nothing of it is written; the client must not retry it
// unchanged, but may send its spans in smaller requests.
type RequestTooLargeError struct {
	// Size is the request's size as the limit counts it, Limit the limit,
	// both in bytes.
	Size, Limit int64
	// Setting names the limit, Detail says what Size counts.
	Setting, Detail string
}

func (e *RequestTooLargeError) Error() string {
	return fmt.Sprintf("request too large: %s; the limit (%s) is %d bytes", e.Detail, e.Setting, e.Limit)
}

// UnavailableError reports that the trace log did not acknowledge every
// record of a request: Kafka is down, slow, or not set up yet, the
// distributor's buffer for Kafka is full, or the distributor is stopping.
// Some records may have been written; the client should retry the whole
// request, and readers drop the duplicates.
type UnavailableError struct {
	Err error
	// RetryAfter is how long the client had better wait before it
	// retries; 0 leaves it to the client's own backoff.
	RetryAfter time.Duration
}

func (e *UnavailableError) Error() string { return "trace log unavailable: " + e.Err.Error() }

func (e *UnavailableError) Unwrap() error { return e.Err }

var (
	// errBufferFull is why a request fails at once when the records
	// waiting for Kafka fill the distributor's buffer.
	errBufferFull = errors.New("the distributor's buffer of records waiting for Kafka is full")
	// errStopping is why a request fails once the distributor stops: the
	// client should retry on another one.
	errStopping = errors.New("distributor is shutting down")
)

// retryAfter returns how long the client of a failed request should wait
// before it retries, 0 when there is no advice. Each protocol passes it on
// in its own way: RetryInfo for gRPC, Retry-After for HTTP.
func retryAfter(err error) time.Duration {
	if e, ok := errors.AsType[*UnavailableError](err); ok {
		return e.RetryAfter
	}
	if e, ok := errors.AsType[*RateLimitedError](err); ok {
		return e.RetryAfter
	}
	return 0
}

// isType reports whether err's tree holds an error of type E.
func isType[E error](err error) bool {
	_, ok := errors.AsType[E](err)
	return ok
}
