package producer

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/spanlog/spanlog/tenant"
)

// grpcReceiver is the OTLP/gRPC trace service.
type grpcReceiver struct {
	ptraceotlp.UnimplementedGRPCServer
	d *Distributor
}

func (r *grpcReceiver) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	t, err := r.d.tenants.Write(tenant.HeaderValue(metadata.ValueFromIncomingContext(ctx, tenant.Header)))
	if err == nil {
		err = r.d.Push(ctx, t, req.Traces())
	}
	if err != nil {
		return ptraceotlp.NewExportResponse(), grpcStatus(err).Err()
	}
	return ptraceotlp.NewExportResponse(), nil
}

// grpcStatus maps an error of the write path to its gRPC status: the one
// place that decides gRPC codes. OTLP clients retry Unavailable and give up
// on the others; they wait at least a google.rpc.RetryInfo's delay before
// the retry (the OTLP specification asks them to; the Go SDK and the
// Collector's OTLP exporter do).
func grpcStatus(err error) *status.Status {
	code := codes.Internal
	switch {
	case errors.Is(err, tenant.ErrMissing):
		code = codes.Unauthenticated
	case errors.Is(err, tenant.ErrInvalid), isType[*InvalidSpanError](err), isType[*TraceTooLargeError](err):
		code = codes.InvalidArgument
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
