package loadgen

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// benchConfig is the shape of make bench-ingest's requests.
func benchConfig() Config {
	cfg := DefaultConfig()
	cfg.BatchTraces, cfg.SpansPerTrace, cfg.Services = 20, 10, 10
	return cfg
}

// BenchmarkBatch shows what laying out the spans costs the generator,
// before either client turns them into a request.
func BenchmarkBatch(b *testing.B) {
	cfg := benchConfig()
	tb := newTraceBuilder(cfg, newServices(cfg.Services), 1, 0)
	end := time.Now()
	var out batch
	b.ReportAllocs()
	for b.Loop() {
		tb.fill(&out, cfg.BatchTraces, end)
	}
	reportPerSpan(b, cfg)
}

// BenchmarkRequest is what one request costs the generator up to its
// bytes on the wire, by client: laying out the spans, turning them into
// the client's form, encoding them. Sending is left out, the same for both.
func BenchmarkRequest(b *testing.B) {
	cfg := benchConfig()
	services := newServices(cfg.Services)
	end := time.Now()

	b.Run(ClientSDK, func(b *testing.B) {
		tb := newTraceBuilder(cfg, services, 1, 0)
		stubs := newStubBuilder(services)
		// The SDK's exporter hands its OTLP form to a client, which
		// marshals it as both of the SDK's clients do.
		var size int
		exp := otlptrace.NewUnstarted(marshalClient{size: &size})
		var out batch
		b.ReportAllocs()
		for b.Loop() {
			tb.fill(&out, cfg.BatchTraces, end)
			if err := exp.ExportSpans(b.Context(), stubs.spans(&out)); err != nil {
				b.Fatal(err)
			}
		}
		reportPerSpan(b, cfg)
		b.ReportMetric(float64(size)/float64(len(out.spans)), "B/span-on-wire")
	})
	b.Run(ClientCollector, func(b *testing.B) {
		tb := newTraceBuilder(cfg, services, 1, 0)
		traces := newPdataBuilder(services)
		var size int
		var out batch
		b.ReportAllocs()
		for b.Loop() {
			tb.fill(&out, cfg.BatchTraces, end)
			body, err := ptraceotlp.NewExportRequestFromTraces(traces.build(&out)).MarshalProto()
			if err != nil {
				b.Fatal(err)
			}
			size = len(body)
		}
		reportPerSpan(b, cfg)
		b.ReportMetric(float64(size)/float64(len(out.spans)), "B/span-on-wire")
	})
}

func reportPerSpan(b *testing.B, cfg Config) {
	spans := float64(b.N * cfg.BatchTraces * cfg.SpansPerTrace)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/spans, "ns/span")
}

// marshalClient is an SDK exporter client that marshals each request and
// sends it nowhere.
type marshalClient struct{ size *int }

func (marshalClient) Start(context.Context) error { return nil }
func (marshalClient) Stop(context.Context) error  { return nil }

func (c marshalClient) UploadTraces(_ context.Context, spans []*tracepb.ResourceSpans) error {
	body, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: spans})
	*c.size = len(body)
	return err
}
