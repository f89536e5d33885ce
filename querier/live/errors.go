package live

import (
	"errors"
	"fmt"
)

// ErrNotReady is returned for requests that arrive before this querier
// has joined the log.
var ErrNotReady = errors.New("querier is starting")

// Errors the peer protocol tells apart, on both of its ends.
var (
	// ErrNotOwned is returned for a partition a tail does not hold: the
	// asker learns the owners again.
	ErrNotOwned = errors.New("partition not owned by this querier")
	// ErrResponseTooLarge is returned for an answer over
	// querier.peer-max-response-bytes; asking again will not help.
	ErrResponseTooLarge = errors.New("response too large")
	// ErrBlocksBehind is returned when another querier's tail has dropped
	// records into blocks this querier cannot see yet.
	ErrBlocksBehind = errors.New("blocks another querier trimmed its live tail for are not visible yet")
	// errBadRequest marks errors in what the asker sent.
	errBadRequest = errors.New("bad request")
)

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}
