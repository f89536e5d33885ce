package api

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	common "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
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
	res, err := a.Search(r.Context(), tenants, r.URL.Query(), nil)
	if err != nil {
		return err
	}
	body, err := json.Marshal(searchResponseJSON(res))
	if err != nil {
		return err
	}
	return write(w, a.q.ResponseLimit(tenants), mediaJSON, body)
}

// Search runs the search GET /api/search's params ask for over tenants'
// traces, and returns Tempo's response. If found is not nil, it is
// passed, before the search ends, responses with traces of the answer as
// they become certain, most recent first (see querier.SearchRequest.Found),
// for protocols that stream; the answer holds them too.
func (a *API) Search(ctx context.Context, tenants []string, params url.Values, found func(*tempopb.SearchResponse) error) (*tempopb.SearchResponse, error) {
	req, err := parseSearchRequest(params)
	if err != nil {
		return nil, err
	}
	if req.Range, err = a.q.SearchWindow(tenants, req.Range); err != nil {
		return nil, err
	}
	if found != nil {
		req.Found = func(hits []*querier.TraceHit) error {
			res := searchResponse(&querier.SearchResult{Traces: hits}, req.SpansPerSpanSet)
			// What was read so far is not known before the end.
			res.Metrics = &tempopb.SearchMetrics{}
			return found(res)
		}
	}
	res, err := a.q.Search(ctx, tenants, req)
	if err != nil {
		return nil, err
	}
	return searchResponse(res, req.SpansPerSpanSet), nil
}

