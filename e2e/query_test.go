package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// getTrace fetches a trace the way Grafana does (v2, protobuf) or the way a
// curl user does (v1, JSON). It returns the HTTP status and the trace.
func getTrace(t *testing.T, addr, id, api string) (int, ptrace.Traces) {
	t.Helper()
	return getTraceAs(t, addr, id, api, "")
}

// getTraceAs is getTrace for tenant, sent in X-Scope-OrgID when not empty.
// traceAPI says how the trace-by-ID route of api (v1 or v2) is asked for
// a trace and how its answer decodes.
func traceAPI(api string) (path, accept string, decode func([]byte) (ptrace.Traces, error)) {
	if api == "v2" {
		return "/api/v2/traces/", "application/protobuf", decodeTraceByIDResponse
	}
	return "/api/traces/", "application/json", decodeBatchesJSON
}

func getTraceAs(t *testing.T, addr, id, api, tenant string) (int, ptrace.Traces) {
	t.Helper()
	path, accept, decode := traceAPI(api)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path+id, nil)
	req.Header.Set("Accept", accept)
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, ptrace.NewTraces()
	}
	td, err := decode(body)
	if err != nil {
		t.Fatalf("decode %s response: %v", api, err)
	}
	return resp.StatusCode, td
}

// decodeTraceByIDResponse reads Tempo's TraceByIDResponse: field 1 is a
// Trace, wire-identical to OTLP TracesData.
func decodeTraceByIDResponse(b []byte) (ptrace.Traces, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ptrace.Traces{}, protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ptrace.Traces{}, protowire.ParseError(n)
			}
			return (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ptrace.Traces{}, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return ptrace.Traces{}, fmt.Errorf("no trace in response")
}

// decodeBatchesJSON reads the v1 JSON body {"batches": [ResourceSpans...]}.
func decodeBatchesJSON(b []byte) (ptrace.Traces, error) {
	var body struct {
		Batches json.RawMessage `json:"batches"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return ptrace.Traces{}, err
	}
	otlp, _ := json.Marshal(map[string]json.RawMessage{"resourceSpans": body.Batches})
	return (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(otlp)
}

func do(req *http.Request) (int, []byte, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
