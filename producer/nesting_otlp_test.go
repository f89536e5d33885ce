package producer

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/otlptest"
)

// TestDeepAttributeValuesRefused sends requests nesting an attribute value
// deeper than max-attribute-depth to each receiver: 1.5 million levels,
// which overflowed the stack while decoding and killed the process, and
// one level over the limit through the OTLP clients. Each must be refused
// with InvalidArgument / 400 naming the limit, and the next request served.
func TestDeepAttributeValuesRefused(t *testing.T) {
	const hostileLevels = 1_500_000
	cluster := kafkatest.New(t)
	d := startDistributor(t, cluster.Brokers(), nil)
	limit := d.cfg.MaxAttributeDepth
	// The most levels of arrays that fit in a JSON body within the limit.
	jsonLevels := int(d.cfg.MaxRequestBytes-1024) / otlptest.JSONLevelBytes

	protoBody := otlptest.DeepArrayRequest(hostileLevels)
	if int64(len(protoBody)) > d.cfg.MaxRequestBytes {
		t.Fatalf("hostile request of %d bytes is over max-request-bytes", len(protoBody))
	}
	overProto, overJSON := requestBodies(t, deepAttributeTraces("event", limit+1, true))
	atProto, atJSON := requestBodies(t, deepAttributeTraces("event", limit, true))
	next := withTrace(ptrace.NewTraces(), 0xaa, 3)
	wantMessage := "(the limit, max-attribute-depth)"

	checkHTTP := func(t *testing.T, contentType string, body []byte, headers ...string) {
		t.Helper()
		resp := postHTTP(t, d.HTTPAddr(), contentType, "", body, headers...)
		if resp.code != http.StatusBadRequest {
			t.Fatalf("status %d (%q), want 400", resp.code, resp.body)
		}
		var st status.Status
		if contentType == "application/json" {
			if err := protojson.Unmarshal(resp.body, &st); err != nil {
				t.Fatal(err)
			}
		} else if err := proto.Unmarshal(resp.body, &st); err != nil {
			t.Fatal(err)
		}
		if st.GetCode() != int32(codes.InvalidArgument) || !strings.Contains(st.GetMessage(), wantMessage) {
			t.Errorf("reply %v, want InvalidArgument saying %q", &st, wantMessage)
		}
	}
	checkGRPC := func(t *testing.T, err error) {
		t.Helper()
		if st := grpcstatus.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), wantMessage) {
			t.Errorf("got %v, want InvalidArgument saying %q", err, wantMessage)
		}
	}
	served := 0
	for _, tc := range []struct {
		name string
		send func(t *testing.T)
	}{
		{"grpc hostile gzip", func(t *testing.T) { checkGRPC(t, otlptest.ExportGRPC(context.Background(), d.GRPCAddr(), protoBody)) }},
		{"http protobuf hostile gzip", func(t *testing.T) {
			checkHTTP(t, "application/x-protobuf", gzipped(t, protoBody), "Content-Encoding", "gzip")
		}},
		{"http json hostile gzip", func(t *testing.T) {
			checkHTTP(t, "application/json", gzipped(t, otlptest.DeepArrayRequestJSON(jsonLevels)), "Content-Encoding", "gzip")
		}},
		{"grpc otlp client one level over", func(t *testing.T) {
			checkGRPC(t, exportGRPC(t, d.GRPCAddr(), "", deepAttributeTraces("event", limit+1, true)))
		}},
		{"http protobuf one level over", func(t *testing.T) { checkHTTP(t, "application/x-protobuf", overProto) }},
		{"http json one level over", func(t *testing.T) { checkHTTP(t, "application/json", overJSON) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.send(t)
			// The distributor is still there, and serves.
			if code, msg := exportHTTP(t, d.HTTPAddr(), "", next); code != http.StatusOK {
				t.Fatalf("next request: status %d (%s)", code, msg)
			}
			served++
		})
	}
	t.Run("at the limit", func(t *testing.T) {
		if err := exportGRPC(t, d.GRPCAddr(), "", deepAttributeTraces("event", limit, true)); err != nil {
			t.Errorf("grpc: %v", err)
		}
		for _, tc := range []struct {
			contentType string
			body        []byte
		}{{"application/x-protobuf", atProto}, {"application/json", atJSON}} {
			if resp := postHTTP(t, d.HTTPAddr(), tc.contentType, "", tc.body); resp.code != http.StatusOK {
				t.Errorf("%s: status %d (%q)", tc.contentType, resp.code, resp.body)
			}
		}
	})
	// The refused requests wrote nothing: the log holds the spans of the
	// requests after them, and of the three at the limit.
	seen := logSpans(t, readLog(t, cluster.Brokers(), kafkatest.Topic), "single-tenant", testPartitions)
	want := map[spanKey]int{}
	for _, k := range keysOf(next) {
		want[k] = served
	}
	for _, k := range keysOf(deepAttributeTraces("event", limit, true)) {
		want[k] = 3
	}
	if !maps.Equal(seen, want) {
		t.Errorf("log holds spans %v, want %v", seen, want)
	}
}
