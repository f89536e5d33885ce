package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/tenant"
)

// queryRoutes is one request on every query route.
var queryRoutes = []struct{ method, target, body string }{
	{"GET", "/api/traces/0123456789abcdef0123456789abcdef", ""},
	{"GET", "/api/v2/traces/0123456789abcdef0123456789abcdef", ""},
	{"GET", "/api/search?q=%7B%7D", ""},
	{"GET", "/api/search/tags", ""},
	{"GET", "/api/v2/search/tags?scope=resource", ""},
	{"GET", "/api/search/tag/service.name/values", ""},
	{"GET", "/api/v2/search/tag/resource.service.name/values", ""},
	{"GET", "/api/batch/traces?ids=abc", ""},
	{"POST", "/api/batch/traces", `{"ids": ["abc"]}`},
	{"GET", "/api/metrics/query_range?q=%7B%7D%7Crate()", ""},
	{"GET", "/api/metrics/query?q=%7B%7D%7Crate()", ""},
}

// Every query route reads the tenant the same way, before anything else: a
// querier that is not ready answers a request naming its tenants properly
// with 503, and any other with 401 or 400. Several X-Scope-OrgID headers
// are refused, as on the write path, rather than read as the first one.
func TestEveryRouteChecksTheTenantHeader(t *testing.T) {
	mux := unstartedRoutes(t)

	for _, tc := range []struct {
		name    string
		headers []string // nil: no header at all
		want    int
		message string
	}{
		{"one tenant", []string{"team-a"}, 503, ""},
		{"several tenants", []string{"team-a|team-b"}, 503, ""},
		{"no header", nil, 401, "X-Scope-OrgID"},
		{"empty header", []string{""}, 401, "X-Scope-OrgID"},
		{"trailing separator", []string{"team-a|"}, 400, "empty"},
		{"leading separator", []string{"|team-a"}, 400, "empty"},
		{"empty part", []string{"team-a||team-b"}, 400, "empty"},
		{"inner space", []string{"team-a |team-b"}, 400, "contains ' '"},
		{"path", []string{"../team-a"}, 400, "contains '/'"},
		{"dot-dot", []string{".."}, 400, "not allowed"},
		{"overlong", []string{strings.Repeat("a", tenant.MaxIDLength+1)}, 400, "at most 150"},
		{"two headers", []string{"team-a", "team-b"}, 400, "several X-Scope-OrgID headers"},
		{"two equal headers", []string{"team-a", "team-a"}, 400, "several X-Scope-OrgID headers"},
	} {
		for _, route := range queryRoutes {
			t.Run(tc.name+" "+route.method+" "+route.target, func(t *testing.T) {
				req := httptest.NewRequest(route.method, route.target, strings.NewReader(route.body))
				for _, h := range tc.headers {
					req.Header.Add(tenant.Header, h)
				}
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				body, _ := io.ReadAll(rec.Body)
				if rec.Code != tc.want {
					t.Fatalf("status %d (%s), want %d", rec.Code, body, tc.want)
				}
				if !strings.Contains(string(body), tc.message) {
					t.Errorf("message %q does not say %q", body, tc.message)
				}
			})
		}
	}
}

// The tag endpoints take the query Grafana's editor is typing, complete or
// not, and narrow it to the comparisons that are complete.
func TestTagsFilter(t *testing.T) {
	for _, tc := range []struct {
		q, want string // want "": every span
	}{
		{"", ""},
		{"{}", ""},
		{" { } ", "{}"},
		{`{ resource.service.name = "checkout" }`, `{ resource.service.name = "checkout" }`},
		{`{resource.service.name = }`, ""},
		{`{span.db.system="postgresql" && resource.service.name = }`, `{ span.db.system = "postgresql" }`},
		{`{ .rows > 1 && name = "query 1" && status = }`, `{ .rows > 1 && name = "query 1" }`},
		{`{ span."http.route" =~ "/item/.*" && kind = server && duration >= 10ms && resource.`, `{ span."http.route" =~ "/item/.*" && kind = server && duration >= 10ms }`},
		{`{ name = "a = b" && span.x = }`, `{ name = "a = b" }`},
		{`{ nosuchintrinsic = 3 && .ok = true && `, `{ .ok = true }`},
		{`{ .a = 1 } >> { .b = `, `{ .a = 1 }`},
		{`not traceql at all`, ""},
	} {
		got, err := tagsFilter(tc.q)
		if err != nil {
			t.Errorf("tagsFilter(%q): %v", tc.q, err)
			continue
		}
		want := (*traceql.Query)(nil)
		if tc.want != "" {
			var err error
			if want, err = traceql.Parse(tc.want); err != nil {
				t.Fatalf("want %q: %v", tc.want, err)
			}
		}
		switch {
		case got == nil && want == nil:
		case got == nil || want == nil || got.String() != want.String():
			t.Errorf("tagsFilter(%q) = %v, want %v", tc.q, got, want)
		}
	}
}

