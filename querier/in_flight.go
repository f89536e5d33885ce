package querier

import (
	"fmt"
	"sync"

	"github.com/spanlog/spanlog/limits"
)

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
			return nil, fmt.Errorf("%w: tenant %s has %d queries in flight, its max-concurrent-queries", ErrTooManyQueries, t, limit)
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
