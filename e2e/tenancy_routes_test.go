package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// readRoute is one way to read tenants' data through the query API.
type readRoute struct {
	name string
	// read sends the request with headers and returns its status and,
	// with 200, what it returned of the tenants' data as strings.
	read func(t *testing.T, headers [][2]string) (int, []string)
	// want is what read must return when the headers name these tenants.
	want func(allowed []*tenantData) []string
}

// markers are the tag names only one of the tenants has, as "scope:name".
func markers(tenants ...*tenantData) []string {
	var out []string
	for _, d := range tenants {
		out = append(out, "resource:owner."+d.name, "span:owned.by."+d.name)
	}
	return out
}

// readRoutes lists every query route, each with a request that would show
// data of a and b if it leaked.
func readRoutes(addr string, a, b *tenantData) []readRoute {
	base := "http://" + addr
	all := markers(a, b)
	allIDs := func(ds []*tenantData) []string {
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.ids()...)
		}
		return ids
	}
	idsOf := func(d *tenantData) func([]*tenantData) []string {
		return func(ds []*tenantData) []string {
			if slices.Contains(ds, d) {
				return d.ids()
			}
			return nil
		}
	}
	each := func(f func(*tenantData) []string) func([]*tenantData) []string {
		return func(ds []*tenantData) []string {
			var out []string
			for _, d := range ds {
				out = append(out, f(d)...)
			}
			return out
		}
	}
	onlyOf := func(d *tenantData, v string) func([]*tenantData) []string {
		return func(ds []*tenantData) []string {
			if slices.Contains(ds, d) {
				return []string{v}
			}
			return nil
		}
	}
	search := func(params url.Values) func(*testing.T, [][2]string) (int, []string) {
		params.Set("limit", "1000")
		return jsonRoute(base+"/api/search?"+params.Encode(), func(body []byte) ([]string, error) {
			var res struct {
				Traces []struct {
					TraceID string `json:"traceID"`
				} `json:"traces"`
			}
			err := json.Unmarshal(body, &res)
			var ids []string
			for _, tr := range res.Traces {
				ids = append(ids, tr.TraceID)
			}
			return ids, err
		})
	}
	tagNamesV1 := jsonRoute(base+"/api/search/tags", func(body []byte) ([]string, error) {
		var res struct {
			TagNames []string `json:"tagNames"`
		}
		err := json.Unmarshal(body, &res)
		if err == nil && res.TagNames == nil {
			err = errNull // Grafana's editor calls .find on the list
		}
		var out []string
		for _, name := range res.TagNames {
			for _, m := range all {
				if strings.HasSuffix(m, ":"+name) {
					out = append(out, m)
				}
			}
		}
		return out, err
	})
	tagNamesV2 := func(query string) func(*testing.T, [][2]string) (int, []string) {
		return jsonRoute(base+"/api/v2/search/tags"+query, func(body []byte) ([]string, error) {
			var res struct {
				Scopes []struct {
					Name string   `json:"name"`
					Tags []string `json:"tags"`
				} `json:"scopes"`
			}
			err := json.Unmarshal(body, &res)
			for _, s := range res.Scopes {
				if err == nil && s.Tags == nil {
					err = errNull
				}
			}
			var out []string
			for _, s := range res.Scopes {
				for _, tag := range s.Tags {
					// An intrinsic, to tell the scope's answer from none.
					if s.Name+":"+tag == "intrinsic:status" {
						out = append(out, "intrinsic:status")
					}
					for _, m := range all {
						if strings.HasSuffix(m, ":"+tag) {
							out = append(out, s.Name+":"+tag)
						}
					}
				}
			}
			return out, err
		})
	}
	valuesV1 := func(tag string) func(*testing.T, [][2]string) (int, []string) {
		return jsonRoute(base+"/api/search/tag/"+tag+"/values", func(body []byte) ([]string, error) {
			var res struct {
				TagValues []string `json:"tagValues"`
			}
			err := json.Unmarshal(body, &res)
			if err == nil && res.TagValues == nil {
				err = errNull
			}
			return res.TagValues, err
		})
	}
	valuesV2 := func(tag, q string) func(*testing.T, [][2]string) (int, []string) {
		target := base + "/api/v2/search/tag/" + tag + "/values"
		if q != "" {
			target += "?q=" + url.QueryEscape(q)
		}
		return jsonRoute(target, func(body []byte) ([]string, error) {
			var res struct {
				TagValues []struct{ Type, Value string } `json:"tagValues"`
			}
			err := json.Unmarshal(body, &res)
			if err == nil && res.TagValues == nil {
				err = errNull
			}
			var out []string
			for _, v := range res.TagValues {
				out = append(out, v.Type+":"+v.Value)
			}
			return out, err
		})
	}
	serviceOf := func(d *tenantData) []string { return []string{d.service()} }
	typedServiceOf := func(d *tenantData) []string { return []string{"string:" + d.service()} }
	markersIn := func(scope string) func([]*tenantData) []string {
		return func(ds []*tenantData) []string {
			var out []string
			if scope == "" || scope == "intrinsic:" {
				out = append(out, "intrinsic:status")
			}
			for _, m := range markers(ds...) {
				if strings.HasPrefix(m, scope) {
					out = append(out, m)
				}
			}
			return out
		}
	}
	// TraceQL metrics over the last hour: the label values of the series.
	metrics := func(route, q string) func(*testing.T, [][2]string) (int, []string) {
		return jsonRoute(base+"/api/metrics/"+route+"?q="+url.QueryEscape(q), func(body []byte) ([]string, error) {
			var res struct {
				Series []struct {
					Labels []struct {
						Value struct {
							StringValue string `json:"stringValue"`
						} `json:"value"`
					} `json:"labels"`
				} `json:"series"`
			}
			err := json.Unmarshal(body, &res)
			var out []string
			for _, s := range res.Series {
				for _, l := range s.Labels {
					out = append(out, l.Value.StringValue)
				}
			}
			return out, err
		})
	}
	// Every trace of both tenants, and one that nobody wrote.
	batchIDs := append(append(a.ids(), b.ids()...), randomTraceIDs(1)...)

	return []readRoute{
		{"GET /api/traces/{id}", traceByIDRoute(addr, "v1", a, b), allIDs},
		{"GET /api/v2/traces/{id} (protobuf)", traceByIDRoute(addr, "v2", a, b), allIDs},
		{"search {}", search(url.Values{"q": {"{}"}}), allIDs},
		{"search without q", search(url.Values{}), allIDs},
		{"search b's service", search(url.Values{"q": {fmt.Sprintf(`{ resource.service.name = %q }`, b.service())}}), idsOf(b)},
		{"search a's attribute", search(url.Values{"q": {fmt.Sprintf(`{ span."owned.by.%s" = %q }`, a.name, a.name)}}), idsOf(a)},
		{"search b's attribute unscoped", search(url.Values{"q": {fmt.Sprintf(`{ ."owner.%s" =~ "team-.*" }`, b.name)}}), idsOf(b)},
		{"search tags a's service", search(url.Values{"tags": {"service.name=" + a.service()}}), idsOf(a)},
		{"search tags b's attribute", search(url.Values{"tags": {"owner." + b.name + "=" + b.name}}), idsOf(b)},
		{"GET /api/search/tags", tagNamesV1, func(ds []*tenantData) []string { return markers(ds...) }},
		{"GET /api/v2/search/tags", tagNamesV2(""), markersIn("")},
		{"GET /api/v2/search/tags?scope=resource", tagNamesV2("?scope=resource"), markersIn("resource:")},
		{"GET /api/v2/search/tags?scope=span", tagNamesV2("?scope=span"), markersIn("span:")},
		{"GET /api/v2/search/tags?scope=intrinsic", tagNamesV2("?scope=intrinsic"), markersIn("intrinsic:")},
		{"GET /api/v2/search/tags?q=b's service", tagNamesV2("?q=" + url.QueryEscape(fmt.Sprintf(`{ resource.service.name = %q }`, b.service()))), func(ds []*tenantData) []string {
			if slices.Contains(ds, b) {
				return append(markers(b), "intrinsic:status")
			}
			return []string{"intrinsic:status"}
		}},
		{"GET /api/search/tag/service.name/values", valuesV1("service.name"), each(serviceOf)},
		{"GET /api/search/tag/owner.team-b/values", valuesV1("owner." + b.name), onlyOf(b, b.name)},
		{"GET /api/search/tag/owned.by.team-a/values", valuesV1("owned.by." + a.name), onlyOf(a, a.name)},
		{"GET /api/v2/search/tag/resource.service.name/values", valuesV2("resource.service.name", ""), each(typedServiceOf)},
		{"GET /api/v2/search/tag/span.owned.by.team-b/values", valuesV2("span.owned.by."+b.name, ""), onlyOf(b, "string:"+b.name)},
		{"GET /api/v2/search/tag/.owner.team-a/values", valuesV2(".owner."+a.name, ""), onlyOf(a, "string:"+a.name)},
		{"GET /api/v2/search/tag/resource.service.name/values?q=b's service", valuesV2("resource.service.name", fmt.Sprintf(`{ resource.service.name = %q }`, b.service())), onlyOf(b, "string:"+b.service())},
		{"GET /api/v2/search/tag/resource.service.name/values?q=incomplete", valuesV2("resource.service.name", fmt.Sprintf(`{ span."owned.by.%s" = %q && resource.service.name = }`, a.name, a.name)), onlyOf(a, "string:"+a.service())},
		{"GET /api/metrics/query by service", metrics("query", `{ } | count_over_time() by (resource.service.name)`), each(serviceOf)},
		{"GET /api/metrics/query_range by a's attribute", metrics("query_range", fmt.Sprintf(`{ span."owned.by.%[1]s" = %[1]q } | rate() by (span."owned.by.%[1]s")`, a.name)), onlyOf(a, a.name)},
		{"POST /api/batch/traces (JSON)", batchRoute(addr, batchIDs, "json"), allIDs},
		{"GET /api/batch/traces (protobuf)", batchRoute(addr, batchIDs, "protobuf"), allIDs},
	}
}

