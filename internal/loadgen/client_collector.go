package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// The collector client builds each request as the Collector's pdata and
// sends it as the Collector's OTLP exporters do: over a ptraceotlp gRPC
// client, or as protobuf POSTed to /v1/traces. Both marshal with pdata's
// generated code rather than through reflection, the bulk of what the
// SDK's exporter costs per span.

func newCollectorClient(cfg Config, services []service) (client, error) {
	traces := newPdataBuilder(services)
	if cfg.Protocol == ProtocolHTTP {
		transport := newHTTPTransport()
		return &collectorHTTP{
			traces:    traces,
			url:       "http://" + cfg.Endpoint + "/v1/traces",
			tenant:    cfg.Tenant,
			transport: transport,
			http: &http.Client{
				Transport: outcomeTransport{next: transport},
				Timeout:   cfg.RequestTimeout,
			},
		}, nil
	}
	opts := append(grpcDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient(cfg.Endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("start grpc client: %w", err)
	}
	c := &collectorGRPC{
		traces:  traces,
		conn:    conn,
		otlp:    ptraceotlp.NewGRPCClient(conn),
		timeout: cfg.RequestTimeout,
	}
	if cfg.Tenant != "" {
		c.md = metadata.Pairs(TenantHeader, cfg.Tenant)
	}
	return c, nil
}

type collectorGRPC struct {
	traces  pdataBuilder
	conn    *grpc.ClientConn
	otlp    ptraceotlp.GRPCClient
	md      metadata.MD // nil without a tenant
	timeout time.Duration
}

func (c *collectorGRPC) export(ctx context.Context, b *batch) string {
	req := ptraceotlp.NewExportRequestFromTraces(c.traces.build(b))
	ctx, o := withOutcome(ctx)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, c.md)
	}
	resp, err := c.otlp.Export(ctx, req)
	if err == nil {
		err = partialSuccess(resp.PartialSuccess())
	}
	if err == nil {
		return ""
	}
	return classify(ProtocolGRPC, err, o)
}

func (c *collectorGRPC) shutdown(context.Context) error { return c.conn.Close() }

type collectorHTTP struct {
	traces    pdataBuilder
	url       string
	tenant    string
	http      *http.Client
	transport *http.Transport
}

// maxAnswerBytes bounds the answer read: an OTLP answer is a partial
// success at most.
const maxAnswerBytes = 64 << 10

const protobufContentType = "application/x-protobuf"

func (c *collectorHTTP) export(ctx context.Context, b *batch) string {
	// The body is not reused: the transport may read it after Do returns.
	body, err := ptraceotlp.NewExportRequestFromTraces(c.traces.build(b)).MarshalProto()
	ctx, o := withOutcome(ctx)
	if err == nil {
		err = c.post(ctx, body)
	}
	if err == nil {
		return ""
	}
	return classify(ProtocolHTTP, err, o)
}

func (c *collectorHTTP) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", protobufContentType)
	if c.tenant != "" {
		req.Header.Set(TenantHeader, c.tenant)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answer %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	if len(data) == 0 || resp.Header.Get("Content-Type") != protobufContentType {
		return nil
	}
	answer := ptraceotlp.NewExportResponse()
	if err := answer.UnmarshalProto(data); err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	return partialSuccess(answer.PartialSuccess())
}

func (c *collectorHTTP) shutdown(context.Context) error {
	c.transport.CloseIdleConnections()
	return nil
}

// partialSuccess is the error of an answer that rejected part of the
// request, nil for one that took all of it.
func partialSuccess(p ptraceotlp.ExportPartialSuccess) error {
	if p.RejectedSpans() == 0 && p.ErrorMessage() == "" {
		return nil
	}
	return fmt.Errorf("partial success: %d spans rejected: %s", p.RejectedSpans(), p.ErrorMessage())
}

// pdataBuilder turns a batch's spans into the Collector's pdata: one
// ResourceSpans per service, in the order the services first appear, with
// the spans in the batch's order, as the SDK's exporter groups them.
type pdataBuilder struct {
	services  []service
	resources [][]attribute.KeyValue
	byService []ptrace.SpanSlice
	// counts is the number of the batch's spans of each service.
	counts []int
}

