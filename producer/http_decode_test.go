package producer

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// FuzzHTTPDecode feeds arbitrary bodies to the OTLP/HTTP decoding path and
// the validation and splitting behind it: none may panic, a body that is
// not a valid request must get 400 (413 when too large), never 500, and
// records from a valid one must have the size splitting predicted.
func FuzzHTTPDecode(f *testing.F) {
	protoBody, jsonBody := requestBodies(f, testTraces(3, 2, 2))
	f.Add(protoBody, false, false)
	f.Add(jsonBody, true, false)
	f.Add(gzipped(f, protoBody), false, true)
	f.Add(gzipped(f, jsonBody), true, true)
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00","spanId":"zz"}]}]}]}`), true, false)
	f.Add([]byte{0x0a, 0x05, 0x12, 0x03, 0x12, 0x01, 0x00}, false, false)

	const maxBytes = 1 << 20
	f.Fuzz(func(t *testing.T, body []byte, json, gz bool) {
		r := httptest.NewRequest(http.MethodPost, tracesPath, bytes.NewReader(body))
		contentType := "application/x-protobuf"
		if json {
			contentType = "application/json"
		}
		r.Header.Set("Content-Type", contentType)
		if gz {
			r.Header.Set("Content-Encoding", "gzip")
		}
		enc, err := requestEncoding(r.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		body, err = readBody(httptest.NewRecorder(), r, maxBytes)
		var req ptraceotlp.ExportRequest
		if err == nil {
			req, err = decodeRequest(body, enc.json, DefaultConfig().MaxAttributeDepth)
		}
		if err != nil {
			if code, _ := httpStatus(err); code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
				t.Fatalf("decode error %v answered %d", err, code)
			}
			return
		}
		td := req.Traces()
		l, err := indexRequest(td, "tenant", testPartitions)
		if err == nil {
			var sizes []recordSize
			if sizes, err = l.assign(maxBytes, 0); err == nil {
				var m ptrace.ProtoMarshaler
				for i, rec := range l.build(td, sizes) {
					if got := m.TracesSize(rec); got != sizes[i].total {
						t.Fatalf("record %d: %d bytes, predicted %d", i, got, sizes[i].total)
					}
				}
			}
		}
		if err != nil {
			if code, _ := httpStatus(err); code != http.StatusBadRequest {
				t.Fatalf("push error %v answered %d", err, code)
			}
		}
	})
}
