package api

import "net/http"

// RegisterRoutes adds the query API to mux.
//
// The querier's peer traffic has routes of its own
// (querier.Querier.RegisterPeerRoutes), for another listener: it takes
// tenants from the request body.
func (a *API) RegisterRoutes(mux *http.ServeMux) {
	for _, route := range []struct {
		pattern, name string
		h             handlerFunc
	}{
		{"GET /api/traces/{id}", "trace_by_id", a.handleTraceByIDV1},
		{"GET /api/v2/traces/{id}", "trace_by_id_v2", a.handleTraceByIDV2},
		{"GET /api/search", "search", a.handleSearch},
		{"GET /api/search/tags", "search_tags", a.handleTagNames},
		{"GET /api/v2/search/tags", "search_tags_v2", a.handleTagNamesV2},
		{"GET /api/search/tag/{tag}/values", "search_tag_values", a.handleTagValues},
		{"GET /api/v2/search/tag/{tag}/values", "search_tag_values_v2", a.handleTagValuesV2},
		{"GET /api/metrics/query_range", "metrics_query_range", a.handleMetricsQueryRange},
		{"GET /api/metrics/query", "metrics_query", a.handleMetricsQueryInstant},
		{"POST /api/batch/traces", "batch_traces", a.handleBatchTraces},
		{"GET /api/batch/traces", "batch_traces", a.handleBatchTraces},
	} {
		mux.Handle(route.pattern, a.instrument(route.name, a.limited(route.h)))
	}
}
