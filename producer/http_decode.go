package producer

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var (
	// errUnsupportedMediaType is returned (wrapped) for a body in an
	// encoding or compression the receiver does not speak.
	errUnsupportedMediaType = errors.New("unsupported media type")
	// errUndecodable is returned (wrapped) for a body that is not an OTLP
	// request.
	errUndecodable = errors.New("cannot decode OTLP request")
)

// encoding is how an OTLP/HTTP body is encoded: protobuf or JSON.
type encoding struct {
	// mediaType is the request's media type, echoed in the reply; empty
	// when the request's is not supported.
	mediaType string
	json      bool
}

func requestEncoding(contentType string) (encoding, error) {
	mediaType, _, err := mime.ParseMediaType(contentType)
	switch {
	case err != nil:
	case mediaType == "application/x-protobuf", mediaType == "application/protobuf":
		return encoding{mediaType: mediaType}, nil
	case mediaType == "application/json":
		return encoding{mediaType: mediaType, json: true}, nil
	}
	return encoding{}, fmt.Errorf("%w: Content-Type %q; want application/x-protobuf or application/json", errUnsupportedMediaType, contentType)
}

// readBody reads r's body, at most maxBytes before and after
// decompression.
func readBody(w http.ResponseWriter, r *http.Request, maxBytes int64) ([]byte, error) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxBytes)
	switch ce := r.Header.Get("Content-Encoding"); ce {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(body)
		if err != nil {
			return nil, bodyError(err)
		}
		defer gz.Close()
		body = http.MaxBytesReader(w, gz, maxBytes)
	default:
		return nil, fmt.Errorf("%w: Content-Encoding %q; want gzip or none", errUnsupportedMediaType, ce)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= maxBytes {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, bodyError(err)
	}
	return buf.Bytes(), nil
}

// bodyError tells a body over the limit from one that is broken.
func bodyError(err error) error {
	if isType[*http.MaxBytesError](err) {
		return fmt.Errorf("read body: %w", err)
	}
	return fmt.Errorf("%w: read body: %w", errUndecodable, err)
}

func (e encoding) encodeResponse(resp ptraceotlp.ExportResponse) ([]byte, error) {
	if e.json {
		return resp.MarshalJSON()
	}
	return resp.MarshalProto()
}

// encodeStatus returns the google.rpc.Status that OTLP/HTTP error replies
// carry.
func (e encoding) encodeStatus(code codes.Code, msg string) ([]byte, error) {
	st := status.New(code, msg).Proto()
	if e.json {
		return protojson.Marshal(st)
	}
	return proto.Marshal(st)
}