// errNull is a list answered as null rather than [], which Grafana's
// frontend iterates without a check.
var errNull = errors.New("a list is null")

// jsonRoute GETs target and decodes a 200 answer with decode.
func jsonRoute(target string, decode func([]byte) ([]string, error)) func(*testing.T, [][2]string) (int, []string) {
	return func(t *testing.T, headers [][2]string) (int, []string) {
		t.Helper()
		status, body, err := do(request(t, http.MethodGet, target, nil, headers))
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusOK {
			return status, nil
		}
		got, err := decode(body)
		if err != nil {
			t.Fatalf("GET %s: %v: %s", target, err, body)
		}
		return status, got
	}
}

// traceByIDRoute fetches every trace of a and b one by one: the IDs found
// are what it returns, each of which must hold all the spans sent. 404 is
// what a trace of a tenant not named gives.
func traceByIDRoute(addr, api string, tenants ...*tenantData) func(*testing.T, [][2]string) (int, []string) {
	path, accept, decode := traceAPI(api)
	return func(t *testing.T, headers [][2]string) (int, []string) {
		t.Helper()
		var found []string
		for _, d := range tenants {
			for id, spans := range d.sent {
				req := request(t, http.MethodGet, "http://"+addr+path+id, nil, headers)
				req.Header.Set("Accept", accept)
				status, body, err := do(req)
				if err != nil {
					t.Fatal(err)
				}
				switch status {
				case http.StatusNotFound:
					continue
				case http.StatusOK:
				default:
					return status, nil
				}
				td, err := decode(body)
				if err != nil {
					t.Fatalf("decode %s trace %s: %v", api, id, err)
				}
				if err := sameSpans(spans, td); err != nil {
					t.Errorf("%s trace %s: %v", api, id, err)
				}
				found = append(found, id)
			}
		}
		return http.StatusOK, found
	}
}

// batchRoute asks for ids in one batch request: the IDs found are what it
// returns, and the others must be reported not found, in the order asked.
func batchRoute(addr string, ids []string, encoding string) func(*testing.T, [][2]string) (int, []string) {
	return func(t *testing.T, headers [][2]string) (int, []string) {
		t.Helper()
		req := batchRequest(t, addr, ids, encoding)
		for _, h := range headers {
			req.Header[h[0]] = append(req.Header[h[0]], h[1])
		}
		status, body, err := do(req)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusOK {
			return status, nil
		}
		res := decodeBatch(t, body, encoding)
		var found, notFound []string
		for _, id := range ids {
			if _, ok := res.traces[id]; ok {
				found = append(found, id)
			} else {
				notFound = append(notFound, id)
			}
		}
		if !res.summary || !slices.Equal(res.notFound, notFound) {
			t.Errorf("batch %s: not found %v (last record: %v), want %v", encoding, res.notFound, res.summary, notFound)
		}
		return status, found
	}
}
