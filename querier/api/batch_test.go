package api

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/tenant"
)

// hexIDs returns n distinct valid trace IDs in hex.
func hexIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", i+1)
	}
	return ids
}

func quoted(ids []string) string {
	return `"` + strings.Join(ids, `","`) + `"`
}

// A request is checked before any lookup: a querier that is not ready yet
// answers a valid one with 503, and an invalid one with 400 or 401 and a
// message that says what is wrong.
func TestBatchRequestValidation(t *testing.T) {
	mux := unstartedRoutes(t)

	thousand := hexIDs(querier.MaxBatchIDs)
	for _, tc := range []struct {
		name, method, query, body, tenant string
		want                              int
		message                           string
	}{
		{name: "valid", method: "POST", body: `{"ids": ["0123456789abcdef0123456789abcdef", "abc"], "start": 1700000000, "end": "1700000100"}`, want: 503},
		{name: "valid GET", method: "GET", query: "ids=0123456789abcdef0123456789abcdef,abc&ids=def&start=1700000000", want: 503},
		{name: "1000 IDs", method: "POST", body: `{"ids": [` + quoted(thousand) + `]}`, want: 503},
		{name: "duplicates collapse", method: "POST", body: `{"ids": [` + quoted(thousand) + `,"1","0001"]}`, want: 503},
		{name: "1001 IDs", method: "POST", body: `{"ids": [` + quoted(hexIDs(querier.MaxBatchIDs+1)) + `]}`, want: 400, message: "1001 distinct trace IDs: at most 1000"},
		{name: "1001 IDs GET", method: "GET", query: "ids=" + strings.Join(hexIDs(querier.MaxBatchIDs+1), ","), want: 400, message: "at most 1000"},
		{name: "no IDs", method: "POST", body: `{"ids": []}`, want: 400, message: "no trace IDs"},
		{name: "no IDs GET", method: "GET", want: 400, message: "no trace IDs"},
		{name: "not hex", method: "POST", body: `{"ids": ["abc", "xyz"]}`, want: 400, message: `trace ID "xyz" is not hex`},
		{name: "too long", method: "GET", query: "ids=0123456789abcdef0123456789abcdef0", want: 400, message: "1 to 32 hex digits"},
		{name: "all zeros", method: "POST", body: `{"ids": ["0000"]}`, want: 400, message: "all zeros"},
		{name: "empty ID", method: "GET", query: "ids=abc,,def", want: 400, message: "1 to 32 hex digits"},
		{name: "unknown field", method: "POST", body: `{"traceIDs": ["abc"]}`, want: 400, message: `unknown field "traceIDs"`},
		{name: "not JSON", method: "POST", body: `ids=abc`, want: 400, message: "body must be"},
		{name: "fractional start", method: "POST", body: `{"ids": ["abc"], "start": 1.5}`, want: 400, message: "start=\"1.5\" must be unix seconds"},
		{name: "end before start", method: "GET", query: "ids=abc&start=20&end=10", want: 400, message: "end is before start"},
		{name: "body too large", method: "POST", body: `{"ids": ["` + strings.Repeat("a", maxBatchBodyBytes) + `"]}`, want: 400, message: "over 1048576 bytes"},
		{name: "no tenant", method: "POST", body: `{"ids": ["abc"]}`, tenant: "-", want: 401, message: "X-Scope-OrgID"},
		{name: "bad tenant", method: "POST", body: `{"ids": ["abc"]}`, tenant: "a/b", want: 400, message: "invalid tenant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/api/batch/traces?"+tc.query, strings.NewReader(tc.body))
			switch tc.tenant {
			case "":
				req.Header.Set(tenant.Header, "t1")
			case "-":
			default:
				req.Header.Set(tenant.Header, tc.tenant)
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
