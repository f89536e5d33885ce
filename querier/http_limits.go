package querier

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/spanlog/spanlog/limits"
)

// The per-tenant query limits are kept here, at the edge: a request over
// one is refused before any reading starts, or its answer before any of it
// is sent. A request over several tenants (a|b) keeps the strictest limit
// of any of them.

// errResponseTooLarge marks an answer over the tenant's max-response-bytes.
var errResponseTooLarge = errors.New("response too large")

// errTooManyQueries marks a request refused because one of its tenants has
// max-concurrent-queries in flight; the client is told to retry.
var errTooManyQueries = errors.New("too many outstanding requests")

// queryRetryAfter is the retry hint of a request refused for concurrency:
// a query usually takes less.
const queryRetryAfter = "1"

// inFlight counts each tenant's query requests in flight on this querier.
// Its zero value counts none.
type inFlight struct {
	mu       sync.Mutex
	byTenant map[string]int
}

// acquire counts a query of each of tenants, or of none if one of them
// already has its max-concurrent-queries in flight. The request is then
// refused at once rather than queued: waiting would hold its connection
// and answer it no sooner, and the client can back off as it chooses.
func (f *inFlight) acquire(lim *limits.Overrides, tenants []string) (release func(), err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range tenants {
		if limit := lim.For(t).MaxConcurrentQueries; limit > 0 && f.byTenant[t] >= limit {
			return nil, fmt.Errorf("%w: tenant %s has %d queries in flight, its max-concurrent-queries", errTooManyQueries, t, limit)
		}
	}
	if f.byTenant == nil {
		f.byTenant = make(map[string]int)
	}
	for _, t := range tenants {
		f.byTenant[t]++
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, t := range tenants {
			if f.byTenant[t]--; f.byTenant[t] == 0 {
				delete(f.byTenant, t)
			}
		}
	}, nil
}

// limited serves h within the max-concurrent-queries of the request's
// tenants.
func (q *Querier) limited(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tenants, err := q.readTenants(r)
		if err != nil {
			return err
		}
		release, err := q.queries.acquire(q.limits, tenants)
		if err != nil {
			return err
		}
		defer release()
		return h(w, r)
	}
}

// searchWindow returns tr within the tenants' max-search-duration: a range
// with neither start nor end becomes the most recent window of that
// length, one with only an end the window ending there; a range longer
// than the limit is a bad request that names it.
func (q *Querier) searchWindow(tenants []string, tr TimeRange) (TimeRange, error) {
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

// responseLimit is the largest answer a request may get.
type responseLimit struct {
	maxBytes int64 // 0: no limit
	tenant   string
}

func (q *Querier) responseLimit(tenants []string) responseLimit {
	n, from := limits.Strictest(q.limits, tenants, func(l limits.Limits) int64 { return l.MaxResponseBytes })
	return responseLimit{maxBytes: n, tenant: from}
}

// check returns an error when an answer of size bytes is over the limit.
func (l responseLimit) check(size int) error {
	if l.maxBytes > 0 && int64(size) > l.maxBytes {
		return fmt.Errorf("%w: %d bytes, over max-response-bytes %d of tenant %s", errResponseTooLarge, size, l.maxBytes, l.tenant)
	}
	return nil
}
