package producer

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// decodeRequest decodes an OTLP request, in JSON or protobuf, for both
// receivers. It refuses one nesting an attribute value deeper than
// maxDepth before pdata sees it: pdata's decoders recurse once per level.
func decodeRequest(body []byte, json bool, maxDepth int) (ptraceotlp.ExportRequest, error) {
	req := ptraceotlp.NewExportRequest()
	if json {
		if err := checkJSONDepth(body, maxDepth); err != nil {
			return ptraceotlp.ExportRequest{}, err
		}
		if err := req.UnmarshalJSON(body); err != nil {
			return ptraceotlp.ExportRequest{}, fmt.Errorf("%w: %w", errUndecodable, err)
		}
		return req, nil
	}
	if err := checkProtoDepth(body, maxDepth); err != nil {
		return ptraceotlp.ExportRequest{}, err
	}
	if err := req.UnmarshalProto(body); err != nil {
		return ptraceotlp.ExportRequest{}, fmt.Errorf("%w: %w", errUndecodable, err)
	}
	return req, nil
}

// exportResponse is the reply to a request that was accepted. A warning,
// such as truncated attributes, goes in partial_success with no span
// rejected: OTLP defines that for data accepted with changes, and the SDKs
// log it.
func exportResponse(warning string) ptraceotlp.ExportResponse {
	resp := ptraceotlp.NewExportResponse()
	if warning != "" {
		resp.PartialSuccess().SetErrorMessage(warning)
	}
	return resp
}