func parseSearchRequest(params url.Values) (querier.SearchRequest, error) {
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
	req.Range, err = parseTimeRange(params)
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

// searchResponse returns what a search found as Tempo's response, which
// every protocol sends: in protobuf as it is, in JSON as
// searchResponseJSON renders it.
func searchResponse(res *querier.SearchResult, spss int) *tempopb.SearchResponse {
	out := &tempopb.SearchResponse{
		Traces:  make([]*tempopb.TraceSearchMetadata, 0, len(res.Traces)),
		Metrics: searchMetrics(res.Metrics),
	}
	if res.Partial.IsPartial() {
		out.Status, out.Message = tempopb.PartialStatus_PARTIAL, res.Partial.Message()
	}
	for _, hit := range res.Traces {
		sets := hit.SpanSets
		if len(sets) == 0 {
			sets = []querier.HitSpanSet{{Spans: hit.Spans, Attributes: hit.Attributes}}
		}
		spanSets := make([]*tempopb.SpanSet, len(sets))
		for i, hs := range sets {
			spanSets[i] = spanSet(hs, spss)
		}
		stats := make(map[string]*tempopb.ServiceStats, len(hit.ServiceStats))
		for svc, st := range hit.ServiceStats {
			stats[svc] = &tempopb.ServiceStats{SpanCount: uint32(st.SpanCount), ErrorCount: uint32(st.ErrorCount)}
		}
		out.Traces = append(out.Traces, &tempopb.TraceSearchMetadata{
			TraceID:           hex.EncodeToString(hit.TraceID[:]),
			RootServiceName:   cmp.Or(hit.RootServiceName, "<root span not yet received>"),
			RootTraceName:     hit.RootTraceName,
			StartTimeUnixNano: hit.StartUnixNano,
			DurationMs:        uint32(hit.DurationNanos() / uint64(time.Millisecond)),
			SpanSet:           spanSets[0],
			SpanSets:          spanSets,
			ServiceStats:      stats,
		})
	}
	return out
}

// searchMetrics returns what a query read as Tempo's metrics of it.
func searchMetrics(m querier.SearchMetrics) *tempopb.SearchMetrics {
	return &tempopb.SearchMetrics{
		InspectedTraces: uint32(m.InspectedTraces),
		InspectedBytes:  uint64(m.InspectedBytes),
		InspectedSpans:  uint64(m.InspectedSpans),
		TotalBlocks:     uint32(m.TotalBlocks),
		TotalBlockBytes: uint64(m.TotalBlockBytes),
		CompletedJobs:   uint32(m.TotalBlocks + 1), // the blocks and the live tail
		TotalJobs:       uint32(m.TotalBlocks + 1),
	}
}

// spanSet returns one spanset of a hit with at most spss of its spans;
// by() splits a trace's spans into several.
func spanSet(hs querier.HitSpanSet, spss int) *tempopb.SpanSet {
	set := &tempopb.SpanSet{Matched: uint32(len(hs.Spans)), Attributes: keyValues(hs.Attributes)}
	for _, s := range hs.Spans[:min(len(hs.Spans), spss)] {
		set.Spans = append(set.Spans, &tempopb.Span{
			SpanID:            hex.EncodeToString(s.SpanID[:]),
			Name:              s.Name,
			StartTimeUnixNano: s.StartUnixNano,
			DurationNanos:     uint64(s.DurationNanos),
			Attributes:        keyValues(s.Attributes),
		})
	}
	return set
}

// keyValues returns values as OTLP attributes; durations are nanoseconds,
// statuses and kinds their TraceQL names, and nil values left out.
func keyValues(kvs []traceql.KeyValue) []*common.KeyValue {
	out := make([]*common.KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		if kv.Value.Type() != traceql.TypeNil {
			out = append(out, &common.KeyValue{Key: kv.Key, Value: anyValue(kv.Value, false)})
		}
	}
	return out
}

// anyValue returns v as an OTLP value: strings, numbers and booleans as
// themselves, statuses and kinds by name, durations in nanoseconds or, as
// a series label has them in Tempo (asText), as text, and nil as the text
// "nil".
func anyValue(v traceql.Value, asText bool) *common.AnyValue {
	switch v.Type() {
	case traceql.TypeString:
		return &common.AnyValue{Value: &common.AnyValue_StringValue{StringValue: v.Str()}}
	case traceql.TypeInt:
		return &common.AnyValue{Value: &common.AnyValue_IntValue{IntValue: v.Int()}}
	case traceql.TypeDuration:
		if asText {
			return &common.AnyValue{Value: &common.AnyValue_StringValue{StringValue: v.Duration().String()}}
		}
		return &common.AnyValue{Value: &common.AnyValue_IntValue{IntValue: int64(v.Duration())}}
	case traceql.TypeFloat:
		return &common.AnyValue{Value: &common.AnyValue_DoubleValue{DoubleValue: v.Float()}}
	case traceql.TypeBool:
		return &common.AnyValue{Value: &common.AnyValue_BoolValue{BoolValue: v.Bool()}}
	case traceql.TypeNil:
		return &common.AnyValue{Value: &common.AnyValue_StringValue{StringValue: "nil"}}
	}
	return &common.AnyValue{Value: &common.AnyValue_StringValue{StringValue: v.String()}}
}

// Tempo's search response in JSON, field for field.
type (
	searchResponseBody struct {
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
		DurationMs        uint32                      `json:"durationMs"`
		SpanSet           *spanSetJSON                `json:"spanSet,omitempty"`
		SpanSets          []spanSetJSON               `json:"spanSets"`
		ServiceStats      map[string]serviceStatsJSON `json:"serviceStats,omitempty"`
	}
	spanSetJSON struct {
		Spans      []spanJSON     `json:"spans"`
		Matched    uint32         `json:"matched"`
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
		SpanCount  uint32 `json:"spanCount"`
		ErrorCount uint32 `json:"errorCount,omitempty"`
	}
	keyValueJSON struct {
		Key   string         `json:"key"`
		Value map[string]any `json:"value"`
	}
	// 64-bit counters are strings, as in protobuf JSON.
	searchMetricsJSON struct {
		InspectedTraces uint32 `json:"inspectedTraces"`
		InspectedBytes  string `json:"inspectedBytes"`
		InspectedSpans  string `json:"inspectedSpans"`
		TotalBlocks     uint32 `json:"totalBlocks"`
		TotalBlockBytes string `json:"totalBlockBytes"`
		CompletedJobs   uint32 `json:"completedJobs"`
		TotalJobs       uint32 `json:"totalJobs"`
	}
)

// searchMetricsOfJSON renders a query's metrics in Tempo's JSON.
func searchMetricsOfJSON(m *tempopb.SearchMetrics) searchMetricsJSON {
	return searchMetricsJSON{
		InspectedTraces: m.GetInspectedTraces(),
		InspectedBytes:  strconv.FormatUint(m.GetInspectedBytes(), 10),
		InspectedSpans:  strconv.FormatUint(m.GetInspectedSpans(), 10),
		TotalBlocks:     m.GetTotalBlocks(),
		TotalBlockBytes: strconv.FormatUint(m.GetTotalBlockBytes(), 10),
		CompletedJobs:   m.GetCompletedJobs(),
		TotalJobs:       m.GetTotalJobs(),
	}
}

// searchResponseJSON renders a search response in Tempo's JSON.
func searchResponseJSON(res *tempopb.SearchResponse) searchResponseBody {
	out := searchResponseBody{
		Traces:  make([]traceSearchMetadata, 0, len(res.Traces)),
		Metrics: searchMetricsOfJSON(res.GetMetrics()),
		Message: res.Message,
	}
	if res.Status != tempopb.PartialStatus_COMPLETE {
		out.Status = res.Status.String()
	}
	for _, tr := range res.Traces {
		sets := make([]spanSetJSON, 0, len(tr.SpanSets))
		for _, set := range tr.SpanSets {
			sets = append(sets, spanSetOfJSON(set))
		}
		stats := make(map[string]serviceStatsJSON, len(tr.ServiceStats))
		for svc, st := range tr.ServiceStats {
			stats[svc] = serviceStatsJSON{SpanCount: st.SpanCount, ErrorCount: st.ErrorCount}
		}
		meta := traceSearchMetadata{
			TraceID:           tr.TraceID,
			RootServiceName:   tr.RootServiceName,
			RootTraceName:     tr.RootTraceName,
			StartTimeUnixNano: strconv.FormatUint(tr.StartTimeUnixNano, 10),
			DurationMs:        tr.DurationMs,
			SpanSets:          sets,
			ServiceStats:      stats,
		}
		if tr.SpanSet != nil {
			set := spanSetOfJSON(tr.SpanSet)
			meta.SpanSet = &set
		}
		out.Traces = append(out.Traces, meta)
	}
	return out
}

func spanSetOfJSON(set *tempopb.SpanSet) spanSetJSON {
	out := spanSetJSON{Spans: make([]spanJSON, 0, len(set.Spans)), Matched: set.Matched, Attributes: keyValuesJSON(set.Attributes)}
	for _, s := range set.Spans {
		out.Spans = append(out.Spans, spanJSON{
			SpanID:            s.SpanID,
			Name:              s.Name,
			StartTimeUnixNano: strconv.FormatUint(s.StartTimeUnixNano, 10),
			DurationNanos:     strconv.FormatUint(s.DurationNanos, 10),
			Attributes:        keyValuesJSON(s.Attributes),
		})
	}
	return out
}

// keyValuesJSON renders attributes as OTLP JSON does, 64-bit integers as
// strings.
func keyValuesJSON(kvs []*common.KeyValue) []keyValueJSON {
	out := make([]keyValueJSON, 0, len(kvs))
	for _, kv := range kvs {
		var v map[string]any
		switch x := kv.GetValue().GetValue().(type) {
		case *common.AnyValue_StringValue:
			v = map[string]any{"stringValue": x.StringValue}
		case *common.AnyValue_IntValue:
			v = map[string]any{"intValue": strconv.FormatInt(x.IntValue, 10)}
		case *common.AnyValue_DoubleValue:
			v = map[string]any{"doubleValue": x.DoubleValue}
		case *common.AnyValue_BoolValue:
			v = map[string]any{"boolValue": x.BoolValue}
		default:
			continue
		}
		out = append(out, keyValueJSON{Key: kv.Key, Value: v})
	}
	return out
}
