package producer

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/tenant"
)

// metricValue returns the value of a counter, or the sample count of a
// histogram.
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if h := out.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return out.GetCounter().GetValue()
}

func TestMetrics(t *testing.T) {
	cluster := kafkatest.New(t)
	reg := prometheus.NewPedanticRegistry()
	d := startDistributor(t, cluster.Brokers(), func(s *testSetup) { s.reg = reg })
	ctx := context.Background()

	good := testTraces(10, 3, 2)
	var m ptrace.ProtoMarshaler
	goodBytes := m.TracesSize(good)
	if _, err := d.Push(ctx, "t1", good); err != nil {
		t.Fatal(err)
	}
	bad := testTraces(2, 2, 1)
	bad.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetSpanID(pcommon.SpanID{})
	if _, err := d.Push(ctx, "t1", bad); !isType[*InvalidSpanError](err) {
		t.Fatalf("err = %v, want InvalidSpanError", err)
	}

	if got := metricValue(t, d.metrics.spansReceived.WithLabelValues("t1")); got != 30+4 {
		t.Errorf("spans received %v, want 34", got)
	}
	if got := metricValue(t, d.metrics.spansRejected.WithLabelValues("t1", reasonInvalidSpan)); got != 4 {
		t.Errorf("spans rejected %v, want 4", got)
	}
	if got := metricValue(t, d.metrics.bytesReceived.WithLabelValues("t1")); got <= float64(goodBytes) {
		t.Errorf("bytes received %v, want more than the good request's %d", got, goodBytes)
	}
	if got := metricValue(t, d.metrics.produceDuration); got != 1 {
		t.Errorf("produce duration has %v samples, want 1", got)
	}

	records := readLog(t, cluster.Brokers(), kafkatest.Topic)
	var written, valueBytes float64
	for p := range testPartitions {
		written += metricValue(t, d.metrics.recordsWritten.WithLabelValues(strconv.Itoa(p)))
		valueBytes += metricValue(t, d.metrics.recordBytesWritten.WithLabelValues(strconv.Itoa(p)))
	}
	var wantBytes int
	for _, r := range records {
		wantBytes += len(r.Value)
	}
	if written != float64(len(records)) || valueBytes != float64(wantBytes) {
		t.Errorf("metrics say %v records of %v bytes written, the log holds %d of %d", written, valueBytes, len(records), wantBytes)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "spanlog_distributor_") {
			t.Errorf("metric %s is not named spanlog_distributor_*", f.GetName())
		}
	}
	if len(families) != 6 {
		t.Errorf("%d metric families, want 6", len(families))
	}
}

// TestRequestMetrics checks that every answered export request is
// counted by protocol and code, and timed.
func TestRequestMetrics(t *testing.T) {
	cluster := kafkatest.New(t)
	d := startDistributor(t, cluster.Brokers(), func(s *testSetup) { s.tenants.MultiTenancy = true })
	good := testTraces(4, 2, 1)
	bad := testTraces(1, 1, 1)
	bad.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetSpanID(pcommon.SpanID{})

	cc, err := grpc.NewClient(d.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := ptraceotlp.NewGRPCClient(cc)
	export := func(ctx context.Context, td ptrace.Traces) error {
		req := ptraceotlp.NewExportRequest()
		td.CopyTo(req.Traces())
		_, err := client.Export(ctx, req)
		return err
	}
	withTenant := metadata.AppendToOutgoingContext(context.Background(), tenant.Header, "team-a")
	if err := export(withTenant, good); err != nil {
		t.Fatal(err)
	}
	if err := export(withTenant, bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("invalid span: %v, want InvalidArgument", err)
	}
	if err := export(context.Background(), good); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no tenant: %v, want Unauthenticated", err)
	}
	goodBody, _ := requestBodies(t, good)
	if resp := postHTTP(t, d.HTTPAddr(), "application/x-protobuf", "team-a", goodBody); resp.code != http.StatusOK {
		t.Fatalf("status %d (%q)", resp.code, resp.body)
	}
	if resp := postHTTP(t, d.HTTPAddr(), "text/plain", "team-a", goodBody); resp.code != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415", resp.code)
	}

	for _, c := range []struct {
		protocol, code string
		want           float64
	}{
		{"grpc", "OK", 1}, {"grpc", "InvalidArgument", 1}, {"grpc", "Unauthenticated", 1},
		{"http", "200", 1}, {"http", "415", 1},
	} {
		if got := metricValue(t, d.metrics.requests.WithLabelValues(c.protocol, c.code)); got != c.want {
			t.Errorf("requests %s %s: %v, want %v", c.protocol, c.code, got, c.want)
		}
	}
	for protocol, want := range map[string]float64{"grpc": 3, "http": 2} {
		if got := metricValue(t, d.metrics.requestDuration.WithLabelValues(protocol).(prometheus.Metric)); got != want {
			t.Errorf("%s request durations: %v samples, want %v", protocol, got, want)
		}
	}
}
