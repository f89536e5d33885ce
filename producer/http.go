package producer

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/spanlog/spanlog/tenant"
)

// tracesPath is where OTLP/HTTP clients send traces.
const tracesPath = "/v1/traces"

// Slow clients must not hold a request, and so a shutdown, for long.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
)

func (d *Distributor) newHTTPServer() *http.Server {
	mux := http.NewServeMux()
	// Other methods get 405 and other paths 404 from the mux.
	mux.HandleFunc("POST "+tracesPath, d.handleTraces)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		ErrorLog:          slog.NewLogLogger(d.logger.Handler(), slog.LevelWarn),
	}
}

// handleTraces is the OTLP/HTTP trace receiver. Replies, errors included,
// use the request's encoding, as the OTLP/HTTP specification asks.
func (d *Distributor) handleTraces(rw http.ResponseWriter, r *http.Request) {
	w := &statusWriter{ResponseWriter: rw, code: http.StatusOK}
	defer func(start time.Time) { d.metrics.observeRequest("http", strconv.Itoa(w.code), start) }(time.Now())
	enc, err := requestEncoding(r.Header.Get("Content-Type"))
	var t string
	if err == nil {
		t, err = d.tenants.Write(tenant.HeaderValue(r.Header.Values(tenant.Header)))
	}
	var body []byte
	if err == nil {
		body, err = readBody(rw, r, d.cfg.MaxRequestBytes)
	}
	var warning string
	if err == nil {
		warning, err = d.pushBody(r.Context(), t, body, enc.json)
	}
	if err != nil {
		d.writeError(w, enc, err)
		return
	}
	reply, err := enc.encodeResponse(exportResponse(warning))
	if err != nil {
		d.writeError(w, enc, err)
		return
	}
	d.write(w, enc.mediaType, http.StatusOK, reply)
}

// statusWriter remembers the status a handler answers with, for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (d *Distributor) writeError(w http.ResponseWriter, enc encoding, err error) {
	code, rpcCode := httpStatus(err)
	if after := retryAfter(err); after > 0 {
		// Whole seconds, rounded up so that a client waits long enough.
		w.Header().Set("Retry-After", strconv.FormatInt(int64((after+time.Second-1)/time.Second), 10))
	}
	if enc.mediaType == "" {
		d.write(w, "text/plain; charset=utf-8", code, []byte(err.Error()+"\n"))
		return
	}
	body, encErr := enc.encodeStatus(rpcCode, err.Error())
	if encErr != nil {
		d.logger.Error("encode OTLP/HTTP error reply", "err", encErr)
		code = http.StatusInternalServerError
	}
	d.write(w, enc.mediaType, code, body)
}

func (d *Distributor) write(w http.ResponseWriter, contentType string, code int, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	if _, err := w.Write(body); err != nil {
		d.logger.Debug("write OTLP/HTTP reply", "err", err)
	}
}

// httpStatus maps an error of the write path to its HTTP status, and the
// gRPC code that the google.rpc.Status in the reply's body carries: the one
// place that decides HTTP codes. OTLP clients retry 429 and 503 and give up
// on the other codes here; they wait at least a Retry-After's seconds before the
// retry (the OTLP specification asks them to; the Go, JavaScript and .NET
// SDKs do), which writeError sets from retryAfter.
func httpStatus(err error) (int, codes.Code) {
	switch {
	case errors.Is(err, tenant.ErrMissing):
		return http.StatusUnauthorized, codes.Unauthenticated
	case errors.Is(err, tenant.ErrInvalid), errors.Is(err, errUndecodable), isType[*AttributeTooDeepError](err),
		isType[*InvalidSpanError](err), isType[*TraceTooLargeError](err):
		return http.StatusBadRequest, codes.InvalidArgument
	case isType[*http.MaxBytesError](err), isType[*RequestTooLargeError](err):
		return http.StatusRequestEntityTooLarge, codes.ResourceExhausted
	case isType[*RateLimitedError](err):
		return http.StatusTooManyRequests, codes.ResourceExhausted
	case errors.Is(err, errUnsupportedMediaType):
		return http.StatusUnsupportedMediaType, codes.InvalidArgument
	case isType[*UnavailableError](err):
		return http.StatusServiceUnavailable, codes.Unavailable
	}
	return http.StatusInternalServerError, codes.Internal
}
