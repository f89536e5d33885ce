package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/status"
)

// exporter sends one worker's requests over its own connection.
type exporter struct {
	protocol string
	otlp     *otlptrace.Exporter
	// transport is the HTTP exporter's, nil for gRPC; shutdown closes its
	// idle connections, which the OTLP exporter leaves open.
	transport *http.Transport
}

func newExporter(ctx context.Context, cfg Config) (*exporter, error) {
	var headers map[string]string
	if cfg.Tenant != "" {
		headers = map[string]string{TenantHeader: cfg.Tenant}
	}
	e := &exporter{protocol: cfg.Protocol}
	var err error
	switch cfg.Protocol {
	case ProtocolGRPC:
		e.otlp, err = otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpoint(cfg.Endpoint),
			otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithHeaders(headers),
			otlptracegrpc.WithTimeout(cfg.RequestTimeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
			otlptracegrpc.WithDialOption(
				grpc.WithConnectParams(reconnectParams()),
				grpc.WithNoProxy(),
				grpc.WithUnaryInterceptor(recordGRPCOutcome),
			),
		)
	case ProtocolHTTP:
		e.transport = http.DefaultTransport.(*http.Transport).Clone()
		// Load must reach the endpoint itself, never a proxy from the
		// environment.
		e.transport.Proxy = nil
		e.otlp, err = otlptracehttp.New(ctx,
			otlptracehttp.WithEndpoint(cfg.Endpoint),
			otlptracehttp.WithInsecure(),
			otlptracehttp.WithHeaders(headers),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
			otlptracehttp.WithHTTPClient(&http.Client{
				Transport: outcomeTransport{next: e.transport},
				Timeout:   cfg.RequestTimeout,
			}),
		)
	default:
		return nil, fmt.Errorf("unknown protocol %q", cfg.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s exporter: %w", cfg.Protocol, err)
	}
	return e, nil
}

// export sends spans in one request and returns "" when the endpoint
// acknowledged them, else the class of the failure (see Result.Errors).
func (e *exporter) export(ctx context.Context, spans []sdktrace.ReadOnlySpan) string {
	ctx, o := withOutcome(ctx)
	err := e.otlp.ExportSpans(ctx, spans)
	if err == nil {
		return ""
	}
	return classify(e.protocol, err, o)
}

func (e *exporter) shutdown(ctx context.Context) error {
	err := e.otlp.Shutdown(ctx)
	if e.transport != nil {
		e.transport.CloseIdleConnections()
	}
	return err
}

// reconnectParams replace gRPC's default backoff, which grows to two
// minutes: after a fault test restarts the endpoint, the generator must find
// it again within a second, not sit out the backoff failing every request.
func reconnectParams() grpc.ConnectParams {
	return grpc.ConnectParams{
		Backoff: backoff.Config{
			BaseDelay:  100 * time.Millisecond,
			Multiplier: 1.6,
			Jitter:     0.2,
			MaxDelay:   time.Second,
		},
		MinConnectTimeout: time.Second,
	}
}

// recordGRPCOutcome notes the status of the call in the request's outcome.
func recordGRPCOutcome(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if o := outcomeFrom(ctx); o != nil {
		o.sent = true
		o.grpcCode = status.Code(err)
	}
	return err
}

// outcomeTransport notes the HTTP status of the response in the request's
// outcome, since the exporter's error does not carry it.
type outcomeTransport struct {
	next http.RoundTripper
}

func (t outcomeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	o := outcomeFrom(req.Context())
	if o != nil {
		o.sent = true
	}
	resp, err := t.next.RoundTrip(req)
	if o != nil && err == nil {
		o.answered = true
		o.httpStatus = resp.StatusCode
	}
	return resp, err
}
