package querier

import (
	"errors"
	"fmt"

	"github.com/spanlog/spanlog/querier/live"
)

// Errors a query returns, wrapped with what went wrong, that its callers
// tell apart: each protocol the queries are served over maps them to its
// codes in one place (querier/api for HTTP).
var (
	// ErrNotReady is returned for queries that arrive before the querier
	// has joined the log; asking again shortly will help.
	ErrNotReady = live.ErrNotReady
	// ErrBadRequest marks errors in what the client asked for, such as
	// a time range longer than the tenant's max-search-duration.
	ErrBadRequest = errors.New("bad request")
	// ErrTooManyQueries is returned by Admit for a query of a tenant
	// that has max-concurrent-queries in flight; the client should retry.
	ErrTooManyQueries = errors.New("too many outstanding requests")
	// ErrResponseTooLarge is returned by ResponseLimit.Check for an
	// answer over the tenant's max-response-bytes; asking again will not
	// help.
	ErrResponseTooLarge = errors.New("response too large")
	// ErrPeerResponseTooLarge is returned when the live tail another
	// querier holds for the query is over querier.peer-max-response-bytes;
	// asking again will not help.
	ErrPeerResponseTooLarge = live.ErrResponseTooLarge
	// ErrBlocksBehind is returned when another querier's tail has dropped
	// records into blocks this querier cannot see yet; asking again
	// shortly will help.
	ErrBlocksBehind = live.ErrBlocksBehind
	// ErrTooManySeries is returned for a metrics query whose answer has
	// more series than querier.metrics-max-series; asking again will not
	// help, a narrower filter or fewer by() fields will.
	ErrTooManySeries = errors.New("too many series")
	// ErrStopping is returned for blocks asked for, or done opening,
	// after the querier stopped.
	ErrStopping = errors.New("querier is stopping")
)

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}
