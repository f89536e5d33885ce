package api

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/traceql"
)

// Search defaults and bounds, as Tempo has them.
const (
	defaultSearchLimit = 20
	maxSearchLimit     = 10_000
	defaultSpss        = 3
	maxSpss            = 100
)

// handleSearch answers GET /api/search with Tempo's search response.
func (a *API) handleSearch(w http.ResponseWriter, r *http.Request) error {
	tenants, err := a.readTenants(r)
	if err != nil {
		return err
	}
	req, err := parseSearchRequest(r)
	if err != nil {
		return err
	}
	if req.Range, err = a.q.SearchWindow(tenants, req.Range); err != nil {
		return err
	}
	res, err := a.q.Search(r.Context(), tenants, req)
	if err != nil {
		return err
	}
	body, err := json.Marshal(searchResponseJSON(res, req.SpansPerSpanSet))
	if err != nil {
		return err
	}
	return write(w, a.q.ResponseLimit(tenants), mediaJSON, body)
}

func parseSearchRequest(r *http.Request) (querier.SearchRequest, error) {
	params := r.URL.Query()
	req := querier.SearchRequest{Limit: defaultSearchLimit, SpansPerSpanSet: defaultSpss}
	text := params.Get("q")
	if tags := params.Get("tags"); tags != "" {
		if text != "" {
			return req, badRequest("give q or tags, not both")
		}
		t, err := tagsToTraceQL(tags)
		if err != nil {
			return req, err
		}
		text = t
	}
	if strings.TrimSpace(text) == "" {
		text = "{}"
	}
	query, err := traceql.Parse(text)
	if err != nil {
		return req, badRequest("q: %v", err)
	}
	req.Query = query
	if req.Limit, err = sizeParam(params, "limit", defaultSearchLimit, maxSearchLimit); err != nil {
		return req, err
	}
	if req.SpansPerSpanSet, err = sizeParam(params, "spss", defaultSpss, maxSpss); err != nil {
		return req, err
	}
	for _, p := range []struct {
		name string
		to   *time.Duration
	}{{"minDuration", &req.MinDuration}, {"maxDuration", &req.MaxDuration}} {
		if v := params.Get(p.name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return req, badRequest("%s=%q must be a duration such as 100ms", p.name, v)
			}
			*p.to = d
		}
	}
	if req.MaxDuration > 0 && req.MinDuration > req.MaxDuration {
		return req, badRequest("minDuration is above maxDuration")
	}
	req.Range, err = parseTimeRange(r)
	return req, err
}

// logfmtPair matches one key=value of the legacy tags parameter; values
// may be double-quoted.
var logfmtPair = regexp.MustCompile(`^\s*([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)`)

// tagsToTraceQL turns the legacy tags parameter (logfmt, all pairs must
// match) into the TraceQL it means: each key an unscoped attribute, a
// number compared as a number, anything else as a string.
func tagsToTraceQL(tags string) (string, error) {
	var conds []string
	for rest := tags; strings.TrimSpace(rest) != ""; {
		m := logfmtPair.FindStringSubmatch(rest)
		if m == nil {
			return "", badRequest("tags: %q is not logfmt (key=value ...)", rest)
		}
		rest = rest[len(m[0]):]
		key, value := m[1], m[2]
		if unq, err := strconv.Unquote(value); err == nil {
			value = unq
		}
		lit := strconv.Quote(value)
		if _, err := strconv.ParseInt(value, 10, 64); err == nil {
			lit = value
		}
		conds = append(conds, fmt.Sprintf(".%s = %s", strconv.Quote(key), lit))
	}
	return "{ " + strings.Join(conds, " && ") + " }", nil
}

// Tempo's search response, field for field.
type (
	searchResponse struct {
		Traces  []traceSearchMetadata `json:"traces"`
		Metrics searchMetricsJSON     `json:"metrics"`
		// Beyond Tempo's: set, as in /api/v2/traces, when traces may
		// be missing.
		Status  string `json:"status,omitempty"`
		Message string `json:"message,omitempty"`
	}
	traceSearchMetadata struct {
		TraceID           string                      `json:"traceID"`
		RootServiceName   string                      `json:"rootServiceName"`
		RootTraceName     string                      `json:"rootTraceName,omitempty"`
		StartTimeUnixNano string                      `json:"startTimeUnixNano"`
		DurationMs        uint64                      `json:"durationMs"`
		SpanSet           *spanSetJSON                `json:"spanSet,omitempty"`
		SpanSets          []spanSetJSON               `json:"spanSets"`
		ServiceStats      map[string]serviceStatsJSON `json:"serviceStats,omitempty"`
	}
	spanSetJSON struct {
		Spans      []spanJSON     `json:"spans"`
		Matched    int            `json:"matched"`
		Attributes []keyValueJSON `json:"attributes,omitempty"`
	}
	spanJSON struct {
		SpanID            string         `json:"spanID"`
		Name              string         `json:"name"`
		StartTimeUnixNano string         `json:"startTimeUnixNano"`
		DurationNanos     string         `json:"durationNanos"`
		Attributes        []keyValueJSON `json:"attributes,omitempty"`
	}
	serviceStatsJSON struct {
		SpanCount  int `json:"spanCount"`
		ErrorCount int `json:"errorCount,omitempty"`
	}
	keyValueJSON struct {
		Key   string         `json:"key"`
		Value map[string]any `json:"value"`
	}
	// 64-bit counters are strings, as in protobuf JSON.
	searchMetricsJSON struct {
		InspectedTraces int64  `json:"inspectedTraces"`
		InspectedBytes  string `json:"inspectedBytes"`
		InspectedSpans  string `json:"inspectedSpans"`
		TotalBlocks     int64  `json:"totalBlocks"`
		TotalBlockBytes string `json:"totalBlockBytes"`
		CompletedJobs   int64  `json:"completedJobs"`
		TotalJobs       int64  `json:"totalJobs"`
	}
)

