package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/api"
	"github.com/spanlog/spanlog/tenant"
)

// statusOf returns a query's error as the gRPC status a client gets: the
// one place errors become codes, as httpStatus is for HTTP.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	return status.Error(code(err), err.Error())
}

func code(err error) codes.Code {
	switch {
	case errors.Is(err, api.ErrClientClosed), errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, api.ErrQueryTimeout), errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, tenant.ErrMissing):
		return codes.Unauthenticated
	case errors.Is(err, tenant.ErrInvalid), errors.Is(err, querier.ErrBadRequest):
		return codes.InvalidArgument
	case errors.Is(err, querier.ErrTooManyQueries),
		errors.Is(err, querier.ErrResponseTooLarge), errors.Is(err, querier.ErrPeerResponseTooLarge):
		return codes.ResourceExhausted
	case errors.Is(err, querier.ErrNotReady), errors.Is(err, querier.ErrStopping), errors.Is(err, querier.ErrBlocksBehind):
		return codes.Unavailable
	}
	// A failed Send carries the status of what ended the stream.
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return s.Code()
	}
	return codes.Internal
}
