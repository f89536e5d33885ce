package producer

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/tenant"
)

// TestSDKExporters sends spans with the OpenTelemetry Go SDK's OTLP
// exporters and checks the log holds each of them exactly once, on the
// right partition, for the right tenant.
func TestSDKExporters(t *testing.T) {
	const tenantID = "team-a"
	headers := map[string]string{tenant.Header: tenantID}
	for _, tc := range []struct {
		name string
		new  func(ctx context.Context, d *Distributor) (sdktrace.SpanExporter, error)
	}{
		{"grpc", func(ctx context.Context, d *Distributor) (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithInsecure(), otlptracegrpc.WithEndpoint(d.GRPCAddr()),
				otlptracegrpc.WithHeaders(headers))
		}},
		{"grpc gzip", func(ctx context.Context, d *Distributor) (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithInsecure(), otlptracegrpc.WithEndpoint(d.GRPCAddr()),
				otlptracegrpc.WithHeaders(headers), otlptracegrpc.WithCompressor("gzip"))
		}},
		{"http protobuf", func(ctx context.Context, d *Distributor) (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithInsecure(), otlptracehttp.WithEndpoint(d.HTTPAddr()),
				otlptracehttp.WithHeaders(headers))
		}},
		{"http protobuf gzip", func(ctx context.Context, d *Distributor) (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithInsecure(), otlptracehttp.WithEndpoint(d.HTTPAddr()),
				otlptracehttp.WithHeaders(headers), otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}},
		{"http json", func(ctx context.Context, d *Distributor) (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithInsecure(), otlptracehttp.WithEndpoint(d.HTTPAddr()),
				otlptracehttp.WithHeaders(headers), otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := kafkatest.New(t)
			d := startDistributor(t, cluster.Brokers(), func(s *testSetup) { s.tenants.MultiTenancy = true })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			exp, err := tc.new(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			recorder := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSpanProcessor(recorder))
			tracer := tp.Tracer("spanlog-test")
			for range 20 {
				ctx, root := tracer.Start(ctx, "root")
				for range 3 {
					_, child := tracer.Start(ctx, "child")
					child.End()
				}
				root.End()
			}
			if err := tp.ForceFlush(ctx); err != nil {
				t.Fatalf("export: %v", err)
			}
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}

			var want []spanKey
			for _, s := range recorder.Ended() {
				sc := s.SpanContext()
				want = append(want, spanKey{pcommon.TraceID(sc.TraceID()), pcommon.SpanID(sc.SpanID())})
			}
			if len(want) != 20*4 {
				t.Fatalf("recorded %d spans, want %d", len(want), 20*4)
			}
			seen := logSpans(t, readLog(t, cluster.Brokers(), kafkatest.Topic), tenantID, testPartitions)
			checkSpansOnce(t, seen, want)
		})
	}
}
