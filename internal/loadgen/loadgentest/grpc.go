package loadgentest

import (
	"context"
	"net"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// NewGRPC starts an OTLP/gRPC receiver, stopped when the test ends.
func NewGRPC(t testing.TB, opts Options) *Receiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	r := &Receiver{Endpoint: lis.Addr().String(), opts: opts}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, &grpcReceiver{r: r})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return r
}

type grpcReceiver struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

func (g *grpcReceiver) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	i := g.r.receive(strings.Join(md.Get("x-scope-orgid"), ","), req.Traces())
	reply := g.r.answer(ctx, i)
	resp := ptraceotlp.NewExportResponse()
	switch {
	case ctx.Err() != nil:
		return resp, status.FromContextError(ctx.Err()).Err()
	case reply == ReplyFailed:
		return resp, status.Error(codes.Unavailable, "loadgentest: failing this request on purpose")
	case reply == ReplyPartial:
		resp.PartialSuccess().SetRejectedSpans(1)
		resp.PartialSuccess().SetErrorMessage("loadgentest: rejecting one span on purpose")
	}
	return resp, nil
}
