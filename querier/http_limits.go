package querier

import (
	"errors"
	"fmt"
	"time"

	"github.com/spanlog/spanlog/limits"
)

// The per-tenant query limits are kept here, at the edge: a request over
// one is refused before any reading starts, or its answer before any of it
// is sent. A request over several tenants (a|b) keeps the strictest limit
// of any of them.

// errResponseTooLarge marks an answer over the tenant's max-response-bytes.
var errResponseTooLarge = errors.New("response too large")

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
