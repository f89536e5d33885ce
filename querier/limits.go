package querier

import (
	"fmt"
	"time"

	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/tenant"
)

// The per-tenant query limits are kept at the edge, by whatever serves
// the queries (querier/api for HTTP), through the methods here: a request
// over one is refused before any reading starts, or its answer before any
// of it is sent. A request over several tenants (a|b) keeps the strictest
// limit of any of them.

// ReadTenants returns the tenants a query reads, given every value of the
// tenant header (tenant.Header) its request carries: a request with
// several is refused, as on the write path, rather than served for
// whichever came first.
func (q *Querier) ReadTenants(headerValues []string) ([]string, error) {
	return q.tenants.Read(tenant.HeaderValue(headerValues))
}

// Admit counts a query of tenants against each one's
// max-concurrent-queries on this querier, until release is called. It
// returns an error wrapping ErrTooManyQueries, and counts nothing, when
// one of them has its limit in flight.
func (q *Querier) Admit(tenants []string) (release func(), err error) {
	return q.queries.acquire(q.limits, tenants)
}

// SearchWindow returns tr within the tenants' max-search-duration: a range
// with neither start nor end becomes the most recent window of that
// length, one with only an end the window ending there; a range longer
// than the limit is a bad request that names it.
func (q *Querier) SearchWindow(tenants []string, tr TimeRange) (TimeRange, error) {
	limit, from := limits.Strictest(q.limits, tenants, func(l limits.Limits) time.Duration { return l.MaxSearchDuration })
	if limit == 0 {
		return tr, nil
	}
	now := time.Now()
	switch {
	case tr.Start.IsZero() && tr.End.IsZero():
		// The end stays open: spans still arriving are in the window.
		tr.Start = now.Add(-limit)
		return tr, nil
	case tr.Start.IsZero():
		tr.Start = tr.End.Add(-limit)
		return tr, nil
	}
	end := tr.End
	if end.IsZero() {
		end = now
	}
	// End is inclusive to the second: the range asked for is end - start
	// in whole seconds.
	if asked := end.Sub(tr.Start).Truncate(time.Second); asked > limit {
		return tr, badRequest("time range of %s (end - start) is longer than max-search-duration %s of tenant %s", asked, limit, from)
	}
	return tr, nil
}

// ResponseLimit is the largest answer a request may get. Its zero value
// is no limit.
type ResponseLimit struct {
	maxBytes int64 // 0: no limit
	tenant   string
}

// ResponseLimit returns the limit of an answer to tenants: the strictest
// of their max-response-bytes.
func (q *Querier) ResponseLimit(tenants []string) ResponseLimit {
	n, from := limits.Strictest(q.limits, tenants, func(l limits.Limits) int64 { return l.MaxResponseBytes })
	return ResponseLimit{maxBytes: n, tenant: from}
}

// Check returns an error wrapping ErrResponseTooLarge when an answer of
// size bytes is over the limit.
func (l ResponseLimit) Check(size int) error {
	if l.maxBytes > 0 && int64(size) > l.maxBytes {
		return fmt.Errorf("%w: %d bytes, over max-response-bytes %d of tenant %s", ErrResponseTooLarge, size, l.maxBytes, l.tenant)
	}
	return nil
}
