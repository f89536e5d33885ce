package live

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Errors the peer protocol tells apart, on both of its ends.
var (
	// ErrNotOwned is returned for a partition a tail does not hold: the
	// asker learns the owners again.
	ErrNotOwned = errors.New("partition not owned by this querier")
	// ErrResponseTooLarge is returned for an answer over
	// querier.peer-max-response-bytes; asking again will not help.
	ErrResponseTooLarge = errors.New("response too large")
	// ErrBlocksBehind is returned when another querier's tail has dropped
	// records into blocks this querier cannot see yet.
	ErrBlocksBehind = errors.New("blocks another querier trimmed its live tail for are not visible yet")
	// errBadRequest marks errors in what the asker sent.
	errBadRequest = errors.New("bad request")
)

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

const mediaJSON = "application/json"

// RegisterRoutes adds to mux what other queriers ask this one for: the
// tail of the partitions it owns. They read any tenant's data, named in
// the request body, so mux must be served on a listener only queriers
// reach, never on the query API's.
func (t *Tails) RegisterRoutes(mux *http.ServeMux) {
	mux.Handle("POST "+Path, t.instrument("live", t.handle))
}

// writeGrace is how long past its deadline a request may still write its
// status and error.
const writeGrace = time.Second

// instrument runs h within querier.query-timeout, and is the one place
// its error becomes a status code.
func (t *Tails) instrument(route string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), t.cfg.QueryTimeout)
		defer cancel()
		deadline, _ := ctx.Deadline()
		_ = http.NewResponseController(w).SetWriteDeadline(deadline.Add(writeGrace))
		status := http.StatusOK
		if err := h(w, r.WithContext(ctx)); err != nil {
			status = httpStatus(err)
			if r.Context().Err() != nil {
				// The asker left: it reads no answer.
				status = 499
			} else if status >= 500 {
				t.logger.Error("live request failed", "route", route, "err", err)
			}
			http.Error(w, err.Error(), status)
		}
		t.requests.WithLabelValues(route, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}

// httpStatus maps an error of the peer protocol to its HTTP status code,
// which post maps back.
func httpStatus(err error) int {
	switch {
	case errors.Is(err, context.Canceled):
		return 499 // client closed the request, as nginx logs it
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotOwned):
		return http.StatusMisdirectedRequest
	case errors.Is(err, ErrResponseTooLarge):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrNotReady), errors.Is(err, ErrBlocksBehind):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
