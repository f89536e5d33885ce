package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/querier"
)

// maxBatchBodyBytes caps the body of a batch request: a thousand IDs take
// about 35 KiB.
const maxBatchBodyBytes = 1 << 20

// batchRequest is what a batch request asks for.
type batchRequest struct {
	ids []pcommon.TraceID // distinct, in the order given
	tr  querier.TimeRange
}

// handleBatchTraces answers POST /api/batch/traces (a JSON body) and GET
// /api/batch/traces (the same in the query string): many traces by ID,
// each streamed as soon as it is complete, then a last record of the IDs
// not found. See batch_stream.go for the two encodings.
func (a *API) handleBatchTraces(w http.ResponseWriter, r *http.Request) error {
	tenants, err := a.readTenants(r)
	if err != nil {
		return err
	}
	req, err := parseBatchRequest(w, r)
	if err != nil {
		return err
	}
	out := newBatchStream(w, wantsProtobuf(r), a.q.ResponseLimit(tenants))
	sum, err := a.q.FindTraces(r.Context(), tenants, req.ids, req.tr, out.trace)
	if cerr := r.Context().Err(); err != nil && cerr != nil {
		err = cerr // the client left: what failed after is its doing
	}
	if err != nil {
		if !out.started {
			return err
		}
		if werr := out.fail(err); werr != nil {
			a.logger.Debug("batch error not delivered", "err", werr)
		}
		return streamedError{err}
	}
	a.metrics.batchTraces.WithLabelValues("found").Add(float64(len(req.ids) - len(sum.NotFound)))
	a.metrics.batchTraces.WithLabelValues("not_found").Add(float64(len(sum.NotFound)))
	if err := out.finish(sum); err != nil {
		return streamedError{err}
	}
	return nil
}

// parseBatchRequest reads the IDs and time range of a batch request: from
// a JSON body {"ids": [...], "start": s, "end": s} when POSTed, else from
// the query parameters ids (comma-separated, or repeated), start and end.
// Start and end are unix seconds and optional.
func parseBatchRequest(w http.ResponseWriter, r *http.Request) (batchRequest, error) {
	var raw []string
	var start, end string
	if r.Method == http.MethodPost {
		var body struct {
			IDs []string `json:"ids"`
			// Numbers, or strings holding them.
			Start json.Number `json:"start"`
			End   json.Number `json:"end"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBatchBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			if errors.As(err, new(*http.MaxBytesError)) {
				return batchRequest{}, badRequest("body is over %d bytes", maxBatchBodyBytes)
			}
			return batchRequest{}, badRequest(`body must be {"ids": ["<hex trace ID>", ...], "start": <unix s>, "end": <unix s>}: %v`, err)
		}
		raw, start, end = body.IDs, body.Start.String(), body.End.String()
	} else {
		params := r.URL.Query()
		for _, v := range params["ids"] {
			raw = append(raw, strings.Split(v, ",")...)
		}
		start, end = params.Get("start"), params.Get("end")
	}

	var req batchRequest
	if len(raw) == 0 {
		return req, badRequest("no trace IDs: give 1 to %d in ids", querier.MaxBatchIDs)
	}
	ids := make([]pcommon.TraceID, 0, len(raw))
	for _, s := range raw {
		id, err := parseTraceID(strings.TrimSpace(s))
		if err != nil {
			return req, err
		}
		ids = append(ids, id)
	}
	req.ids = querier.UniqueIDs(ids)
	if len(req.ids) > querier.MaxBatchIDs {
		return req, badRequest("%d distinct trace IDs: at most %d per request", len(req.ids), querier.MaxBatchIDs)
	}
	var err error
	req.tr, err = timeRange(start, end)
	return req, err
}
