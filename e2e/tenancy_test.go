package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/spanlog/spanlog/internal/loadgen"
)

// tenantData is what one tenant wrote: its traces carry the service
// svc-<name> and the attributes owner.<name> and owned.by.<name>, which no
// other tenant has.
type tenantData struct {
	name string
	sent map[string][]sdktrace.ReadOnlySpan
}

func (d *tenantData) service() string { return "svc-" + d.name }

func (d *tenantData) ids() []string {
	var ids []string
	for id := range d.sent {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// headerVariant is one way a read can name its tenants: the headers it
// sends, as name and value (the name as written on the wire), and either
// the tenants whose data it sees or the status it is refused with.
type headerVariant struct {
	name    string
	headers [][2]string
	status  int
	allowed []string
}

const orgID = "X-Scope-OrgID"

func headerVariants(owner, other string) []headerVariant {
	one := func(v string) [][2]string { return [][2]string{{orgID, v}} }
	long := strings.Repeat("x", 151)
	return []headerVariant{
		{"owner", one(owner), 200, []string{owner}},
		{"other", one(other), 200, []string{other}},
		{"owner|other", one(owner + "|" + other), 200, []string{owner, other}},
		{"other|owner|other", one(other + "|" + owner + "|" + other), 200, []string{owner, other}},
		{"other|nobody", one(other + "|nobody"), 200, []string{other}},
		{"nobody", one("nobody"), 200, nil},
		{"lower-case header name", [][2]string{{"x-scope-orgid", owner}}, 200, []string{owner}},
		{"padded with blanks", one(" \t" + owner + "  "), 200, []string{owner}},
		{"no header", nil, 401, nil},
		{"empty header", one(""), 401, nil},
		{"owner|", one(owner + "|"), 400, nil},
		{"|owner", one("|" + owner), 400, nil},
		{"owner||other", one(owner + "||" + other), 400, nil},
		{"blank inside", one(owner + " | " + other), 400, nil},
		{"parent path", one("../" + owner), 400, nil},
		{"path through the owner", one(owner + "/../" + other), 400, nil},
		{"overlong", one(owner + long), 400, nil},
		{"overlong second", one(other + "|" + owner + long), 400, nil},
		{"two headers", [][2]string{{orgID, owner}, {orgID, other}}, 400, nil},
		{"two headers, one in lower case", [][2]string{{orgID, other}, {"x-scope-orgid", owner}}, 400, nil},
		{"the same header twice", [][2]string{{orgID, owner}, {orgID, owner}}, 400, nil},
	}
}

// request builds a request with headers set exactly as given: a name not
// in canonical form goes on the wire as written.
func request(t *testing.T, method, url string, body []byte, headers [][2]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		req.Header[h[0]] = append(req.Header[h[0]], h[1])
	}
	return req
}

// postOTLP writes one span for a new trace over OTLP/HTTP with headers and
// returns the status and the trace ID.
func postOTLP(t *testing.T, endpoint string, headers [][2]string) (int, string) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "raw-otlp")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	var tid [16]byte
	var sid [8]byte
	rand.Read(tid[:])
	rand.Read(sid[:])
	span.SetTraceID(tid)
	span.SetSpanID(sid)
	span.SetName("raw")
	now := time.Now()
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, http.MethodPost, "http://"+endpoint+"/v1/traces", body, headers)
	req.Header.Set("Content-Type", "application/x-protobuf")
	status, _, err := do(req)
	if err != nil {
		t.Fatal(err)
	}
	return status, span.TraceID().String()
}

// TestTenantsStayApart writes as two tenants with multi-tenancy on and
// reads through every query route, with every way of naming tenants, from
// the live tail and from blocks: each read returns exactly the data of the
// tenants it names, and a read or write that names none, or names them
// badly, is refused.
func TestTenantsStayApart(t *testing.T) {
	n := newNode(t, "-tenants.multitenancy-enabled=true")
	n.start(t)

	// Writes without a tenant are refused, over gRPC and over HTTP.
	noTenant := loadgen.DefaultConfig()
	noTenant.Endpoint, noTenant.Workers, noTenant.Rate = n.OTLPGRPC, 1, 0
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	res, err := loadgen.Run(ctx, noTenant)
	cancel()
	if err != nil || res.AckedSpans != 0 || res.Errors["grpc Unauthenticated"] == 0 {
		t.Fatalf("gRPC write without tenant: acked %d, errors %v, %v", res.AckedSpans, res.Errors, err)
	}
	for _, v := range []struct {
		name    string
		headers [][2]string
		want    int
	}{
		{"no header", nil, http.StatusUnauthorized},
		{"empty header", [][2]string{{orgID, ""}}, http.StatusUnauthorized},
		{"several tenants", [][2]string{{orgID, "team-a|team-b"}}, http.StatusBadRequest},
		{"two headers", [][2]string{{orgID, "team-a"}, {orgID, "team-b"}}, http.StatusBadRequest},
		{"path", [][2]string{{orgID, "../team-a"}}, http.StatusBadRequest},
	} {
		if status, _ := postOTLP(t, n.OTLPHTTP, v.headers); status != v.want {
			t.Errorf("HTTP write with %s: status %d, want %d", v.name, status, v.want)
		}
	}
	// A lower-case header name is the same header.
	status, lowerID := postOTLP(t, n.OTLPHTTP, [][2]string{{"x-scope-orgid", "team-c"}})
	if status != http.StatusOK {
		t.Fatalf("HTTP write with a lower-case header name: status %d", status)
	}

	a := &tenantData{name: "team-a"}
	a.sent = sendTracesAs(t, "grpc", n.OTLPGRPC, a.service(), 6, a.name)
	b := &tenantData{name: "team-b"}
	b.sent = sendTracesAs(t, "http", n.OTLPHTTP, b.service(), 6, b.name)
	tenants := map[string]*tenantData{a.name: a, b.name: b}
	routes := append(readRoutes(n.HTTP, a, b), grpcReadRoutes(n.HTTP, a, b)...)

	check := func(when string) {
		for header, want := range map[string]int{"team-c": 200, "team-a": 404, "team-a|team-b": 404} {
			if got, _ := getTraceAs(t, n.HTTP, lowerID, "v2", header); got != want {
				t.Errorf("%s: team-c's trace read as %s: status %d, want %d", when, header, got, want)
			}
		}
		for _, v := range headerVariants(a.name, b.name) {
			var allowed []*tenantData
			for _, name := range v.allowed {
				allowed = append(allowed, tenants[name])
			}
			for _, r := range routes {
				status, got := r.read(t, v.headers)
				if status != v.status {
					t.Errorf("%s: %s read with %s: status %d, want %d", when, r.name, v.name, status, v.status)
					continue
				}
				if status != http.StatusOK {
					continue
				}
				want := r.want(allowed)
				if v.name == "owner|other" && len(want) == 0 {
					t.Fatalf("%s wants nothing of both tenants: the check proves nothing", r.name)
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s: %s read with %s returned %v, want %v", when, r.name, v.name, got, want)
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
