package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/tenant"
)

// Media types of responses.
const (
	mediaJSON     = "application/json"
	mediaNDJSON   = "application/x-ndjson"
	mediaProtobuf = "application/protobuf"
)

// write sends body, unless it is over limit.
func write(w http.ResponseWriter, limit querier.ResponseLimit, mediaType string, body []byte) error {
	if err := limit.Check(len(body)); err != nil {
		return err
	}
	w.Header().Set("Content-Type", mediaType)
	_, err := w.Write(body)
	return err
}

// errNotFound is returned for a trace no span of which is stored.
var errNotFound = errors.New("trace not found")

// badRequest returns an error in what the client sent, which is answered
// with 400 as the querier's own are.
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", querier.ErrBadRequest, fmt.Sprintf(format, args...))
}

// handlerFunc is a query handler; the error it returns is written by
// instrument, the one place errors become status codes.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// streamedError is an error that ended a response already under way, after
// its status was sent: the handler reported it in the body, and instrument
// only logs and counts it, with the status it would have had.
type streamedError struct{ err error }

func (e streamedError) Error() string { return e.err.Error() }
func (e streamedError) Unwrap() error { return e.err }

func (a *API) instrument(route string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := a.observe(r.Context(), route, func(ctx context.Context) error {
			// A write to a client that stopped reading blocks past
			// any context: the deadline, and a moment to send what
			// ended the request, is the writes' deadline too. (A
			// recorder in tests has none to set.)
			deadline, _ := ctx.Deadline()
			_ = http.NewResponseController(w).SetWriteDeadline(deadline.Add(writeGrace))
			return h(w, r.WithContext(ctx))
		})
		if err != nil && !errors.As(err, new(streamedError)) {
			status := httpStatus(err)
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", queryRetryAfter)
			}
			http.Error(w, err.Error(), status)
		}
	})
}

// observe runs one request of route, whichever protocol carries it: h
// under one deadline for the whole request, writing the answer included;
// and records its duration and outcome, as the HTTP status it has or
// would have. The error h returns comes back wrapping ErrClientClosed if
// ctx ended first, and ErrQueryTimeout if the query timeout did.
func (a *API) observe(ctx context.Context, route string, h func(ctx context.Context) error) error {
	start := time.Now()
	// The cause tells the query timeout apart from any other deadline
	// (an object store's per-request one, say), which the handler's
	// error would not.
	qctx, cancel := context.WithTimeoutCause(ctx, a.q.QueryTimeout(), ErrQueryTimeout)
	defer cancel()
	status := http.StatusOK
	err := h(qctx)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			// Whatever failed after the client left failed because
			// it left: not the server's fault, and no one reads the
			// answer.
			err = fmt.Errorf("%w: %w", ErrClientClosed, err)
		case qctx.Err() != nil && context.Cause(qctx) == ErrQueryTimeout:
			err = fmt.Errorf("%w after %s (querier.query-timeout): %w", ErrQueryTimeout, a.q.QueryTimeout(), err)
		}
		status = httpStatus(err)
		switch {
		case errors.Is(err, ErrClientClosed):
			a.logger.Debug("query abandoned by its client", "route", route, "err", err)
		case status >= 500:
			a.logger.Error("query failed", "route", route, "err", err)
		}
	}
	a.q.ObserveRequest(route, status, time.Since(start))
	return err
}

// Serve serves one query of route for another protocol than HTTP (package
// grpcapi) as the HTTP routes serve theirs: for the tenants tenantHeaders
// names (the values of X-Scope-OrgID, see querier.Querier.ReadTenants),
// within their max-concurrent-queries and the query timeout, and recorded
// in the same histogram, under route and the HTTP status the outcome has.
// h's error comes back as observe returns it.
func (a *API) Serve(ctx context.Context, route string, tenantHeaders []string, h func(ctx context.Context, tenants []string) error) error {
	return a.observe(ctx, route, func(ctx context.Context) error {
		return a.admitted(tenantHeaders, func(tenants []string) error { return h(ctx, tenants) })
	})
}

// writeGrace is how long past its deadline a request may still write: time
// to send the status or the error record that ends it, a few hundred bytes.
const writeGrace = time.Second

// Errors of a request as a whole, which observe tells apart.
var (
	// ErrQueryTimeout: the request ran past querier.query-timeout.
	ErrQueryTimeout = errors.New("query timed out")
	// ErrClientClosed: the client went away before the answer.
	ErrClientClosed = errors.New("client closed the request")
)