// Every route that parses TraceQL refuses a query nested too deep or too
// long with a 400 that says where, before reading anything: the parser
// once recursed on such a query until the goroutine stack overflowed, a
// fatal error that took the whole process down. The querier is not
// started, so a query that got past parsing would be answered 503.
func TestQueriesOverTheBoundsAreRefused(t *testing.T) {
	mux := unstartedRoutes(t)
	for _, tc := range []struct {
		name, q, says string
	}{
		{"deep", strings.Repeat("(", 5*traceql.MaxDepth), "parse error at 1:1001: parentheses and ! nest more than 1000 deep"},
		{"long", strings.Repeat("(", 200_000), fmt.Sprintf("parse error at 1:%d: query is 200000 bytes, over the limit of %d", traceql.MaxQueryBytes+1, traceql.MaxQueryBytes)},
		{"deep and incomplete", "{ .a = 1 && " + strings.Repeat("!", 5*traceql.MaxDepth), "parse error at 1:1013: parentheses and ! nest more than 1000 deep"},
	} {
		for _, path := range []string{
			"/api/search",
			"/api/search/tags",
			"/api/v2/search/tags",
			"/api/search/tag/service.name/values",
			"/api/v2/search/tag/resource.service.name/values",
			"/api/metrics/query_range",
			"/api/metrics/query",
		} {
			t.Run(tc.name+" "+path, func(t *testing.T) {
				req := httptest.NewRequest("GET", path+"?q="+url.QueryEscape(tc.q), nil)
				req.Header.Set(tenant.Header, "team-a")
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.says) {
					t.Errorf("%d %s, want 400 saying %q", rec.Code, rec.Body, tc.says)
				}
			})
		}
	}
}

// A tenant without spans has empty lists, never null: Grafana's editor
// iterates them without a check.
func TestTagListsAreNeverNull(t *testing.T) {
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mux := routes(startQuerier(t, dir).Querier)
	for target, want := range map[string]string{
		"/api/search/tags":                                `{"tagNames":[]}`,
		"/api/search/tag/service.name/values":             `{"tagValues":[]}`,
		"/api/v2/search/tag/resource.service.name/values": `"tagValues":[]`,
		"/api/v2/search/tags?scope=span":                  `"tags":[]`,
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s = %d %s, want %s", target, rec.Code, rec.Body, want)
		}
	}
}

// The peer endpoint takes its tenants from the request body, so it is on
// the peer routes only: the query API answers 404 for it, whatever the
// method, and the peer routes serve nothing of the query API.
func TestPeerRoutesAreNotOnTheAPI(t *testing.T) {
	q := unstartedQuerier(t, querier.DefaultConfig(), querytest.NoLimits(t))
	api, peer := routes(q), http.NewServeMux()
	q.RegisterPeerRoutes(peer)
	serve := func(mux *http.ServeMux, method, target, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set(tenant.Header, "team-a")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	body := `{"kind": "spans", "tenants": ["team-a"], "partitions": [0], "traceIDs": ["ab"]}`
	for _, method := range []string{"POST", "GET"} {
		if rec := serve(api, method, live.Path, body); rec.Code != http.StatusNotFound {
			t.Errorf("%s %s on the query API: %d %s, want 404", method, live.Path, rec.Code, rec.Body)
		}
	}
	if rec := serve(peer, "POST", live.Path, body); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("POST %s on the peer routes: %d %s, want 503 from a querier not started", live.Path, rec.Code, rec.Body)
	}
	for _, route := range queryRoutes {
		if rec := serve(peer, route.method, route.target, route.body); rec.Code != http.StatusNotFound {
			t.Errorf("%s %s on the peer routes: %d, want 404", route.method, route.target, rec.Code)
		}
	}
}

// Each error a query ends with has its status code: those a client may
// retry soon (429, 503) apart from those it may not (4xx), and the query
// timeout (504) apart from the client leaving (499).
func TestHTTPStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{querier.ErrNotReady, http.StatusServiceUnavailable},
		{querier.ErrStopping, http.StatusServiceUnavailable},
		{querier.ErrBlocksBehind, http.StatusServiceUnavailable},
		{querier.ErrBadRequest, http.StatusBadRequest},
		{tenant.ErrInvalid, http.StatusBadRequest},
		{tenant.ErrMissing, http.StatusUnauthorized},
		{querier.ErrTooManyQueries, http.StatusTooManyRequests},
		{querier.ErrResponseTooLarge, http.StatusUnprocessableEntity},
		{querier.ErrPeerResponseTooLarge, http.StatusUnprocessableEntity},
		{querier.ErrTooManySeries, http.StatusUnprocessableEntity},
		{errNotFound, http.StatusNotFound},
		{ErrQueryTimeout, http.StatusGatewayTimeout},
		{context.DeadlineExceeded, http.StatusGatewayTimeout},
		{ErrClientClosed, 499},
		{context.Canceled, 499},
		{errors.New("disk on fire"), http.StatusInternalServerError},
	} {
		if got := httpStatus(fmt.Errorf("query: %w", tc.err)); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.want)
		}
	}
}
