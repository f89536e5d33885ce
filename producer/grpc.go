package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/spanlog/spanlog/tenant"
)

// The OTLP/gRPC trace service, served on messages as bytes.
//
// pdata's own service decodes a request in the gRPC codec, before any
// handler runs, and a codec's error reaches the client as Internal. The
// distributor must look at the bytes first (checkProtoDepth) and answer
// InvalidArgument, so its server speaks the same protocol with a codec that
// hands it the bytes, and decodes them itself.

const (
	traceServiceName = "opentelemetry.proto.collector.trace.v1.TraceService"
	exportMethod     = "/" + traceServiceName + "/Export"
)

// wireMessage is a gRPC message as it is on the wire, after decompression.
type wireMessage []byte

// wireCodec is the gRPC server's codec: it passes wireMessages through, and
// nothing else.
type wireCodec struct{}

func (wireCodec) Name() string { return "proto" }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(wireMessage)
	if !ok {
		return nil, fmt.Errorf("marshal %T: only protobuf bytes are sent", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(m)}, nil
}

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*wireMessage)
	if !ok {
		return fmt.Errorf("unmarshal into %T: only protobuf bytes are received", v)
	}
	// A copy: gRPC reuses its buffers once the handler returns.
	*m = data.Materialize()
	return nil
}

// traceExporter is what serves OTLP's TraceService.
type traceExporter interface {
	export(context.Context, wireMessage) (wireMessage, error)
}

// registerTraceService makes srv serve OTLP's TraceService with r.
func registerTraceService(srv *grpc.Server, r *grpcReceiver) {
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: traceServiceName,
		HandlerType: (*traceExporter)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			// The server has no interceptors to call.
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var in wireMessage
				if err := dec(&in); err != nil {
					return nil, err
				}
				return r.export(ctx, in)
			},
		}},
		Metadata: "opentelemetry/proto/collector/trace/v1/trace_service.proto",
	}, r)
}

// grpcReceiver is the OTLP/gRPC trace service.
type grpcReceiver struct {
	d *Distributor
}

func (r *grpcReceiver) export(ctx context.Context, body wireMessage) (resp wireMessage, err error) {
	defer func(start time.Time) {
		r.d.metrics.observeRequest("grpc", status.Code(err).String(), start)
	}(time.Now())
	t, err := r.d.tenants.Write(tenant.HeaderValue(metadata.ValueFromIncomingContext(ctx, tenant.Header)))
	var warning string
	if err == nil {
		warning, err = r.d.pushBody(ctx, t, body, false)
	}
	if err != nil {
		return nil, grpcStatus(err).Err()
	}
	resp, err = exportResponse(warning).MarshalProto()
	if err != nil {
		return nil, grpcStatus(err).Err()
	}
	return resp, nil
}

// grpcStatus maps an error of the write path to its gRPC status: the one
// place that decides gRPC codes. OTLP clients retry Unavailable, and
// ResourceExhausted when it carries a google.rpc.RetryInfo (a rate limit,
// not a request too large), and give up on the others; they wait at least
// the RetryInfo's delay before the retry (the OTLP specification asks them
// to; the Go SDK and the Collector's OTLP exporter do).
func grpcStatus(err error) *status.Status {
	code := codes.Internal
	switch {
	case errors.Is(err, tenant.ErrMissing):
		code = codes.Unauthenticated
	case errors.Is(err, tenant.ErrInvalid), errors.Is(err, errUndecodable), isType[*AttributeTooDeepError](err),
		isType[*InvalidSpanError](err), isType[*TraceTooLargeError](err):
		code = codes.InvalidArgument
	case isType[*RequestTooLargeError](err), isType[*RateLimitedError](err):
		code = codes.ResourceExhausted
	case isType[*UnavailableError](err):
		code = codes.Unavailable
	}
	st := status.New(code, err.Error())
	if d := retryAfter(err); d > 0 {
		// WithDetails fails only for code OK, which an error never gets.
		if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)}); err == nil {
			st = withInfo
		}
	}
	return st
}
