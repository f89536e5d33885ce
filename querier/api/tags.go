package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/traceql"
)

// The distinct values a tag values call returns: by default, and at most
// (a v2 call's limit).
const (
	defaultTagValuesLimit = 1000
	maxTagValuesLimit     = 10_000
)

// tagsRequest holds what the four tag endpoints share.
type tagsRequest struct {
	tenants []string
	tr      querier.TimeRange
	query   *traceql.Query // nil: every span
	limit   querier.ResponseLimit
}

func (a *API) parseTagsRequest(r *http.Request) (tagsRequest, error) {
	var req tagsRequest
	var err error
	if req.tenants, err = a.readTenants(r); err != nil {
		return req, err
	}
	if req.tr, err = parseTimeRange(r); err != nil {
		return req, err
	}
	if req.tr, err = a.q.SearchWindow(req.tenants, req.tr); err != nil {
		return req, err
	}
	req.limit = a.q.ResponseLimit(req.tenants)
	req.query, err = tagsFilter(r.URL.Query().Get("q"))
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

// handleTagNames answers GET /api/search/tags: {"tagNames": [...]}, the
// attribute names of spans and resources.
func (a *API) handleTagNames(w http.ResponseWriter, r *http.Request) error {
	req, err := a.parseTagsRequest(r)
	if err != nil {
		return err
	}
	byScope, err := a.q.TagNames(r.Context(), req.tenants, req.tr, req.query)
	if err != nil {
		return err
	}
	// Never null (slices.Concat of nothing is nil): a tenant without
	// spans has an empty list, which Grafana's editor can iterate.
	names := make([]string, 0, len(byScope[querier.ScopeSpan])+len(byScope[querier.ScopeResource]))
	names = append(append(names, byScope[querier.ScopeSpan]...), byScope[querier.ScopeResource]...)
	slices.Sort(names)
	return writeJSON(w, req.limit, map[string]any{"tagNames": slices.Compact(names)})
}

// handleTagNamesV2 answers GET /api/v2/search/tags with the names by scope
// (span, resource, intrinsic), all or the one scope asked for.
func (a *API) handleTagNamesV2(w http.ResponseWriter, r *http.Request) error {
	req, err := a.parseTagsRequest(r)
	if err != nil {
		return err
	}
	scope := r.URL.Query().Get("scope")
	scopes := []string{querier.ScopeSpan, querier.ScopeResource, querier.ScopeIntrinsic}
	switch {
	case scope == "" || scope == "all" || scope == "none":
	case slices.Contains(scopes, scope):
		scopes = []string{scope}
	default:
		return badRequest("scope=%q must be span, resource or intrinsic", scope)
	}
	byScope, err := a.q.TagNames(r.Context(), req.tenants, req.tr, req.query)
	if err != nil {
		return err
	}
	type scopeJSON struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	out := make([]scopeJSON, 0, len(scopes))
	for _, s := range scopes {
		out = append(out, scopeJSON{Name: s, Tags: byScope[s]})
	}
	return writeJSON(w, req.limit, map[string]any{"scopes": out, "metrics": map[string]string{"inspectedBytes": "0"}})
}

// handleTagValues answers GET /api/search/tag/{tag}/values with the string
// forms of an unscoped attribute's values: {"tagValues": ["a", ...]}.
func (a *API) handleTagValues(w http.ResponseWriter, r *http.Request) error {
	req, err := a.parseTagsRequest(r)
	if err != nil {
		return err
	}
	values, err := a.q.TagValues(r.Context(), req.tenants, req.tr, req.query, "", r.PathValue("tag"), defaultTagValuesLimit)
	if err != nil {
		return err
	}
	out := make([]string, 0, len(values))
	for _, v := range values {
		out = append(out, v.Value)
	}
	slices.Sort(out)
	return writeJSON(w, req.limit, map[string]any{"tagValues": slices.Compact(out)})
}

// handleTagValuesV2 answers GET /api/v2/search/tag/{tag}/values for a
// scoped tag (span.x, resource.x, .x, or an intrinsic such as status) with
// typed values: {"tagValues": [{"type": "string", "value": "a"}, ...]}.
func (a *API) handleTagValuesV2(w http.ResponseWriter, r *http.Request) error {
	req, err := a.parseTagsRequest(r)
	if err != nil {
		return err
	}
	limit, err := sizeParam(r.URL.Query(), "limit", defaultTagValuesLimit, maxTagValuesLimit)
	if err != nil {
		return err
	}
	scope, name := splitScopedTag(r.PathValue("tag"))
	if name == "" {
		return badRequest("tag %q names no attribute", r.PathValue("tag"))
	}
	values, err := a.q.TagValues(r.Context(), req.tenants, req.tr, req.query, scope, name, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, req.limit, map[string]any{"tagValues": values, "metrics": map[string]string{"inspectedBytes": "0"}})
}

// splitScopedTag splits a v2 tag into scope and attribute name: span.x and
// resource.x are scoped, .x is either, and a bare intrinsic name (name,
// status, kind, statusMessage, or span:name and the like) is intrinsic.
func splitScopedTag(tag string) (scope, name string) {
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

func writeJSON(w http.ResponseWriter, limit querier.ResponseLimit, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return write(w, limit, mediaJSON, body)
}
