package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
	"github.com/spanlog/spanlog/querier/traceql"
)

// The distinct values a tag values call returns: by default, and at most
// (a v2 call's limit).
const (
	defaultTagValuesLimit = 1000
	maxTagValuesLimit     = 10_000
)

// tagsRequest holds what the four tag queries share.
type tagsRequest struct {
	tr    querier.TimeRange
	query *traceql.Query // nil: every span
}

func (a *API) parseTagsRequest(tenants []string, params url.Values) (tagsRequest, error) {
	var req tagsRequest
	var err error
	if req.tr, err = parseTimeRange(params); err != nil {
		return req, err
	}
	if req.tr, err = a.q.SearchWindow(tenants, req.tr); err != nil {
		return req, err
	}
	req.query, err = tagsFilter(params.Get("q"))
	return req, err
}

// tagsFilter returns the query that selects the spans whose tags are
// listed, nil for every span. Grafana's editor sends the query being typed,
// which is incomplete when it asks for values, so q is parsed leniently
// (traceql.ParseLenient): narrowed to its complete comparisons rather than
// refused. A q over the bounds of a query is refused.
func tagsFilter(text string) (*traceql.Query, error) {
	query, err := traceql.ParseLenient(text)
	if err != nil {
		return nil, badRequest("q: %v", err)
	}
	return query, nil
}

// A tag query's metrics: what it read is not counted.
func tagsMetrics() *tempopb.MetadataMetrics { return &tempopb.MetadataMetrics{} }

// handleTagNames answers GET /api/search/tags: {"tagNames": [...]}.
func (a *API) handleTagNames(w http.ResponseWriter, r *http.Request) error {
	tenants, err := a.readTenants(r)
	if err != nil {
		return err
	}
	res, err := a.TagNames(r.Context(), tenants, r.URL.Query())
	if err != nil {
		return err
	}
	// Never null: a tenant without spans has an empty list, which
	// Grafana's editor can iterate.
	return writeJSON(w, a.q.ResponseLimit(tenants), map[string]any{"tagNames": orEmpty(res.TagNames)})
}

// TagNames answers the tag names query GET /api/search/tags's params
// ask for: the attribute names of spans and resources, sorted.
func (a *API) TagNames(ctx context.Context, tenants []string, params url.Values) (*tempopb.SearchTagsResponse, error) {
	req, err := a.parseTagsRequest(tenants, params)
	if err != nil {
		return nil, err
	}
	byScope, err := a.q.TagNames(ctx, tenants, req.tr, req.query)
	if err != nil {
		return nil, err
	}
	names := slices.Concat(byScope[querier.ScopeSpan], byScope[querier.ScopeResource])
	slices.Sort(names)
	return &tempopb.SearchTagsResponse{TagNames: slices.Compact(names), Metrics: tagsMetrics()}, nil
}

// handleTagNamesV2 answers GET /api/v2/search/tags.
func (a *API) handleTagNamesV2(w http.ResponseWriter, r *http.Request) error {
	tenants, err := a.readTenants(r)
	if err != nil {
		return err
	}
	res, err := a.TagNamesV2(r.Context(), tenants, r.URL.Query())
	if err != nil {
		return err
	}
	type scopeJSON struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	out := make([]scopeJSON, 0, len(res.Scopes))
	for _, s := range res.Scopes {
		out = append(out, scopeJSON{Name: s.Name, Tags: s.Tags})
	}
	return writeJSON(w, a.q.ResponseLimit(tenants), map[string]any{"scopes": out, "metrics": map[string]string{"inspectedBytes": "0"}})
}

// TagNamesV2 answers the query GET /api/v2/search/tags's params ask for:
// the names by scope (span, resource, intrinsic), all or the one scope
// asked for.
func (a *API) TagNamesV2(ctx context.Context, tenants []string, params url.Values) (*tempopb.SearchTagsV2Response, error) {
	req, err := a.parseTagsRequest(tenants, params)
	if err != nil {
		return nil, err
	}
	scope := params.Get("scope")
	scopes := []string{querier.ScopeSpan, querier.ScopeResource, querier.ScopeIntrinsic}
	var read []string // the attribute scopes to collect; nil: span and resource
	switch {
	case scope == "" || scope == "all" || scope == "none":
	case slices.Contains(scopes, scope):
		scopes = []string{scope}
	case slices.Contains(wholeRowScopes, scope):
		scopes, read = []string{scope}, []string{scope}
	default:
		return nil, badRequest("scope=%q must be span, resource, intrinsic, event, link or instrumentation", scope)
	}
	byScope, err := a.q.TagNamesIn(ctx, tenants, req.tr, req.query, read)
	if err != nil {
		return nil, err
	}
	out := &tempopb.SearchTagsV2Response{Metrics: tagsMetrics()}
	for _, s := range scopes {
		out.Scopes = append(out.Scopes, &tempopb.SearchTagsV2Scope{Name: s, Tags: byScope[s]})
	}
	return out, nil
}

