package loadgen

import (
	"context"
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// sdkClient sends through the OpenTelemetry SDK's OTLP exporter, as an
// instrumented application does.
type sdkClient struct {
	protocol string
	otlp     *otlptrace.Exporter
	// transport is the HTTP exporter's, nil for gRPC; shutdown closes its
	// idle connections, which the OTLP exporter leaves open.
	transport *http.Transport
	stubs     stubBuilder
}

func newSDKClient(ctx context.Context, cfg Config, services []service) (*sdkClient, error) {
	var headers map[string]string
	if cfg.Tenant != "" {
		headers = map[string]string{TenantHeader: cfg.Tenant}
	}
	c := &sdkClient{protocol: cfg.Protocol, stubs: newStubBuilder(services)}
	var err error
	switch cfg.Protocol {
	case ProtocolGRPC:
		c.otlp, err = otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpoint(cfg.Endpoint),
			otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithHeaders(headers),
			otlptracegrpc.WithTimeout(cfg.RequestTimeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
			otlptracegrpc.WithDialOption(grpcDialOptions()...),
		)
	case ProtocolHTTP:
		c.transport = newHTTPTransport()
		c.otlp, err = otlptracehttp.New(ctx,
			otlptracehttp.WithEndpoint(cfg.Endpoint),
			otlptracehttp.WithInsecure(),
			otlptracehttp.WithHeaders(headers),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
			otlptracehttp.WithHTTPClient(&http.Client{
				Transport: outcomeTransport{next: c.transport},
				Timeout:   cfg.RequestTimeout,
			}),
		)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s exporter: %w", cfg.Protocol, err)
	}
	return c, nil
}

func (c *sdkClient) export(ctx context.Context, b *batch) string {
	spans := c.stubs.spans(b)
	ctx, o := withOutcome(ctx)
	err := c.otlp.ExportSpans(ctx, spans)
	if err == nil {
		return ""
	}
	return classify(c.protocol, err, o)
}

func (c *sdkClient) shutdown(ctx context.Context) error {
	err := c.otlp.Shutdown(ctx)
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	return err
}

// stubBuilder turns a batch's spans into the SDK's.
type stubBuilder struct {
	services []service
	scope    instrumentation.Scope
	out      []sdktrace.ReadOnlySpan
}

func newStubBuilder(services []service) stubBuilder {
	return stubBuilder{services: services, scope: instrumentation.Scope{Name: scopeName}}
}

// spans returns the batch's spans as the SDK's, valid until the next call.
func (sb *stubBuilder) spans(b *batch) []sdktrace.ReadOnlySpan {
	sb.out = sb.out[:0]
	for i := range b.spans {
		sb.out = append(sb.out, sb.stub(&b.spans[i]).Snapshot())
	}
	return sb.out
}

func (sb *stubBuilder) stub(s *span) tracetest.SpanStub {
	stub := tracetest.SpanStub{
		Name: s.name,
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    s.traceID,
			SpanID:     s.id,
			TraceFlags: trace.FlagsSampled,
		}),
		SpanKind:             s.kind,
		StartTime:            s.start,
		EndTime:              s.end,
		Attributes:           s.attrs,
		Status:               sdktrace.Status{Code: s.status, Description: s.statusMessage},
		Resource:             sb.services[s.service].resource,
		InstrumentationScope: sb.scope,
	}
	if s.parent.IsValid() {
		stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    s.traceID,
			SpanID:     s.parent,
			TraceFlags: trace.FlagsSampled,
		})
	}
	if s.event.name != "" {
		stub.Events = []sdktrace.Event{{Name: s.event.name, Time: s.event.time, Attributes: s.event.attrs}}
	}
	return stub
}
