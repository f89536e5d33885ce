package producer

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/spanlog/spanlog/limits"
)

// Limiting each tenant's ingestion rate.
//
// Each distributor keeps a token bucket of bytes per tenant, shaped by the
// tenant's ingestion-rate-bytes and ingestion-burst-bytes: the limit is per
// distributor. A global limit would need the distributors to know how many
// of them there are, or to share counts; they are stateless and know
// nothing of each other, by design, so that any of them can die or be
// added at any time. Behind a load balancer that spreads a tenant's
// requests, N distributors accept up to N times the rate.

// RateLimitedError reports a request over its tenant's ingestion rate.
// Nothing of it is written; the client should retry it after RetryAfter.
type RateLimitedError struct {
	Tenant string
	// RateBytes and BurstBytes are the tenant's limits, Size the
	// request's size as they count it, in bytes (of OTLP protobuf).
	RateBytes, BurstBytes int64
	Size                  int
	// RetryAfter is when the tenant's bucket holds the request's bytes
	// again, if no other request takes them.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("ingestion rate limit of tenant %s reached: %d bytes/s (ingestion-rate-bytes) in bursts of up to %d bytes (ingestion-burst-bytes) per distributor; this request of %d bytes fits again in %v",
		e.Tenant, e.RateBytes, e.BurstBytes, e.Size, e.RetryAfter.Round(time.Millisecond))
}

// minPruneAt is the number of tenants whose buckets are kept before idle
// ones are dropped.
const minPruneAt = 1024

// tenantRates holds the token bucket of each tenant with a rate limit. It
// is safe for concurrent use.
type tenantRates struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	// pruneAt is the number of buckets at which full ones, which are
	// as good as new, are dropped: tenant IDs are the clients' to
	// choose, so the map must not grow with every one ever seen.
	pruneAt int
}

func newTenantRates() *tenantRates {
	return &tenantRates{buckets: make(map[string]*rate.Limiter), pruneAt: minPruneAt}
}

// reserve takes size bytes from tenant's bucket at now, as l shapes it. It
// returns the reservation, to cancel if the request then fails before its
// ack so that a retry is not charged twice; nil when l sets no rate. A
// request the bucket cannot hold now is a *RateLimitedError; one larger
// than the burst, which it could never hold, a *RequestTooLargeError.
func (r *tenantRates) reserve(tenant string, l limits.Limits, size int, now time.Time) (*rate.Reservation, error) {
	if l.IngestionRateBytes <= 0 {
		return nil, nil
	}
	if int64(size) > l.IngestionBurstBytes {
		return nil, &RequestTooLargeError{Size: int64(size), Limit: l.IngestionBurstBytes, Setting: "ingestion-burst-bytes",
			Detail: fmt.Sprintf("%d bytes, more than tenant %s may send at once", size, tenant)}
	}
	res := r.bucket(tenant, l, now).ReserveN(now, size)
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return nil, &RateLimitedError{Tenant: tenant, RateBytes: l.IngestionRateBytes, BurstBytes: l.IngestionBurstBytes,
			Size: size, RetryAfter: wait}
	}
	return res, nil
}

// bucket returns tenant's bucket, made or reshaped to l's current limits.
func (r *tenantRates) bucket(tenant string, l limits.Limits, now time.Time) *rate.Limiter {
	limit, burst := rate.Limit(l.IngestionRateBytes), int(l.IngestionBurstBytes)
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.buckets[tenant]
	if !ok {
		if len(r.buckets) >= r.pruneAt {
			r.prune(now)
		}
		b = rate.NewLimiter(limit, burst)
		r.buckets[tenant] = b
		return b
	}
	if b.Limit() != limit {
		b.SetLimitAt(now, limit)
	}
	if b.Burst() != burst {
		b.SetBurstAt(now, burst)
	}
	return b
}

// prune drops the buckets that are full: a new one starts full, so no
// tenant notices. Pruning again waits until the map has doubled, which
// keeps its cost to a constant per tenant added.
func (r *tenantRates) prune(now time.Time) {
	for t, b := range r.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(r.buckets, t)
		}
	}
	r.pruneAt = max(minPruneAt, 2*len(r.buckets))
}
