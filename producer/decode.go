package producer

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// decodeRequest decodes an OTLP request, in JSON or protobuf, for both
// receivers. It refuses one nesting an attribute value deeper than
// maxDepth before pdata sees it: pdata's decoders recurse once per level.
func decodeRequest(body []byte, json bool, maxDepth int) (ptraceotlp.ExportRequest, error) {
	if json {
		req := ptraceotlp.NewExportRequest()
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
	return unmarshalProto(body)
}

// unmarshalProto decodes an OTLP request in protobuf whose nesting
// checkProtoDepth checked.
func unmarshalProto(body []byte) (ptraceotlp.ExportRequest, error) {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		return ptraceotlp.ExportRequest{}, fmt.Errorf("%w: %w", errUndecodable, err)
	}
	return req, nil
}

// pushBody checks the nesting of an OTLP request's body, in JSON or
// protobuf, and pushes it, for both receivers.
func (d *Distributor) pushBody(ctx context.Context, tenant string, body []byte, json bool) (warning string, err error) {
	if json {
		req, err := decodeRequest(body, true, d.cfg.MaxAttributeDepth)
		if err != nil {
			return "", err
		}
		return d.Push(ctx, tenant, req.Traces())
	}
	if err := checkProtoDepth(body, d.cfg.MaxAttributeDepth); err != nil {
		return "", err
	}
	return d.pushProto(ctx, tenant, body)
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
