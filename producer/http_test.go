package producer

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestHTTPProtocol checks OTLP/HTTP over plain net/http: encodings,
// compression, and the replies to what the receiver does not take.
func TestHTTPProtocol(t *testing.T) {
	cluster := kafkatest.New(t)
	d := startDistributor(t, cluster.Brokers(), func(s *testSetup) { s.cfg.MaxRequestBytes = 64 << 10 })
	td := testTraces(5, 2, 1)
	protoBody, jsonBody := requestBodies(t, td)
	// Zeros compress well: under the limit on the wire, over it inflated.
	bomb := gzipped(t, make([]byte, 1<<20))

	for _, tc := range []struct {
		name            string
		contentType     string
		body            []byte
		headers         []string
		wantCode        int
		wantContentType string
		wantInBody      string
	}{
		{"protobuf", "application/x-protobuf", protoBody, nil, http.StatusOK, "application/x-protobuf", ""},
		{"protobuf alias", "application/protobuf", protoBody, nil, http.StatusOK, "application/protobuf", ""},
		{"json", "application/json", jsonBody, nil, http.StatusOK, "application/json", "{}"},
		{"json charset", "application/json; charset=utf-8", jsonBody, nil, http.StatusOK, "application/json", "{}"},
		{"gzip protobuf", "application/x-protobuf", gzipped(t, protoBody), []string{"Content-Encoding", "gzip"}, http.StatusOK, "application/x-protobuf", ""},
		{"gzip json", "application/json", gzipped(t, jsonBody), []string{"Content-Encoding", "gzip"}, http.StatusOK, "application/json", "{}"},
		{"malformed json", "application/json", []byte(`{"resourceSpans": [`), nil, http.StatusBadRequest, "application/json", "cannot decode OTLP request"},
		{"malformed protobuf", "application/x-protobuf", []byte{0x0a, 0xff}, nil, http.StatusBadRequest, "application/x-protobuf", "cannot decode OTLP request"},
		{"broken gzip", "application/json", []byte("not gzip"), []string{"Content-Encoding", "gzip"}, http.StatusBadRequest, "application/json", "cannot decode OTLP request"},
		{"unknown content type", "text/plain", protoBody, nil, http.StatusUnsupportedMediaType, "text/plain; charset=utf-8", "unsupported media type"},
		{"no content type", "", protoBody, nil, http.StatusUnsupportedMediaType, "text/plain; charset=utf-8", "unsupported media type"},
		{"unknown content encoding", "application/json", jsonBody, []string{"Content-Encoding", "br"}, http.StatusUnsupportedMediaType, "application/json", `Content-Encoding \"br\"`},
		{"body too large", "application/x-protobuf", make([]byte, 65<<10), nil, http.StatusRequestEntityTooLarge, "application/x-protobuf", ""},
		{"inflated body too large", "application/json", bomb, []string{"Content-Encoding", "gzip"}, http.StatusRequestEntityTooLarge, "application/json", "request body too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := postHTTP(t, d.HTTPAddr(), tc.contentType, "", tc.body, tc.headers...)
			if resp.code != tc.wantCode {
				t.Fatalf("status %d (%q), want %d", resp.code, resp.body, tc.wantCode)
			}
			if resp.contentType != tc.wantContentType {
				t.Errorf("Content-Type %q, want %q", resp.contentType, tc.wantContentType)
			}
			if !strings.Contains(string(resp.body), tc.wantInBody) {
				t.Errorf("body %q does not contain %q", resp.body, tc.wantInBody)
			}
			if resp.code == http.StatusOK || !strings.HasPrefix(resp.contentType, "application/json") {
				return
			}
			var st status.Status
			if err := protojson.Unmarshal(resp.body, &st); err != nil || st.GetMessage() == "" {
				t.Errorf("error reply %q is not a google.rpc.Status with a message: %v", resp.body, err)
			}
		})
	}

	t.Run("wrong method", func(t *testing.T) {
		resp, err := http.Get("http://" + d.HTTPAddr() + tracesPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("status %d, Allow %q; want 405, POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("wrong path", func(t *testing.T) {
		resp, err := http.Post("http://"+d.HTTPAddr()+"/v1/metrics", "application/json", bytes.NewReader(jsonBody))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})

	// Six accepted requests of td: each span six times, nothing else.
	seen := logSpans(t, readLog(t, cluster.Brokers(), kafkatest.Topic), "single-tenant", testPartitions)
	for _, k := range keysOf(td) {
		if seen[k] != 6 {
			t.Errorf("span %s in the log %d times, want 6", k.span, seen[k])
		}
	}
}
