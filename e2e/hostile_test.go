package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spanlog/spanlog/internal/otlptest"
)

// TestHostileRequests sends a -target=all process requests that once took
// it down or hid its data: an attribute nested 1.5 million arrays deep,
// gzipped, to each receiver, which overflowed the stack while decoding and
// killed the distributor, the builders and the embedded Kafka with it; and
// a span ending past 2^63 ns, which wrapped its block's time range to 1677.
// Each must get InvalidArgument / 400, and the same process must go on
// acking and answering.
func TestHostileRequests(t *testing.T) {
	n := newNode(t)
	p := n.start(t)
	const maxRequestBytes = 16 << 20 // distributor.max-request-bytes' default
	deep := otlptest.DeepArrayRequest(1_500_000)
	deepJSON := otlptest.DeepArrayRequestJSON((maxRequestBytes - 1024) / otlptest.JSONLevelBytes)
	past2262 := ptrace.NewTraces()
	span := past2262.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName("from the far future")
	span.SetTraceID(pcommon.TraceID{1, 2, 3})
	span.SetSpanID(pcommon.SpanID{4, 5, 6})
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	span.SetEndTimestamp(1 << 63)
	pastBody, err := ptraceotlp.NewExportRequestFromTraces(past2262).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("grpc deep", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := otlptest.ExportGRPC(ctx, n.OTLPGRPC, deep)
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "max-attribute-depth") {
			t.Errorf("got %v, want InvalidArgument naming max-attribute-depth", err)
		}
	})
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		want              string
	}{
		{"http protobuf deep", "application/x-protobuf", deep, "max-attribute-depth"},
		{"http json deep", "application/json", deepJSON, "max-attribute-depth"},
		{"http end past 2262", "application/x-protobuf", pastBody, "end time 9223372036854775808 ns is past 2^63-1 ns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := postGzipped(t, "http://"+n.OTLPHTTP+"/v1/traces", tc.contentType, tc.body)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("status %d (%.300q), want 400 saying %q", code, body, tc.want)
			}
		})
	}

	sent := sendTraces(t, "grpc", n.OTLPGRPC, "after-grpc", 10)
	maps.Copy(sent, sendTraces(t, "http", n.OTLPHTTP, "after-http", 10))
	checkAll(t, n.HTTP, sent, "after the hostile requests")
	select {
	case <-p.done:
		t.Fatalf("spanlog exited: %v", p.err)
	default:
	}
	p.stop(t)
}

// postGzipped posts body gzipped and returns the reply's status and body.
func postGzipped(t *testing.T, url, contentType string, body []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(reply)
}
