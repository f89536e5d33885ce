package loadgen

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Protocols an exporter can speak.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http"
)

// Clients that build and send the requests. Both send the same spans for a
// seed and account for them alike; they differ in what they cost the
// machine the generator runs on.
const (
	// ClientSDK builds OpenTelemetry SDK spans and sends them through the
	// SDK's OTLP exporter, as an instrumented application does.
	ClientSDK = "sdk"
	// ClientCollector builds the request as the Collector's pdata and sends
	// it as the Collector's OTLP exporters do: several times cheaper per
	// span, so that the generator leaves more of a shared machine to the
	// endpoint it measures.
	ClientCollector = "collector"
)

// TenantHeader carries Config.Tenant on every request.
const TenantHeader = "X-Scope-OrgID"

// maxSpansPerRequest keeps one request's spans, built in memory before it is
// sent, to a few tens of MiB whatever the flags say.
const maxSpansPerRequest = 100_000

// Config configures a Generator.
type Config struct {
	// Endpoint is the OTLP receiver's host:port, reached without TLS.
	// Default "127.0.0.1:4317" (the OTLP/HTTP port is 4318).
	Endpoint string
	// Protocol is ProtocolGRPC or ProtocolHTTP (protobuf over /v1/traces).
	// Default ProtocolGRPC.
	Protocol string
	// Client is ClientSDK or ClientCollector. Default ClientSDK.
	Client string
	// Tenant is sent as the X-Scope-OrgID header; empty sends no header.
	// Default "".
	Tenant string
	// Workers is how many requests can be in flight at once; each worker
	// has its own connection. Default 4.
	Workers int
	// Rate caps the traces sent per second over all workers; 0 sends as fast
	// as the workers can. It is a ceiling: an endpoint slower than the rate
	// gets less, not a burst to catch up later. Default 100.
	Rate float64
	// SpansPerTrace is the number of spans of every trace. Default 10.
	SpansPerTrace int
	// AttributesPerSpan is the number of attributes of every span: the
	// http.* and other semantic attributes first, generic ones to fill up;
	// 0 sends spans without attributes. Default 10.
	AttributesPerSpan int
	// BatchTraces is the number of traces in one export request; a trace is
	// never split across requests. Default 10.
	BatchTraces int
	// Services is the number of distinct service.name values the traces
	// cross. Default 5.
	Services int
	// RequestTimeout bounds one export request; past it the request counts
	// as failed. Default 5s.
	RequestTimeout time.Duration
	// Seed makes a run's trace shapes and IDs reproducible; two runs with
	// the same non-zero seed send the same trace IDs. 0 picks a seed from
	// the clock. Default 0.
	Seed int64
	// Traces is how many traces to send before the run ends by itself, so
	// that a seed and a number of workers reproduce a whole data set, all
	// but its timestamps. Each worker sends its share in requests of
	// BatchTraces, the last one smaller when the share is not a multiple
	// of it. 0 sends until the run's context ends. Default 0.
	Traces int64
}

// DefaultConfig returns a gentle load of 100 traces per second over OTLP/gRPC
// to a receiver on this machine.
func DefaultConfig() Config {
	return Config{
		Endpoint:          "127.0.0.1:4317",
		Protocol:          ProtocolGRPC,
		Client:            ClientSDK,
		Workers:           4,
		Rate:              100,
		SpansPerTrace:     10,
		AttributesPerSpan: 10,
		BatchTraces:       10,
		Services:          5,
		RequestTimeout:    5 * time.Second,
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Endpoint == "":
		return errors.New("loadgen: no endpoint")
	case c.Protocol != ProtocolGRPC && c.Protocol != ProtocolHTTP:
		return fmt.Errorf("loadgen: protocol must be %q or %q, got %q", ProtocolGRPC, ProtocolHTTP, c.Protocol)
	case c.Client != ClientSDK && c.Client != ClientCollector:
		return fmt.Errorf("loadgen: client must be %q or %q, got %q", ClientSDK, ClientCollector, c.Client)
	case c.Workers < 1:
		return fmt.Errorf("loadgen: workers must be at least 1, got %d", c.Workers)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("loadgen: rate must be a finite number of traces per second >= 0, got %v", c.Rate)
	case c.SpansPerTrace < 1:
		return fmt.Errorf("loadgen: spans per trace must be at least 1, got %d", c.SpansPerTrace)
	case c.AttributesPerSpan < 0:
		return fmt.Errorf("loadgen: attributes per span must be >= 0, got %d", c.AttributesPerSpan)
	case c.BatchTraces < 1:
		return fmt.Errorf("loadgen: batch traces must be at least 1, got %d", c.BatchTraces)
	case c.BatchTraces > maxSpansPerRequest/c.SpansPerTrace:
		return fmt.Errorf("loadgen: batch traces × spans per trace must be at most %d, got %d × %d", maxSpansPerRequest, c.BatchTraces, c.SpansPerTrace)
	case c.Services < 1:
		return fmt.Errorf("loadgen: services must be at least 1, got %d", c.Services)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("loadgen: request timeout must be positive, got %v", c.RequestTimeout)
	case c.Traces < 0:
		return fmt.Errorf("loadgen: traces must be >= 0, got %d", c.Traces)
	}
	return nil
}