// httpStatus maps a query error to its HTTP status code.
func httpStatus(err error) int {
	switch {
	case errors.Is(err, ErrClientClosed), errors.Is(err, context.Canceled):
		return 499 // client closed the request, as nginx logs it
	case errors.Is(err, ErrQueryTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, tenant.ErrMissing):
		return http.StatusUnauthorized
	case errors.Is(err, tenant.ErrInvalid), errors.Is(err, querier.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, querier.ErrTooManyQueries):
		return http.StatusTooManyRequests
	case errors.Is(err, querier.ErrResponseTooLarge), errors.Is(err, querier.ErrPeerResponseTooLarge),
		errors.Is(err, querier.ErrTooManySeries):
		// As Mimir answers a query over a limit: the request is well
		// formed, and repeating it will not help.
		return http.StatusUnprocessableEntity
	case errors.Is(err, querier.ErrNotReady), errors.Is(err, querier.ErrStopping), errors.Is(err, querier.ErrBlocksBehind):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// readTenants returns the tenants a request reads, from every
// X-Scope-OrgID header it carries (see querier.Querier.ReadTenants).
func (a *API) readTenants(r *http.Request) ([]string, error) {
	return a.q.ReadTenants(r.Header.Values(tenant.Header))
}

// wantsProtobuf reports whether the client asked for protobuf.
func wantsProtobuf(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), mediaProtobuf)
}

// parseTraceID accepts 1 to 32 hex digits, left-padded with zeros as Tempo
// does for 64-bit IDs.
func parseTraceID(s string) (pcommon.TraceID, error) {
	var id pcommon.TraceID
	if len(s) == 0 || len(s) > 32 {
		return id, badRequest("trace ID %q must be 1 to 32 hex digits", s)
	}
	b, err := hex.DecodeString(strings.Repeat("0", 32-len(s)) + s)
	if err != nil {
		return id, badRequest("trace ID %q is not hex", s)
	}
	copy(id[:], b)
	if id.IsEmpty() {
		return id, badRequest("trace ID must not be all zeros")
	}
	return id, nil
}

// parseTimeRange reads the start and end parameters (unix seconds).
func parseTimeRange(params url.Values) (querier.TimeRange, error) {
	return timeRange(params.Get("start"), params.Get("end"))
}

// timeRange reads start and end, unix seconds in decimal; an empty one is
// open.
func timeRange(start, end string) (querier.TimeRange, error) {
	var tr querier.TimeRange
	for _, p := range []struct {
		name, v string
		to      *time.Time
	}{{"start", start, &tr.Start}, {"end", end, &tr.End}} {
		if p.v == "" {
			continue
		}
		secs, err := strconv.ParseInt(p.v, 10, 64)
		if err != nil || secs < 0 {
			return tr, badRequest("%s=%q must be unix seconds", p.name, p.v)
		}
		*p.to = time.Unix(secs, 0)
	}
	if !tr.Start.IsZero() && !tr.End.IsZero() && tr.End.Before(tr.Start) {
		return tr, badRequest("end is before start")
	}
	if !tr.End.IsZero() {
		tr.End = tr.End.Add(time.Second - 1) // end is inclusive to the second
	}
	return tr, nil
}

// queryRetryAfter is the retry hint of a request refused for concurrency:
// a query usually takes less.
const queryRetryAfter = "1"

// limited serves h within the max-concurrent-queries of the request's
// tenants.
func (a *API) limited(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return a.admitted(r.Header.Values(tenant.Header), func([]string) error { return h(w, r) })
	}
}

// admitted runs h for the tenants tenantHeaders names, within their
// max-concurrent-queries.
func (a *API) admitted(tenantHeaders []string, h func(tenants []string) error) error {
	tenants, err := a.q.ReadTenants(tenantHeaders)
	if err != nil {
		return err
	}
	release, err := a.q.Admit(tenants)
	if err != nil {
		return err
	}
	defer release()
	return h(tenants)
}

// sizeParam reads a parameter that sizes an answer (a search's limit and
// spss, tag values' limit) the same way on every route, as Tempo does:
// absent or 0 means def, and anything but a whole number from 0 to max is
// refused with a 400 that names the bound, rather than silently capped.
func sizeParam(params url.Values, name string, def, max int) (int, error) {
	v := params.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, badRequest("%s=%q must be a whole number from 1 to %d, or 0 for the default (%d)", name, v, max, def)
	}
	if n == 0 {
		return def, nil
	}
	return n, nil
}
