package loadgen

import (
	"context"
	"errors"
	"net"
	"strconv"

	"google.golang.org/grpc/codes"
)

// outcome is what the transport saw of one export request. The exporter's
// error is a string for HTTP statuses and hides partial successes behind an
// internal type, so the transport writes down what came back in a value the
// request's context points to. A request runs on its worker's goroutine, so
// nothing else touches it meanwhile.
type outcome struct {
	// sent is set once the request was handed to the connection.
	sent bool
	// answered is set once an HTTP response arrived.
	answered   bool
	httpStatus int
	grpcCode   codes.Code
}

type outcomeKey struct{}

func withOutcome(ctx context.Context) (context.Context, *outcome) {
	o := &outcome{}
	return context.WithValue(ctx, outcomeKey{}, o), o
}

func outcomeFrom(ctx context.Context) *outcome {
	o, _ := ctx.Value(outcomeKey{}).(*outcome)
	return o
}

// classify names the failure of a request the exporter reported err for.
func classify(protocol string, err error, o *outcome) string {
	switch {
	case !o.sent:
		return protocol + " not sent"
	case protocol == ProtocolGRPC && o.grpcCode != codes.OK:
		return "grpc " + o.grpcCode.String()
	case protocol == ProtocolHTTP && o.answered && (o.httpStatus < 200 || o.httpStatus > 299):
		return "http " + strconv.Itoa(o.httpStatus)
	case protocol == ProtocolHTTP && isTimeout(err):
		return "http timeout"
	case protocol == ProtocolHTTP && !o.answered:
		return "http no response"
	default:
		// The endpoint said OK and still the exporter failed: it rejected
		// part of the request (a partial success), or its answer could not
		// be read. Either way not every span is known to be stored.
		return protocol + " OK with error"
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
