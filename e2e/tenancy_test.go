package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/loadgen"
)

// sendAs sends a few traces for tenant and returns what was acked.
func sendAs(t *testing.T, endpoint, tenant string) *loadgen.Result {
	t.Helper()
	cfg := loadgen.DefaultConfig()
	cfg.Endpoint, cfg.Tenant = endpoint, tenant
	cfg.Rate, cfg.Workers, cfg.BatchTraces = 20, 1, 5
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.AckedSpans == 0 || res.FailedRequests > 0 {
		t.Fatalf("tenant %s: acked %d, failed %d requests: %v", tenant, res.AckedSpans, res.FailedRequests, res.Errors)
	}
	return res
}

// TestTenantsStayApart writes as two tenants with multi-tenancy on and
// tries to read each tenant's traces every way the API allows: only the
// owner (alone or in a|b) may see them, and a request without a tenant is
// refused.
func TestTenantsStayApart(t *testing.T) {
	n := newNode(t, "-tenants.multitenancy-enabled=true")
	n.start(t)

	// Writes without a tenant are refused.
	noTenant := loadgen.DefaultConfig()
	noTenant.Endpoint, noTenant.Workers, noTenant.Rate = n.OTLPGRPC, 1, 0
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	res, err := loadgen.Run(ctx, noTenant)
	cancel()
	if err != nil || res.AckedSpans != 0 || res.Errors["grpc Unauthenticated"] == 0 {
		t.Fatalf("write without tenant: acked %d, errors %v, %v", res.AckedSpans, res.Errors, err)
	}

	a := sendAs(t, n.OTLPGRPC, "team-a")
	b := sendAs(t, n.OTLPGRPC, "team-b")

	check := func(when string) {
		for owner, res := range map[string]*loadgen.Result{"team-a": a, "team-b": b} {
			other := map[string]string{"team-a": "team-b", "team-b": "team-a"}[owner]
			checked := 0
			for id, spans := range res.Acked {
				if checked++; checked > 5 {
					break
				}
				for _, api := range []string{"v1", "v2"} {
					want := map[string]int{
						owner:                  http.StatusOK,
						other:                  http.StatusNotFound,
						owner + "|" + other:    http.StatusOK,
						other + "|nobody":      http.StatusNotFound,
						"":                     http.StatusUnauthorized,
						"../" + owner:          http.StatusBadRequest,
						owner + "/../" + other: http.StatusBadRequest,
					}
					for header, status := range want {
						got, td := getTraceAs(t, n.HTTP, id.String(), api, header)
						if got != status {
							t.Fatalf("%s: %s trace of %s read as %q: status %d, want %d", when, api, owner, header, got, status)
						}
						if got == http.StatusOK && td.SpanCount() != len(spans) {
							t.Fatalf("%s: %s trace of %s read as %q: %d spans, want %d", when, api, owner, header, td.SpanCount(), len(spans))
						}
					}
				}
			}
		}
	}
	check("live tail")
	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, n.HTTP, "spanlog_block_builder_blocks_flushed_total") >= 2 &&
			metric(t, n.HTTP, "spanlog_querier_live_records") == 0
	})
	check("blocks")
}
