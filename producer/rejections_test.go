package producer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/tenant"
)

// exportGRPC sends td over OTLP/gRPC with the tenant header, if any.
func exportGRPC(t testing.TB, addr, tenantID string, td ptrace.Traces) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if tenantID != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, tenant.Header, tenantID)
	}
	_, err = ptraceotlp.NewGRPCClient(cc).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	return err
}

// exportHTTP sends td over OTLP/HTTP in protobuf and returns the status
// and the message of the google.rpc.Status of an error reply.
func exportHTTP(t testing.TB, addr, tenantID string, td ptrace.Traces) (int, string) {
	t.Helper()
	resp, msg, err := exportHTTPReply(addr, tenantID, td)
	if err != nil {
		t.Fatal(err)
	}
	return resp.code, msg
}

// exportHTTPReply is exportHTTP returning the whole reply, and an error
// rather than failing the test, so that other goroutines can call it.
func exportHTTPReply(addr, tenantID string, td ptrace.Traces) (httpReply, string, error) {
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return httpReply{}, "", err
	}
	resp, err := post(addr, "application/x-protobuf", tenantID, body)
	if err != nil || resp.code == http.StatusOK {
		return resp, "", err
	}
	var st status.Status
	if err := proto.Unmarshal(resp.body, &st); err != nil {
		return resp, "", fmt.Errorf("error reply is not a google.rpc.Status: %w (%q)", err, resp.body)
	}
	return resp, st.GetMessage(), nil
}

type httpReply struct {
	code        int
	contentType string
	retryAfter  string
	body        []byte
}

func postHTTP(t testing.TB, addr, contentType, tenantID string, body []byte, headers ...string) httpReply {
	t.Helper()
	resp, err := post(addr, contentType, tenantID, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// post sends an OTLP/HTTP request with the tenant header, if any, and
// extra headers given as name, value pairs.
func post(addr, contentType, tenantID string, body []byte, headers ...string) (httpReply, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+tracesPath, bytes.NewReader(body))
	if err != nil {
		return httpReply{}, err
	}
	req.Header.Set("Content-Type", contentType)
	if tenantID != "" {
		req.Header.Set(tenant.Header, tenantID)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return httpReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpReply{}, err
	}
	return httpReply{code: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), retryAfter: resp.Header.Get("Retry-After"), body: b}, nil
}

// withTrace appends to td a trace of spans spans with the given first ID
// byte, so that it does not collide with testTraces' IDs.
func withTrace(td ptrace.Traces, idByte byte, spans int) ptrace.Traces {
	extra := testTraces(1, spans, 10)
	for _, rs := range extra.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				s.SetTraceID(pcommon.TraceID{idByte, 1})
				id := s.SpanID()
				id[0] = idByte
				s.SetSpanID(id)
			}
		}
	}
	extra.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	return td
}

// TestRejections checks that requests that must not be stored get the
// right code and message on both protocols, and that nothing of them is
// written.
func TestRejections(t *testing.T) {
	cluster := kafkatest.New(t)
	d := startDistributor(t, cluster.Brokers(), func(s *testSetup) {
		s.tenants.MultiTenancy = true
		s.cfg.MaxRecordBytes = 16 << 10
		s.cfg.MaxRequestBytes = 1 << 20
		s.cfg.MaxRequestRecordBytes = 1 << 20
	})
	zeroTraceID := testTraces(4, 2, 1)
	zeroTraceID.ResourceSpans().At(0).ScopeSpans().At(1).Spans().At(0).SetTraceID(pcommon.TraceID{})
	zeroSpanID := testTraces(4, 2, 1)
	zeroSpanID.ResourceSpans().At(1).ScopeSpans().At(0).Spans().At(0).SetSpanID(pcommon.SpanID{})
	endPast2262 := testTraces(4, 2, 1)
	endPast2262.ResourceSpans().At(1).ScopeSpans().At(1).Spans().At(1).SetEndTimestamp(1 << 63)
	startPast2262 := testTraces(4, 2, 1)
	startPast2262.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).SetStartTimestamp(1<<64 - 1)

	for _, tc := range []struct {
		name     string
		tenant   string
		td       ptrace.Traces
		grpcCode codes.Code
		httpCode int
		message  []string
	}{
		{"missing tenant", "", testTraces(1, 1, 1), codes.Unauthenticated, http.StatusUnauthorized,
			[]string{tenant.Header}},
		{"invalid tenant", "a/b", testTraces(1, 1, 1), codes.InvalidArgument, http.StatusBadRequest,
			[]string{"invalid tenant ID", `"a/b"`}},
		{"zero trace ID", "team-a", zeroTraceID, codes.InvalidArgument, http.StatusBadRequest,
			[]string{"trace ID is missing or all zero", "resourceSpans[0].scopeSpans[1].spans[0]"}},
		{"zero span ID", "team-a", zeroSpanID, codes.InvalidArgument, http.StatusBadRequest,
			[]string{"span ID is missing or all zero", "resourceSpans[1].scopeSpans[0].spans[0]"}},
		{"end time past 2262", "team-a", endPast2262, codes.InvalidArgument, http.StatusBadRequest,
			[]string{"end time 9223372036854775808 ns is past 2^63-1 ns", "resourceSpans[1].scopeSpans[1].spans[1]", `invalid span "operation-`}},
		{"start time past 2262", "team-a", startPast2262, codes.InvalidArgument, http.StatusBadRequest,
			[]string{"start time 18446744073709551615 ns is past 2^63-1 ns", "resourceSpans[0].scopeSpans[0].spans[1]"}},
		{"trace too large", "team-a", withTrace(testTraces(30, 2, 1), 0xee, 400), codes.InvalidArgument, http.StatusBadRequest,
			[]string{"trace ee010000000000000000000000000000 is too large", "max-record-bytes) is 16384"}},
		{"request records too large", "team-a", sharedResourceTraces(15_000, 8<<10), codes.ResourceExhausted, http.StatusRequestEntityTooLarge,
			[]string{"request too large: split by partition and trace into", "the limit (max-request-record-bytes) is 1048576 bytes"}},
	} {
		t.Run(tc.name+"/grpc", func(t *testing.T) {
			err := exportGRPC(t, d.GRPCAddr(), tc.tenant, tc.td)
			st := grpcstatus.Convert(err)
			if st.Code() != tc.grpcCode {
				t.Fatalf("code %v (%v), want %v", st.Code(), err, tc.grpcCode)
			}
			for _, want := range tc.message {
				if !strings.Contains(st.Message(), want) {
					t.Errorf("message %q does not contain %q", st.Message(), want)
				}
			}
		})
		t.Run(tc.name+"/http", func(t *testing.T) {
			code, msg := exportHTTP(t, d.HTTPAddr(), tc.tenant, tc.td)
			if code != tc.httpCode {
				t.Fatalf("status %d (%s), want %d", code, msg, tc.httpCode)
			}
			for _, want := range tc.message {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
		})
	}
	if records := readLog(t, cluster.Brokers(), kafkatest.Topic); len(records) != 0 {
		t.Errorf("rejected requests wrote %d records", len(records))
	}
}
