package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// The messages Grafana's Tempo data source decodes, as Tempo's tempopb
// declares them, in protobuf JSON: camelCase names, 32-bit integers as
// numbers, 64-bit integers as strings, enums by name. Decoding is strict:
// a field the message does not have, or a value of the wrong JSON type,
// fails the test.
type (
	buildInfo struct {
		Version   string `json:"version"`
		Revision  string `json:"revision"`
		Branch    string `json:"branch"`
		BuildUser string `json:"buildUser"`
		BuildDate string `json:"buildDate"`
		GoVersion string `json:"goVersion"`
	}

	searchResponse struct {
		Traces  []traceSearchMetadata `json:"traces"`
		Metrics *searchMetrics        `json:"metrics"`
	}
	traceSearchMetadata struct {
		TraceID           string                  `json:"traceID"`
		RootServiceName   string                  `json:"rootServiceName"`
		RootTraceName     string                  `json:"rootTraceName"`
		StartTimeUnixNano pbUint64                `json:"startTimeUnixNano"`
		DurationMs        uint32                  `json:"durationMs"`
		SpanSet           *spanSet                `json:"spanSet"` // deprecated for spanSets
		SpanSets          []spanSet               `json:"spanSets"`
		ServiceStats      map[string]serviceStats `json:"serviceStats"`
	}
	spanSet struct {
		Spans      []searchSpan `json:"spans"`
		Matched    uint32       `json:"matched"`
		Attributes []keyValue   `json:"attributes"`
	}
	searchSpan struct {
		SpanID            string     `json:"spanID"`
		Name              string     `json:"name"`
		StartTimeUnixNano pbUint64   `json:"startTimeUnixNano"`
		DurationNanos     pbUint64   `json:"durationNanos"`
		Attributes        []keyValue `json:"attributes"`
	}
	serviceStats struct {
		SpanCount  uint32 `json:"spanCount"`
		ErrorCount uint32 `json:"errorCount"`
	}
	searchMetrics struct {
		InspectedTraces uint32   `json:"inspectedTraces"`
		InspectedBytes  pbUint64 `json:"inspectedBytes"`
		TotalBlocks     uint32   `json:"totalBlocks"`
		CompletedJobs   uint32   `json:"completedJobs"`
		TotalJobs       uint32   `json:"totalJobs"`
		TotalBlockBytes pbUint64 `json:"totalBlockBytes"`
		InspectedSpans  pbUint64 `json:"inspectedSpans"`
	}
	// keyValue and anyValue are OTLP's common.v1 messages.
	keyValue struct {
		Key   string   `json:"key"`
		Value anyValue `json:"value"`
	}
	anyValue struct {
		StringValue *string          `json:"stringValue"`
		BoolValue   *bool            `json:"boolValue"`
		IntValue    *pbInt64         `json:"intValue"`
		DoubleValue *float64         `json:"doubleValue"`
		ArrayValue  *json.RawMessage `json:"arrayValue"`
		KvlistValue *json.RawMessage `json:"kvlistValue"`
		BytesValue  *string          `json:"bytesValue"`
	}

	searchTagsResponse struct {
		TagNames []string         `json:"tagNames"`
		Metrics  *metadataMetrics `json:"metrics"`
	}
	searchTagsV2Response struct {
		Scopes []struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		} `json:"scopes"`
		Metrics *metadataMetrics `json:"metrics"`
	}
	searchTagValuesResponse struct {
		TagValues []string         `json:"tagValues"`
		Metrics   *metadataMetrics `json:"metrics"`
	}
	searchTagValuesV2Response struct {
		TagValues []tagValue       `json:"tagValues"`
		Metrics   *metadataMetrics `json:"metrics"`
	}
	tagValue struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	metadataMetrics struct {
		InspectedBytes  pbUint64 `json:"inspectedBytes"`
		TotalJobs       uint32   `json:"totalJobs"`
		CompletedJobs   uint32   `json:"completedJobs"`
		TotalBlocks     uint32   `json:"totalBlocks"`
		TotalBlockBytes pbUint64 `json:"totalBlockBytes"`
	}

	traceByIDResponseJSON struct {
		Trace struct {
			ResourceSpans json.RawMessage `json:"resourceSpans"`
		} `json:"trace"`
		Metrics *struct {
			InspectedBytes pbUint64 `json:"inspectedBytes"`
		} `json:"metrics"`
		Status  string `json:"status"` // PartialStatus by name: COMPLETE or PARTIAL
		Message string `json:"message"`
	}
)

// pbUint64 and pbInt64 are 64-bit integers in protobuf JSON: strings.
type (
	pbUint64 uint64
	pbInt64  int64
)

