package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spanlog/spanlog/querier"
)

// Field numbers of Tempo's TraceByIDResponse, the message Grafana decodes
// from /api/v2/traces. Its Trace (field 1) is wire-identical to OTLP's
// TracesData, which is also the whole /api/traces (v1) protobuf body.
const (
	v2FieldTrace   = 1
	v2FieldMetrics = 2
	v2FieldStatus  = 3
	v2FieldMessage = 4

	metricsFieldInspectedBytes = 1
	statusPartial              = 1 // PartialStatus.PARTIAL; COMPLETE is 0
)

// findTraceFromRequest returns the trace a request asks for, and how large
// the answer may be.
func (a *API) findTraceFromRequest(r *http.Request) (querier.TraceResult, querier.ResponseLimit, error) {
	tenants, err := a.readTenants(r)
	if err != nil {
		return querier.TraceResult{}, querier.ResponseLimit{}, err
	}
	limit := a.q.ResponseLimit(tenants)
	id, err := parseTraceID(r.PathValue("id"))
	if err != nil {
		return querier.TraceResult{}, limit, err
	}
	tr, err := parseTimeRange(r.URL.Query())
	if err != nil {
		return querier.TraceResult{}, limit, err
	}
	res, found, err := a.q.FindTrace(r.Context(), tenants, id, tr)
	if err != nil {
		return res, limit, err
	}
	if !found {
		if res.Partial.IsPartial() {
			// Missing spans may be all the trace has.
			return res, limit, fmt.Errorf("%w: %s (the answer is PARTIAL: %s)", errNotFound, id, res.Partial.Message())
		}
		return res, limit, fmt.Errorf("%w: %s", errNotFound, id)
	}
	return res, limit, nil
}

// handleTraceByIDV1 answers GET /api/traces/{id}: {"batches": [...]} in
// JSON, TracesData in protobuf.
func (a *API) handleTraceByIDV1(w http.ResponseWriter, r *http.Request) error {
	res, limit, err := a.findTraceFromRequest(r)
	if err != nil {
		return err
	}
	if wantsProtobuf(r) {
		body, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(res.Trace)
		if err != nil {
			return err
		}
		return write(w, limit, mediaProtobuf, body)
	}
	spans, err := resourceSpansJSON(res.Trace)
	if err != nil {
		return err
	}
	body, err := json.Marshal(struct {
		Batches json.RawMessage `json:"batches"`
	}{spans})
	if err != nil {
		return err
	}
	return write(w, limit, mediaJSON, body)
}

// handleTraceByIDV2 answers GET /api/v2/traces/{id} with Tempo's
// TraceByIDResponse in JSON or protobuf.
func (a *API) handleTraceByIDV2(w http.ResponseWriter, r *http.Request) error {
	res, limit, err := a.findTraceFromRequest(r)
	if err != nil {
		return err
	}
	if wantsProtobuf(r) {
		trace, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(res.Trace)
		if err != nil {
			return err
		}
		var metrics []byte
		metrics = protowire.AppendTag(metrics, metricsFieldInspectedBytes, protowire.VarintType)
		metrics = protowire.AppendVarint(metrics, uint64(res.InspectedBytes))

		body := protowire.AppendTag(nil, v2FieldTrace, protowire.BytesType)
		body = protowire.AppendBytes(body, trace)
		body = protowire.AppendTag(body, v2FieldMetrics, protowire.BytesType)
		body = protowire.AppendBytes(body, metrics)
		if res.Partial.IsPartial() {
			body = appendPartialStatus(body, v2FieldStatus, v2FieldMessage, res.Partial)
		}
		return write(w, limit, mediaProtobuf, body)
	}
	spans, err := resourceSpansJSON(res.Trace)
	if err != nil {
		return err
	}
	type traceJSON struct {
		ResourceSpans json.RawMessage `json:"resourceSpans"`
	}
	type metricsJSON struct {
		InspectedBytes string `json:"inspectedBytes"` // 64-bit integers are strings in protobuf JSON
	}
	resp := struct {
		Trace   traceJSON   `json:"trace"`
		Metrics metricsJSON `json:"metrics"`
		Status  string      `json:"status,omitempty"`
		Message string      `json:"message,omitempty"`
	}{
		Trace:   traceJSON{spans},
		Metrics: metricsJSON{strconv.FormatInt(res.InspectedBytes, 10)},
	}
	if res.Partial.IsPartial() {
		resp.Status, resp.Message = "PARTIAL", res.Partial.Message()
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	return write(w, limit, mediaJSON, body)
}

// appendPartialStatus appends Tempo's PartialStatus PARTIAL and the reason
// to a protobuf message, as its fields status and message.
func appendPartialStatus(b []byte, status, message protowire.Number, p querier.Partial) []byte {
	b = protowire.AppendTag(b, status, protowire.VarintType)
	b = protowire.AppendVarint(b, statusPartial)
	b = protowire.AppendTag(b, message, protowire.BytesType)
	return protowire.AppendString(b, p.Message())
}

// resourceSpansJSON returns the OTLP JSON of td's resource spans list.
func resourceSpansJSON(td ptrace.Traces) (json.RawMessage, error) {
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		return nil, err
	}
	var data struct {
		ResourceSpans json.RawMessage `json:"resourceSpans"`
	}
	if err := json.Unmarshal(b, &data); err != nil {
		return nil, err
	}
	if data.ResourceSpans == nil {
		return json.RawMessage("[]"), nil
	}
	return data.ResourceSpans, nil
}