func newPdataBuilder(services []service) pdataBuilder {
	pb := pdataBuilder{
		services:  services,
		resources: make([][]attribute.KeyValue, len(services)),
		byService: make([]ptrace.SpanSlice, len(services)),
		counts:    make([]int, len(services)),
	}
	for i, s := range services {
		pb.resources[i] = s.resource.Attributes()
	}
	return pb
}

// spanFlags are the flags the SDK's exporter sends: sampled, and a parent
// known to be local.
const spanFlags = uint32(trace.FlagsSampled) | uint32(1<<8)

func (pb *pdataBuilder) build(b *batch) ptrace.Traces {
	td := ptrace.NewTraces()
	clear(pb.counts)
	for i := range b.spans {
		pb.counts[b.spans[i].service]++
	}
	for i := range b.spans {
		s := &b.spans[i]
		if n := pb.counts[s.service]; n > 0 {
			// The service's first span: its resource and room for all.
			pb.counts[s.service] = 0
			pb.byService[s.service] = pb.appendResource(td.ResourceSpans(), s.service)
			pb.byService[s.service].EnsureCapacity(n)
		}
		pb.fill(pb.byService[s.service].AppendEmpty(), s)
	}
	return td
}

func (pb *pdataBuilder) appendResource(rss ptrace.ResourceSpansSlice, service int) ptrace.SpanSlice {
	rs := rss.AppendEmpty()
	rs.SetSchemaUrl(pb.services[service].resource.SchemaURL())
	putAttributes(rs.Resource().Attributes(), pb.resources[service])
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scopeName)
	return ss.Spans()
}

func (pb *pdataBuilder) fill(ps ptrace.Span, s *span) {
	ps.SetTraceID(pcommon.TraceID(s.traceID))
	ps.SetSpanID(pcommon.SpanID(s.id))
	if s.parent.IsValid() {
		ps.SetParentSpanID(pcommon.SpanID(s.parent))
	}
	ps.SetFlags(spanFlags)
	ps.SetName(s.name)
	ps.SetKind(spanKind(s.kind))
	ps.SetStartTimestamp(pcommon.NewTimestampFromTime(s.start))
	ps.SetEndTimestamp(pcommon.NewTimestampFromTime(s.end))
	putAttributes(ps.Attributes(), s.attrs)
	switch s.status {
	case codes.Error:
		ps.Status().SetCode(ptrace.StatusCodeError)
	case codes.Ok:
		ps.Status().SetCode(ptrace.StatusCodeOk)
	}
	ps.Status().SetMessage(s.statusMessage)
	if s.event.name != "" {
		e := ps.Events().AppendEmpty()
		e.SetName(s.event.name)
		e.SetTimestamp(pcommon.NewTimestampFromTime(s.event.time))
		putAttributes(e.Attributes(), s.event.attrs)
	}
}

func spanKind(k trace.SpanKind) ptrace.SpanKind {
	switch k {
	case trace.SpanKindInternal:
		return ptrace.SpanKindInternal
	case trace.SpanKindServer:
		return ptrace.SpanKindServer
	case trace.SpanKindClient:
		return ptrace.SpanKindClient
	case trace.SpanKindProducer:
		return ptrace.SpanKindProducer
	case trace.SpanKindConsumer:
		return ptrace.SpanKindConsumer
	default:
		return ptrace.SpanKindUnspecified
	}
}

// putAttributes puts attributes of the types the trace builder makes.
func putAttributes(m pcommon.Map, kvs []attribute.KeyValue) {
	m.EnsureCapacity(len(kvs))
	for _, kv := range kvs {
		k := string(kv.Key)
		switch kv.Value.Type() {
		case attribute.STRING:
			m.PutStr(k, kv.Value.AsString())
		case attribute.INT64:
			m.PutInt(k, kv.Value.AsInt64())
		case attribute.FLOAT64:
			m.PutDouble(k, kv.Value.AsFloat64())
		case attribute.BOOL:
			m.PutBool(k, kv.Value.AsBool())
		default:
			panic(errors.New("loadgen: attribute " + k + " of type " + kv.Value.Type().String()))
		}
	}
}