func (v *pbUint64) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a 64-bit integer is a string in protobuf JSON, got %s", b)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	*v = pbUint64(n)
	return err
}

func (v *pbInt64) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a 64-bit integer is a string in protobuf JSON, got %s", b)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	*v = pbInt64(n)
	return err
}

// decodeStrict decodes one JSON value of body into v, refusing unknown
// fields and anything after the value.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// protoValue is one field of a protobuf message: bytes or a varint.
type protoValue struct {
	bytes  []byte
	varint uint64
}

// protoFields splits a protobuf message into its fields, failing on a
// field number the message does not declare or on the wrong wire type.
func protoFields(b []byte, declared map[protowire.Number]protowire.Type) (map[protowire.Number][]protoValue, error) {
	out := make(map[protowire.Number][]protoValue)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		want, ok := declared[num]
		if !ok || typ != want {
			return nil, fmt.Errorf("field %d of wire type %d is not declared", num, typ)
		}
		var v protoValue
		switch typ {
		case protowire.BytesType:
			v.bytes, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			v.varint, n = protowire.ConsumeVarint(b)
		default:
			return nil, fmt.Errorf("field %d: wire type %d not expected in these messages", num, typ)
		}
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		out[num] = append(out[num], v)
	}
	return out, nil
}

// traceByIDResponse is tempopb.TraceByIDResponse in protobuf: the trace,
// the bytes inspected, and whether it is partial.
type traceByIDResponse struct {
	trace          ptrace.Traces
	inspectedBytes uint64
	partial        bool
	message        string
}

// decodeTraceByIDResponseStrict reads TraceByIDResponse{trace = 1 (Trace),
// metrics = 2 (TraceByIDMetrics{inspectedBytes = 1}), status = 3
// (PartialStatus), message = 4}, as gogo/protobuf would in Grafana.
func decodeTraceByIDResponseStrict(b []byte) (traceByIDResponse, error) {
	var res traceByIDResponse
	fields, err := protoFields(b, map[protowire.Number]protowire.Type{
		1: protowire.BytesType, 2: protowire.BytesType, 3: protowire.VarintType, 4: protowire.BytesType,
	})
	if err != nil {
		return res, fmt.Errorf("TraceByIDResponse: %w", err)
	}
	for num, vs := range fields {
		if len(vs) > 1 {
			return res, fmt.Errorf("TraceByIDResponse: field %d repeated", num)
		}
	}
	if len(fields[1]) == 0 {
		// Grafana reads tr.Trace.ResourceSpans: a response without a
		// trace would crash it.
		return res, fmt.Errorf("TraceByIDResponse without a trace")
	}
	if res.trace, err = decodeTraceStrict(fields[1][0].bytes); err != nil {
		return res, err
	}
	if m := fields[2]; len(m) > 0 {
		metrics, err := protoFields(m[0].bytes, map[protowire.Number]protowire.Type{1: protowire.VarintType})
		if err != nil {
			return res, fmt.Errorf("TraceByIDMetrics: %w", err)
		}
		if v := metrics[1]; len(v) > 0 {
			res.inspectedBytes = v[0].varint
		}
	}
	if s := fields[3]; len(s) > 0 {
		switch s[0].varint {
		case 0:
		case 1:
			res.partial = true
		default:
			return res, fmt.Errorf("PartialStatus %d is neither COMPLETE nor PARTIAL", s[0].varint)
		}
	}
	if m := fields[4]; len(m) > 0 {
		res.message = string(m[0].bytes)
	}
	return res, nil
}

// decodeTraceStrict reads tempopb.Trace{repeated ResourceSpans = 1}, the
// whole body of /api/traces in protobuf, with pdata as Grafana does.
func decodeTraceStrict(b []byte) (ptrace.Traces, error) {
	if _, err := protoFields(b, map[protowire.Number]protowire.Type{1: protowire.BytesType}); err != nil {
		return ptrace.Traces{}, fmt.Errorf("Trace: %w", err)
	}
	return (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
}

// decodeTraceByIDResponseJSON reads TraceByIDResponse in protobuf JSON.
func decodeTraceByIDResponseJSON(b []byte) (ptrace.Traces, traceByIDResponseJSON, error) {
	var res traceByIDResponseJSON
	if err := decodeStrict(b, &res); err != nil {
		return ptrace.Traces{}, res, err
	}
	if res.Status != "" && res.Status != "COMPLETE" && res.Status != "PARTIAL" {
		return ptrace.Traces{}, res, fmt.Errorf("status %q is no PartialStatus", res.Status)
	}
	otlp, err := json.Marshal(map[string]json.RawMessage{"resourceSpans": res.Trace.ResourceSpans})
	if err != nil {
		return ptrace.Traces{}, res, err
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(otlp)
	return td, res, err
}
