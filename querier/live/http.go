package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

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

// maxRequestBytes bounds a peer request's body: trace IDs, partitions,
// ends and a digester's arguments, a TraceQL query of at most 128 KiB
// among them.
const maxRequestBytes = 1 << 20

// handle serves this querier's tail to other queriers. A partition
// it does not hold is a 421 Misdirected Request: the caller asks the
// group again.
func (t *Tails) handle(w http.ResponseWriter, r *http.Request) error {
	var req wireRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes)).Decode(&req); err != nil {
		return badRequest("live request: %v", err)
	}
	if len(req.Tenants) == 0 || len(req.Partitions) == 0 {
		return badRequest("live request names no tenant or partition")
	}
	// No query reads a whole tail: a request for spans names its traces.
	if req.Kind == KindSpans && len(req.TraceIDs) == 0 {
		return badRequest("live request asks for the spans of no trace")
	}
	answer, err := t.digest(req.Kind, req.Args)
	if err != nil {
		return err
	}
	lq, err := req.query()
	if err != nil {
		return err
	}
	live := t.tail.Load()
	if live == nil {
		return ErrNotReady
	}
	s, partial, err := t.serve(r.Context(), live, lq, req.Partitions)
	if err != nil {
		return err
	}
	resp := wireResponse{From: s.From, Partial: partial}
	// The spans are measured before they are encoded, so that an answer
	// far over the bound costs no copy of it.
	limit := t.cfg.PeerMaxResponseBytes
	tooLarge := func(size int64) error {
		return fmt.Errorf("%w: live tail answer of %d bytes or more, over querier.peer-max-response-bytes %d", ErrResponseTooLarge, size, limit)
	}
	if answer != nil {
		digest, err := answer(s)
		if err != nil {
			return err
		}
		if resp.Digest, err = json.Marshal(digest); err != nil {
			return err
		}
	} else {
		var (
			m    ptrace.ProtoMarshaler
			size int64
		)
		resp.Traces = make(map[string][]byte)
		for _, tenant := range s.Tenants() {
			all := ptrace.NewTraces()
			err := s.Decode(tenant, func(td ptrace.Traces) { td.ResourceSpans().MoveAndAppendTo(all.ResourceSpans()) })
			if err != nil {
				return err
			}
			// JSON carries the protobuf in base64: 4 bytes for 3.
			if size += int64(m.TracesSize(all)) * 4 / 3; size > limit {
				return tooLarge(size)
			}
			if resp.Traces[tenant], err = m.MarshalTraces(all); err != nil {
				return err
			}
		}
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	if int64(len(body)) > limit {
		return tooLarge(int64(len(body)))
	}
	w.Header().Set("Content-Type", mediaJSON)
	_, err = w.Write(body)
	return err
}
