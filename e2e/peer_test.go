package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPeerEndpointIsNotOnTheAPIPort checks, on the real binary with
// multi-tenancy on, that the endpoint queriers ask each other's live tails
// on, which takes its tenants from the request body, answers only on the
// internal listener: on the query API's port, where it used to be, anyone
// could read any tenant's live spans with it, whatever X-Scope-OrgID said.
// It also checks that a query nested far too deep is refused with a 400,
// where it used to overflow the parser's stack and take the whole process
// down.
func TestPeerEndpointIsNotOnTheAPIPort(t *testing.T) {
	n := newNode(t, "-tenants.multitenancy-enabled=true")
	p := n.start(t)
	a := &tenantData{name: "team-a"}
	a.sent = sendTracesAs(t, "grpc", n.OTLPGRPC, a.service(), 1, a.name)

	live := `{"kind": "spans", "tenants": ["team-a"], "partitions": [0, 1, 2, 3], "traceIDs": ["` + a.ids()[0] + `"]}`
	post := func(addr string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("POST", "http://"+addr+"/internal/live", strings.NewReader(live))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(orgID, "team-b")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := post(n.HTTP); status != http.StatusNotFound {
		t.Errorf("POST /internal/live on the API port: %d %.200s, want 404", status, body)
	}
	if status, body := post(n.Internal); status != http.StatusOK {
		t.Errorf("POST /internal/live on the internal port: %d %.200s, want 200", status, body)
	}

	// Unescaped, so that the URL stays under the server's 1 MiB limit of
	// a request's headers.
	req, err := http.NewRequest("GET", "http://"+n.HTTP+"/api/search?q="+strings.Repeat("(", 900_000), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(orgID, "team-a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("search nested 900,000 deep: %v\n%s", err, p.log.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "over the limit") {
		t.Errorf("search nested 900,000 deep: %d %.200s, want 400", resp.StatusCode, body)
	}
	p.waitReady(t)
}
