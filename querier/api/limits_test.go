package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

// traceAt returns a trace of spanCount spans of trace id, starting at at.
func traceAt(id pcommon.TraceID, at time.Time, spanCount int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	for n := range spanCount {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(id)
		s.SetSpanID(pcommon.SpanID{0: id[15], 7: byte(n + 1)})
		s.SetName(fmt.Sprintf("op-%d", n))
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Millisecond)))
		s.Attributes().PutStr("http.route", "/cart/items/{id}")
	}
	return td
}

// limitsFixture serves, with multi-tenancy on, tenants each holding one
// block of the same two traces, three hours old, under these limits:
//
//	narrow: the defaults, 1h search window and no response limit
//	wide:   48h window
//	free:   no window
//	small:  responses of at most 100 bytes
//	mid:    responses of about one and a half traces in a JSON batch
//	mid-pb: the same in a protobuf batch
type limitsFixture struct {
	url string
	ids []pcommon.TraceID
	// midBytes are the limits of mid (false) and mid-pb (true).
	midBytes map[bool]int64
}

func newLimitsFixture(t *testing.T) *limitsFixture {
	f := &limitsFixture{ids: []pcommon.TraceID{{15: 1}, {15: 2}}, midBytes: make(map[bool]int64)}
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-3 * time.Hour)
	for i, tn := range []string{"narrow", "wide", "free", "small", "mid", "mid-pb"} {
		b := block.NewBuilder(tn, block.DefaultOptions())
		for _, id := range f.ids {
			b.Add(traceAt(id, at, 40))
		}
		if _, err := b.Write(context.Background(), bkt, []schema.OffsetRange{{Partition: int32(1000 + i), Start: 0, End: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	// The size of one trace's record in a batch response, near enough.
	for _, protobuf := range []bool{false, true} {
		rec := httptest.NewRecorder()
		if err := newBatchStream(rec, protobuf, querier.ResponseLimit{}).trace(f.ids[0], traceAt(f.ids[0], at, 40)); err != nil {
			t.Fatal(err)
		}
		f.midBytes[protobuf] = int64(rec.Body.Len()) * 3 / 2
	}

	overrides := fmt.Sprintf(`
overrides:
  wide: {max-search-duration: 48h}
  free: {max-search-duration: 0s}
  small: {max-response-bytes: 100, max-search-duration: 0s}
  mid: {max-response-bytes: %d, max-search-duration: 0s}
  mid-pb: {max-response-bytes: %d, max-search-duration: 0s}
`, f.midBytes[false], f.midBytes[true])
	lim := querytest.NewLimits(t, limits.Limits{MaxSearchDuration: time.Hour}, overrides)
	q := startQuerierWithin(t, bkt, querier.DefaultConfig(), tenant.Config{MultiTenancy: true}, lim)
	q.awaitBlocks(t, 6)
	srv := httptest.NewServer(routes(q.Querier))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *limitsFixture) get(t *testing.T, tenants, path string, protobuf bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(tenant.Header, tenants)
	if protobuf {
		req.Header.Set("Accept", mediaProtobuf)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// window returns start and end parameters for the last d.
func window(d time.Duration) string {
	now := time.Now().Unix()
	return fmt.Sprintf("start=%d&end=%d", now-int64(d/time.Second), now)
}

func TestMaxSearchDuration(t *testing.T) {
	f := newLimitsFixture(t)
	const narrowSays = "longer than max-search-duration 1h0m0s of tenant narrow"
	for _, tc := range []struct {
		name, tenants, path string
		want                int
		says                string
		// traces is how many traces a search that succeeds finds.
		traces int
	}{
		{name: "within", tenants: "narrow", path: "/api/search?" + window(time.Hour), want: 200},
		{name: "over", tenants: "narrow", path: "/api/search?" + window(2*time.Hour), want: 400, says: "time range of 2h0m0s (end - start) is " + narrowSays},
		{name: "only start, too old", tenants: "narrow", path: fmt.Sprintf("/api/search?start=%d", time.Now().Add(-4*time.Hour).Unix()), want: 400, says: narrowSays},
		{name: "override", tenants: "wide", path: "/api/search?" + window(4*time.Hour), want: 200, traces: 2},
		{name: "override over", tenants: "wide", path: "/api/search?" + window(49*time.Hour), want: 400, says: "max-search-duration 48h0m0s of tenant wide"},
		{name: "no limit", tenants: "free", path: "/api/search?" + window(10000*time.Hour), want: 200, traces: 2},
		{name: "strictest of two", tenants: "wide|narrow", path: "/api/search?" + window(4*time.Hour), want: 400, says: narrowSays},
		{name: "strictest ignores no limit", tenants: "free|wide", path: "/api/search?" + window(49*time.Hour), want: 400, says: "of tenant wide"},
		// Without start and end, the most recent window: the traces
		// are three hours old.
		{name: "recent window", tenants: "narrow", path: "/api/search", want: 200, traces: 0},
		{name: "recent window wide", tenants: "wide", path: "/api/search", want: 200, traces: 2},
		{name: "tags over", tenants: "narrow", path: "/api/v2/search/tags?" + window(2*time.Hour), want: 400, says: narrowSays},
		{name: "tags v1 over", tenants: "narrow", path: "/api/search/tags?" + window(2*time.Hour), want: 400, says: narrowSays},
		{name: "tag values over", tenants: "narrow", path: "/api/search/tag/http.route/values?" + window(2*time.Hour), want: 400, says: narrowSays},
		{name: "tag values v2 over", tenants: "narrow", path: "/api/v2/search/tag/span.http.route/values?" + window(2*time.Hour), want: 400, says: narrowSays},
		{name: "tag values within", tenants: "narrow", path: "/api/v2/search/tag/span.http.route/values?" + window(time.Hour), want: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.get(t, tc.tenants, tc.path, false)
			if status != tc.want || !strings.Contains(string(body), tc.says) {
				t.Fatalf("%d %s, want %d saying %q", status, body, tc.want, tc.says)
			}
			if status == 200 && (strings.HasPrefix(tc.path, "/api/search?") || tc.path == "/api/search") {
				if got := bytes.Count(body, []byte(`"traceID"`)); got != tc.traces {
					t.Errorf("%d traces found, want %d", got, tc.traces)
				}
			}
		})
	}
}

// An answer over max-response-bytes is refused with 422 instead of sent.
func TestMaxResponseBytes(t *testing.T) {
	f := newLimitsFixture(t)
	id := f.ids[0].String()
	const says = "over max-response-bytes 100 of tenant small"
	for _, tc := range []struct {
		name, path string
		protobuf   bool
	}{
		{"trace v1", "/api/traces/" + id, false},
		{"trace v1 protobuf", "/api/traces/" + id, true},
		{"trace v2", "/api/v2/traces/" + id, false},
		{"trace v2 protobuf", "/api/v2/traces/" + id, true},
		{"search", "/api/search", false},
		{"tags", "/api/v2/search/tags", false},
		{"tag values", "/api/v2/search/tag/name/values", false},
		{"batch, first trace", "/api/batch/traces?ids=" + id, false},
		{"batch protobuf, first trace", "/api/batch/traces?ids=" + id, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.get(t, "small", tc.path, tc.protobuf)
			if status != http.StatusUnprocessableEntity || !strings.Contains(string(body), says) {
				t.Errorf("small: %d %.200s, want 422 saying %q", status, body, says)
			}
			if status, body := f.get(t, "free", tc.path, tc.protobuf); status != 200 {
				t.Errorf("free: %d %.200s", status, body)
			}
			if status, _ := f.get(t, "small|free", tc.path, tc.protobuf); status != http.StatusUnprocessableEntity {
				t.Errorf("small|free: %d, want the strictest limit's 422", status)
			}
		})
	}
}

// A batch answer that would pass max-response-bytes stops with a last
// record that says why, before the trace that would pass it.
func TestMaxResponseBytesEndsBatchStream(t *testing.T) {
	f := newLimitsFixture(t)
	path := fmt.Sprintf("/api/batch/traces?ids=%s,%s", f.ids[0], f.ids[1])
	for protobuf, tn := range map[bool]string{false: "mid", true: "mid-pb"} {
		limit := f.midBytes[protobuf]
		says := fmt.Sprintf("stopped before the next trace: response too large: %%d bytes, over max-response-bytes %d of tenant %s", limit, tn)
		status, body := f.get(t, tn, path, protobuf)
		if status != 200 {
			t.Fatalf("protobuf %v: %d %s", protobuf, status, body)
		}
		var got batchResponse
		if protobuf {
			got = decodeFrames(t, body)
		} else {
			got = decodeNDJSON(t, bytes.NewReader(body))
		}
		var size int
		if len(got.order) != 1 || !got.ended || !matches(got.errMsg, says, &size) || size <= int(limit) {
			t.Errorf("protobuf %v: %d traces, ended %v with error %q; want 1 and one saying %q", protobuf, len(got.order), got.ended, got.errMsg, says)
		}
		if len(body) > int(limit)+len(got.errMsg)+20 {
			t.Errorf("protobuf %v: %d bytes sent, limit %d", protobuf, len(body), limit)
		}
		if status, body := f.get(t, "free", path, protobuf); status != 200 || bytes.Contains(body, []byte("max-response-bytes")) {
			t.Errorf("free: %d %.200s", status, body)
		}
	}
}

// matches reports whether s is format with its one %d filled in, which
// it stores in n.
func matches(s, format string, n *int) bool {
	re := regexp.MustCompile("^" + strings.Replace(regexp.QuoteMeta(format), "%d", `(\d+)`, 1) + "$")
	m := re.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	*n, _ = strconv.Atoi(m[1])
	return true
}

// Every query route counts against the tenant's max-concurrent-queries:
// with a query of the tenant in flight at its limit of one, each answers
// 429 with a retry hint, saying which limit; another tenant's requests
// go on (to the 503 of a querier not started), and the tenant's do once
// the query in flight ended.
func TestEveryQueryRouteCountsAgainstConcurrency(t *testing.T) {
	q := unstartedQuerier(t, querier.DefaultConfig(), querytest.NewLimits(t, limits.Limits{MaxConcurrentQueries: 1}, ""))
	mux := routes(q)
	release, err := q.Admit([]string{"team-a"})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(tenants, method, target, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set(tenant.Header, tenants)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	for _, route := range queryRoutes {
		rec := serve("team-a", route.method, route.target, route.body)
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" ||
			!strings.Contains(rec.Body.String(), "too many outstanding requests: tenant team-a has 1 queries in flight, its max-concurrent-queries") {
			t.Errorf("%s %s at the limit: %d, Retry-After %q, %s", route.method, route.target, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
		if rec := serve("team-b", route.method, route.target, route.body); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s of another tenant: %d %s, want 503", route.method, route.target, rec.Code, rec.Body)
		}
	}
	release()
	for _, route := range queryRoutes {
		if rec := serve("team-a", route.method, route.target, route.body); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s after the query in flight ended: %d %s, want 503", route.method, route.target, rec.Code, rec.Body)
		}
	}
}

// Every parameter that sizes an answer has an upper bound, and a request
// over it is a 400 that names it, before anything is read (the querier is
// not started: a request that passes is answered 503).
func TestLimitParametersAreBounded(t *testing.T) {
	mux := unstartedRoutes(t)
	for _, tc := range []struct {
		target string
		want   int
		says   string
	}{
		{"/api/search?limit=10000", 503, ""},
		{"/api/search?limit=10001", 400, `limit="10001" must be a whole number from 1 to 10000, or 0 for the default (20)`},
		{"/api/search?limit=-1", 400, `limit="-1" must be a whole number from 1 to 10000`},
		{"/api/search?spss=100", 503, ""},
		{"/api/search?spss=101", 400, `spss="101" must be a whole number from 1 to 100, or 0 for the default (3)`},
		{"/api/search?spss=x", 400, `spss="x" must be a whole number from 1 to 100`},
		{"/api/v2/search/tag/span.x/values?limit=10000", 503, ""},
		{"/api/v2/search/tag/span.x/values?limit=10001", 400, `limit="10001" must be a whole number from 1 to 10000, or 0 for the default (1000)`},
		{"/api/search?limit=0&spss=0", 503, ""},
		{"/api/v2/search/tag/span.x/values?limit=0", 503, ""},
		{"/api/batch/traces?ids=" + strings.TrimSuffix(strings.Repeat("1,", querier.MaxBatchIDs), ","), 503, ""},
	} {
		req := httptest.NewRequest("GET", tc.target, nil)
		req.Header.Set(tenant.Header, "team-a")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.says) {
			t.Errorf("%.80s: %d %s, want %d saying %q", tc.target, rec.Code, rec.Body, tc.want, tc.says)
		}
	}
}

// Zero, as Tempo's own clients send it when no size is given (its CLI
// sends limit=0&spss=0), is the default, the same as no parameter.
func TestZeroSizesMeanTheDefaults(t *testing.T) {
	for _, target := range []string{"/api/search", "/api/search?limit=0&spss=0"} {
		req, err := parseSearchRequest(httptest.NewRequest("GET", target, nil).URL.Query())
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if req.Limit != defaultSearchLimit || req.SpansPerSpanSet != defaultSpss {
			t.Errorf("%s: limit %d, spss %d; want the defaults %d and %d", target, req.Limit, req.SpansPerSpanSet, defaultSearchLimit, defaultSpss)
		}
	}
	req, err := parseSearchRequest(httptest.NewRequest("GET", "/api/search?limit=7&spss=0", nil).URL.Query())
	if err != nil || req.Limit != 7 || req.SpansPerSpanSet != defaultSpss {
		t.Errorf("limit=7&spss=0: %+v, %v; want limit 7 and the default spss", req, err)
	}
}
