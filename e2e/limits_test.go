package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/loadgen"
)

// getAs sends a GET as tenant and returns the status and body.
func getAs(t *testing.T, addr, tenant, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Scope-OrgID", tenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// writeOverrides replaces the overrides file at once.
func writeOverrides(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// TestLimitsOverrides runs spanlog with a per-tenant overrides file and
// changes it while it runs: a tenant's limit applies to that tenant alone,
// a change applies without a restart, and a bad file leaves the last good
// overrides in force and is counted.
func TestLimitsOverrides(t *testing.T) {
	path := filepath.Join(t.TempDir(), "overrides.yaml")
	writeOverrides(t, path, "overrides:\n  team-a:\n    max-response-bytes: 200\n")
	n := newNode(t, "-tenants.multitenancy-enabled=true", "-limits.overrides-file="+path, "-limits.overrides-period=100ms")
	n.start(t)
	a := sendAs(t, n.OTLPGRPC, "team-a")
	b := sendAs(t, n.OTLPGRPC, "team-b")
	var idA, idB string
	for id := range a.Acked {
		idA = id.String()
		break
	}
	for id := range b.Acked {
		idB = id.String()
		break
	}

	status, body := getAs(t, n.HTTP, "team-a", "/api/traces/"+idA)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "over max-response-bytes 200 of tenant team-a") {
		t.Fatalf("team-a's trace: %d %s, want 422 naming the limit", status, body)
	}
	if status, body := getAs(t, n.HTTP, "team-b", "/api/traces/"+idB); status != http.StatusOK {
		t.Fatalf("team-b's trace: %d %s", status, body)
	}
	now := time.Now().Unix()
	week := fmt.Sprintf("/api/search?start=%d&end=%d", now-8*24*3600, now)
	if status, body := getAs(t, n.HTTP, "team-b", week); status != http.StatusBadRequest ||
		!strings.Contains(body, "max-search-duration 168h0m0s of tenant team-b") {
		t.Fatalf("search over 8 days: %d %s, want 400 naming the default window", status, body)
	}

	writeOverrides(t, path, "overrides:\n  team-a:\n    max-response-bytes: lots\n")
	waitFor(t, 30*time.Second, "the bad file to be counted", func() bool {
		return metric(t, n.HTTP, `spanlog_limits_overrides_reloads_total{result="failure"}`) > 0
	})
	if status, _ := getAs(t, n.HTTP, "team-a", "/api/traces/"+idA); status != http.StatusUnprocessableEntity {
		t.Fatalf("after a bad file: %d, want the last good overrides' 422", status)
	}

	writeOverrides(t, path, "overrides:\n  team-a:\n    max-response-bytes: 0\n  team-b:\n    max-search-duration: 720h\n")
	waitFor(t, 30*time.Second, "the new overrides to apply", func() bool {
		status, _ := getAs(t, n.HTTP, "team-a", "/api/traces/"+idA)
		return status == http.StatusOK
	})
	if status, body := getAs(t, n.HTTP, "team-b", week); status != http.StatusOK {
		t.Fatalf("search over 8 days with a 720h window: %d %s", status, body)
	}
}

// sendAs sends a few traces for tenant and returns what was acked.
func sendAs(t *testing.T, endpoint, tenant string) *loadgen.Result {
	t.Helper()
	cfg := loadgen.DefaultConfig()
	cfg.Endpoint, cfg.Tenant = endpoint, tenant
	cfg.Rate, cfg.Workers, cfg.BatchTraces = 20, 1, 5
	return sendFor(t, cfg, 500*time.Millisecond)
}