// handleTagValues answers GET /api/search/tag/{tag}/values:
// {"tagValues": ["a", ...]}.
func (a *API) handleTagValues(w http.ResponseWriter, r *http.Request) error {
	tenants, err := a.readTenants(r)
	if err != nil {
		return err
	}
	res, err := a.TagValues(r.Context(), tenants, r.PathValue("tag"), r.URL.Query())
	if err != nil {
		return err
	}
	return writeJSON(w, a.q.ResponseLimit(tenants), map[string]any{"tagValues": orEmpty(res.TagValues)})
}

// TagValues answers the query GET /api/search/tag/{tag}/values's params
// ask for: the string forms of an unscoped attribute's values, sorted.
func (a *API) TagValues(ctx context.Context, tenants []string, tag string, params url.Values) (*tempopb.SearchTagValuesResponse, error) {
	req, err := a.parseTagsRequest(tenants, params)
	if err != nil {
		return nil, err
	}
	values, err := a.q.TagValues(ctx, tenants, req.tr, req.query, "", tag, defaultTagValuesLimit)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(values))
	for _, v := range values {
		out = append(out, v.Value)
	}
	slices.Sort(out)
	return &tempopb.SearchTagValuesResponse{TagValues: slices.Compact(out), Metrics: tagsMetrics()}, nil
}

// handleTagValuesV2 answers GET /api/v2/search/tag/{tag}/values:
// {"tagValues": [{"type": "string", "value": "a"}, ...]}.
func (a *API) handleTagValuesV2(w http.ResponseWriter, r *http.Request) error {
	tenants, err := a.readTenants(r)
	if err != nil {
		return err
	}
	res, err := a.TagValuesV2(r.Context(), tenants, r.PathValue("tag"), r.URL.Query())
	if err != nil {
		return err
	}
	type tagValueJSON struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	out := make([]tagValueJSON, 0, len(res.TagValues))
	for _, v := range res.TagValues {
		out = append(out, tagValueJSON{Type: v.Type, Value: v.Value})
	}
	return writeJSON(w, a.q.ResponseLimit(tenants), map[string]any{"tagValues": out, "metrics": map[string]string{"inspectedBytes": "0"}})
}

// TagValuesV2 answers the query GET /api/v2/search/tag/{tag}/values's
// params ask for: the typed values of a scoped tag (span.x, resource.x,
// .x, or an intrinsic such as status), at most params' limit.
func (a *API) TagValuesV2(ctx context.Context, tenants []string, tag string, params url.Values) (*tempopb.SearchTagValuesV2Response, error) {
	req, err := a.parseTagsRequest(tenants, params)
	if err != nil {
		return nil, err
	}
	limit, err := sizeParam(params, "limit", defaultTagValuesLimit, maxTagValuesLimit)
	if err != nil {
		return nil, err
	}
	scope, name := splitScopedTag(tag)
	if name == "" {
		return nil, badRequest("tag %q names no attribute", tag)
	}
	values, err := a.q.TagValues(ctx, tenants, req.tr, req.query, scope, name, limit)
	if err != nil {
		return nil, err
	}
	out := &tempopb.SearchTagValuesV2Response{TagValues: make([]*tempopb.TagValue, 0, len(values)), Metrics: tagsMetrics()}
	for _, v := range values {
		out.TagValues = append(out.TagValues, &tempopb.TagValue{Type: v.Type, Value: v.Value})
	}
	return out, nil
}

// wholeRowScopes are the attribute scopes whose tags are listed only when
// a request names them: they are read from blocks' rows whole, several
// times the bytes of the span and resource attributes, and Grafana asks
// for every scope's tags at each keystroke.
var wholeRowScopes = []string{querier.ScopeEvent, querier.ScopeLink, querier.ScopeInstrumentation}

// splitScopedTag splits a v2 tag into scope and attribute name: span.x,
// resource.x, event.x, link.x and instrumentation.x are scoped, .x is
// span or resource, and a bare intrinsic name (name, status, kind,
// statusMessage, or span:name and the like) is intrinsic.
func splitScopedTag(tag string) (scope, name string) {
	for _, s := range wholeRowScopes {
		if n, ok := strings.CutPrefix(tag, s+"."); ok {
			return s, n
		}
	}
	switch {
	case strings.HasPrefix(tag, "span."):
		return querier.ScopeSpan, strings.TrimPrefix(tag, "span.")
	case strings.HasPrefix(tag, "resource."):
		return querier.ScopeResource, strings.TrimPrefix(tag, "resource.")
	case strings.HasPrefix(tag, "."):
		return "", strings.TrimPrefix(tag, ".")
	case strings.HasPrefix(tag, "span:"):
		return querier.ScopeIntrinsic, strings.TrimPrefix(tag, "span:")
	case slices.Contains(traceql.Intrinsics(), tag):
		return querier.ScopeIntrinsic, tag
	}
	return "", tag
}

// orEmpty returns s, or an empty list for nil, which JSON would render
// as null.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, limit querier.ResponseLimit, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return write(w, limit, mediaJSON, body)
}
