package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/status"
)

// client sends one worker's requests over its own connection. Whichever
// Config.Client it is, it reports the outcome of a request through the
// outcome in the request's context, so that classify names the failures of
// both alike.
type client interface {
	// export sends the batch's spans in one request and returns "" when
	// the endpoint acknowledged them, else the class of the failure (see
	// Result.Errors).
	export(ctx context.Context, b *batch) string
	shutdown(ctx context.Context) error
}

func newClient(ctx context.Context, cfg Config, services []service) (client, error) {
	if cfg.Protocol != ProtocolGRPC && cfg.Protocol != ProtocolHTTP {
		return nil, fmt.Errorf("unknown protocol %q", cfg.Protocol)
	}
	switch cfg.Client {
	case ClientSDK:
		return newSDKClient(ctx, cfg, services)
	case ClientCollector:
		return newCollectorClient(cfg, services)
	default:
		return nil, fmt.Errorf("unknown client %q", cfg.Client)
	}
}

// grpcDialOptions are the connection's options with either client.
func grpcDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithConnectParams(reconnectParams()),
		grpc.WithNoProxy(),
		grpc.WithUnaryInterceptor(recordGRPCOutcome),
	}
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

// newHTTPTransport is the transport of one worker's HTTP connection.
func newHTTPTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Load must reach the endpoint itself, never a proxy from the
	// environment.
	t.Proxy = nil
	return t
}

// outcomeTransport notes the HTTP status of the response in the request's
// outcome, since the SDK exporter's error does not carry it.
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
