package producer

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/spanlog/spanlog/limits"
)

// TestTenantRates checks the token buckets on a clock of the test's own.
func TestTenantRates(t *testing.T) {
	lim := limits.Limits{IngestionRateBytes: 1000, IngestionBurstBytes: 5000}
	now := time.Unix(1_800_000_000, 0)
	r := newTenantRates()

	if res, err := r.reserve("a", limits.Limits{}, 1<<30, now); res != nil || err != nil {
		t.Fatalf("without a rate: %v, %v; want nothing reserved, no error", res, err)
	}
	if _, err := r.reserve("a", lim, 5000, now); err != nil {
		t.Fatalf("a whole burst: %v", err)
	}
	_, err := r.reserve("a", lim, 500, now)
	limited, ok := errors.AsType[*RateLimitedError](err)
	if !ok || limited.RetryAfter != 500*time.Millisecond || limited.Tenant != "a" {
		t.Fatalf("over the burst: %v; want a RateLimitedError for a with 500ms to wait", err)
	}
	if _, err := r.reserve("b", lim, 5000, now); err != nil {
		t.Errorf("another tenant: %v", err)
	}
	if _, err := r.reserve("a", lim, 500, now.Add(500*time.Millisecond)); err != nil {
		t.Errorf("after the wait it said: %v", err)
	}

	// A request that failed before its ack gives its bytes back.
	later := now.Add(time.Hour)
	res, err := r.reserve("a", lim, 5000, later)
	if err != nil {
		t.Fatal(err)
	}
	res.CancelAt(later)
	if _, err := r.reserve("a", lim, 5000, later); err != nil {
		t.Errorf("after a cancelled reservation: %v", err)
	}

	// Never: the burst cannot hold it.
	_, err = r.reserve("a", lim, 5001, later.Add(time.Hour))
	if tooLarge, ok := errors.AsType[*RequestTooLargeError](err); !ok || tooLarge.Setting != "ingestion-burst-bytes" {
		t.Errorf("over the burst: %v; want a RequestTooLargeError naming ingestion-burst-bytes", err)
	}

	// New limits, from an overrides file, apply to the bucket at once.
	faster := limits.Limits{IngestionRateBytes: 1_000_000, IngestionBurstBytes: 5000}
	evenLater := later.Add(time.Hour)
	if _, err := r.reserve("a", faster, 5000, evenLater); err != nil {
		t.Fatal(err)
	}
	if _, err := r.reserve("a", faster, 5000, evenLater.Add(5*time.Millisecond)); err != nil {
		t.Errorf("at the raised rate: %v", err)
	}
}

// TestTenantRatesPrune checks that buckets of tenants gone quiet do not
// pile up when clients make up tenant IDs.
func TestTenantRatesPrune(t *testing.T) {
	lim := limits.Limits{IngestionRateBytes: 1000, IngestionBurstBytes: 1000}
	now := time.Unix(1_800_000_000, 0)
	r := newTenantRates()
	for i := range 100 * minPruneAt {
		// Each tenant's bucket is full again a second later.
		at := now.Add(time.Duration(i) * time.Second)
		if _, err := r.reserve(fmt.Sprint("tenant-", i), lim, 1000, at); err != nil {
			t.Fatal(err)
		}
		if n := len(r.buckets); n > 2*minPruneAt {
			t.Fatalf("%d buckets after %d tenants", n, i+1)
		}
	}

	// Buckets that are not full are kept, however many: their tenants
	// would notice.
	r = newTenantRates()
	for i := range 3 * minPruneAt {
		if _, err := r.reserve(fmt.Sprint("tenant-", i), lim, 1000, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(r.buckets); n != 3*minPruneAt {
		t.Errorf("%d buckets of %d tenants that sent their burst", n, 3*minPruneAt)
	}
	if _, err := r.reserve("tenant-0", lim, 1, now); !isType[*RateLimitedError](err) {
		t.Errorf("tenant-0 sent its burst, then 1 byte more: %v", err)
	}
}
