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