func searchResponseJSON(res *querier.SearchResult, spss int) searchResponse {
	out := searchResponse{
		Traces: make([]traceSearchMetadata, 0, len(res.Traces)),
		Metrics: searchMetricsJSON{
			InspectedTraces: res.Metrics.InspectedTraces,
			InspectedBytes:  strconv.FormatInt(res.Metrics.InspectedBytes, 10),
			InspectedSpans:  strconv.FormatInt(res.Metrics.InspectedSpans, 10),
			TotalBlocks:     res.Metrics.TotalBlocks,
			TotalBlockBytes: strconv.FormatInt(res.Metrics.TotalBlockBytes, 10),
			CompletedJobs:   res.Metrics.TotalBlocks + 1, // the blocks and the live tail
			TotalJobs:       res.Metrics.TotalBlocks + 1,
		},
	}
	if res.Partial.IsPartial() {
		out.Status, out.Message = "PARTIAL", res.Partial.Message()
	}
	for _, hit := range res.Traces {
		set := spanSetJSON{Matched: len(hit.Spans), Attributes: keyValuesJSON(hit.Attributes), Spans: []spanJSON{}}
		for _, s := range hit.Spans[:min(len(hit.Spans), spss)] {
			set.Spans = append(set.Spans, spanJSON{
				SpanID:            hex.EncodeToString(s.SpanID[:]),
				Name:              s.Name,
				StartTimeUnixNano: strconv.FormatUint(s.StartUnixNano, 10),
				DurationNanos:     strconv.FormatInt(s.DurationNanos, 10),
				Attributes:        keyValuesJSON(s.Attributes),
			})
		}
		stats := make(map[string]serviceStatsJSON, len(hit.ServiceStats))
		for svc, st := range hit.ServiceStats {
			stats[svc] = serviceStatsJSON{SpanCount: st.SpanCount, ErrorCount: st.ErrorCount}
		}
		out.Traces = append(out.Traces, traceSearchMetadata{
			TraceID:           hex.EncodeToString(hit.TraceID[:]),
			RootServiceName:   cmp.Or(hit.RootServiceName, "<root span not yet received>"),
			RootTraceName:     hit.RootTraceName,
			StartTimeUnixNano: strconv.FormatUint(hit.StartUnixNano, 10),
			DurationMs:        hit.DurationNanos() / uint64(time.Millisecond),
			SpanSet:           &set,
			SpanSets:          []spanSetJSON{set},
			ServiceStats:      stats,
		})
	}
	return out
}

// keyValuesJSON renders values as OTLP JSON AnyValues; durations are
// nanoseconds, statuses and kinds their TraceQL names.
func keyValuesJSON(kvs []traceql.KeyValue) []keyValueJSON {
	out := make([]keyValueJSON, 0, len(kvs))
	for _, kv := range kvs {
		var v map[string]any
		switch kv.Value.Type() {
		case traceql.TypeString:
			v = map[string]any{"stringValue": kv.Value.Str()}
		case traceql.TypeInt:
			v = map[string]any{"intValue": strconv.FormatInt(kv.Value.Int(), 10)}
		case traceql.TypeDuration:
			v = map[string]any{"intValue": strconv.FormatInt(int64(kv.Value.Duration()), 10)}
		case traceql.TypeFloat:
			v = map[string]any{"doubleValue": kv.Value.Float()}
		case traceql.TypeBool:
			v = map[string]any{"boolValue": kv.Value.Bool()}
		case traceql.TypeNil:
			continue
		default:
			v = map[string]any{"stringValue": kv.Value.String()}
		}
		out = append(out, keyValueJSON{Key: kv.Key, Value: v})
	}
	return out
}
