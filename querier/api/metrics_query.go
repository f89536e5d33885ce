package api

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/traceql"
)

// Metrics query defaults and bounds.
const (
	// defaultMetricsSince is the range of a request with neither start
	// nor end nor since, as Tempo's.
	defaultMetricsSince = time.Hour
	// defaultExemplars and maxExemplars bound the exemplars of an
	// answer, as Tempo's query frontend does by default.
	defaultExemplars = 100
	maxExemplars     = 1000
)

// handleMetricsQueryRange answers GET /api/metrics/query_range with
// Tempo's QueryRangeResponse.
func (a *API) handleMetricsQueryRange(w http.ResponseWriter, r *http.Request) error {
	return a.handleMetrics(w, r, false)
}

// handleMetricsQueryInstant answers GET /api/metrics/query with Tempo's
// QueryInstantResponse: one value per series over the whole range.
func (a *API) handleMetricsQueryInstant(w http.ResponseWriter, r *http.Request) error {
	return a.handleMetrics(w, r, true)
}

func (a *API) handleMetrics(w http.ResponseWriter, r *http.Request, instant bool) error {
	tenants, err := a.readTenants(r)
	if err != nil {
		return err
	}
	req, err := parseMetricsRequest(r, time.Now(), instant)
	if err != nil {
		return err
	}
	tr := querier.TimeRange{Start: time.Unix(0, int64(req.Start)), End: time.Unix(0, int64(req.End))}
	if _, err := a.q.SearchWindow(tenants, tr); err != nil {
		return err
	}
	var res *querier.MetricsResult
	if instant {
		res, err = a.q.MetricsQueryInstant(r.Context(), tenants, req)
	} else {
		res, err = a.q.MetricsQueryRange(r.Context(), tenants, req)
	}
	if err != nil {
		return err
	}
	var out any
	if instant {
		out = instantResponseJSON(res)
	} else {
		out = rangeResponseJSON(res)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return write(w, a.q.ResponseLimit(tenants), mediaJSON, body)
}

// parseMetricsRequest reads q, start, end, since, step and exemplars as
// Tempo does: start and end in unix seconds (or milliseconds, or
// nanoseconds, told apart by size) or RFC 3339; since a duration before
// now when start is not given; step a duration or seconds, by default
// about 240 steps over the range.
func parseMetricsRequest(r *http.Request, now time.Time, instant bool) (querier.MetricsRequest, error) {
	params := r.URL.Query()
	var req querier.MetricsRequest
	text := params.Get("q")
	if strings.TrimSpace(text) == "" {
		return req, badRequest("q: a metrics query such as { } | rate() is required")
	}
	query, err := traceql.ParseMetrics(text)
	if err != nil {
		// A search says where it belongs (traceql.ErrNotMetrics).
		return req, badRequest("q: %v", err)
	}
	req.Query = query
	end := now
	if v := params.Get("end"); v != "" {
		if end, err = metricsTime("end", v); err != nil {
			return req, err
		}
	}
	since := defaultMetricsSince
	if v := params.Get("since"); v != "" {
		if since, err = time.ParseDuration(v); err != nil || since <= 0 {
			return req, badRequest("since=%q must be a positive duration such as 1h", v)
		}
	}
	start := end.Add(-since)
	if v := params.Get("start"); v != "" {
		if start, err = metricsTime("start", v); err != nil {
			return req, err
		}
	}
	if !end.After(start) {
		return req, badRequest("end must be after start")
	}
	req.Start, req.End = uint64(start.UnixNano()), uint64(end.UnixNano())
	step := querier.DefaultStep(req.Start, req.End)
	if v := params.Get("step"); v != "" && !instant {
		if step, err = metricsStep(v); err != nil {
			return req, err
		}
	}
	req.Step = uint64(step)
	req.Exemplars = defaultExemplars
	if v := params.Get("exemplars"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxExemplars {
			return req, badRequest("exemplars=%q must be a whole number from 0 to %d", v, maxExemplars)
		}
		req.Exemplars = n
	}
	return req, nil
}

// metricsTime reads a time as Tempo's metrics API takes it.
func metricsTime(name, v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		switch {
		case n < 1e11: // seconds until the year 5138
			return time.Unix(n, 0), nil
		case n < 1e14:
			return time.UnixMilli(n), nil
		}
		return time.Unix(0, n), nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && f < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Time{}, badRequest("%s=%q must be unix seconds, milliseconds or nanoseconds, or RFC 3339", name, v)
}

// metricsStep reads a step: a duration, or seconds.
func metricsStep(v string) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && f < math.MaxInt64/1e9 {
		return time.Duration(f * float64(time.Second)), nil
	}
	return 0, badRequest("step=%q must be a positive duration such as 30s, or seconds", v)
}

// Tempo's QueryRangeResponse and QueryInstantResponse, in protobuf JSON.
type (
	rangeResponse struct {
		Series  []rangeSeriesJSON `json:"series"`
		Metrics searchMetricsJSON `json:"metrics"`
		Status  string            `json:"status,omitempty"`
		Message string            `json:"message,omitempty"`
	}
	rangeSeriesJSON struct {
		Labels     []keyValueJSON `json:"labels"`
		Samples    []sampleJSON   `json:"samples"`
		PromLabels string         `json:"promLabels"`
		Exemplars  []exemplarJSON `json:"exemplars,omitempty"`
	}
	sampleJSON struct {
		TimestampMs string  `json:"timestampMs"`
		Value       float64 `json:"value"`
	}
	exemplarJSON struct {
		Labels      []keyValueJSON `json:"labels"`
		Value       float64        `json:"value"`
		TimestampMs string         `json:"timestampMs"`
	}
	instantResponse struct {
		Series  []instantSeriesJSON `json:"series"`
		Metrics searchMetricsJSON   `json:"metrics"`
		Status  string              `json:"status,omitempty"`
		Message string              `json:"message,omitempty"`
	}
	instantSeriesJSON struct {
		Labels     []keyValueJSON `json:"labels"`
		Value      float64        `json:"value"`
		PromLabels string         `json:"promLabels"`
	}
)

func metricsJSON(m querier.SearchMetrics) searchMetricsJSON {
	return searchMetricsOfJSON(searchMetrics(m))
}

func rangeResponseJSON(res *querier.MetricsResult) rangeResponse {
	out := rangeResponse{Series: make([]rangeSeriesJSON, 0, len(res.Series)), Metrics: metricsJSON(res.Metrics)}
	if res.Partial.IsPartial() {
		out.Status, out.Message = "PARTIAL", res.Partial.Message()
	}
	for i := range res.Series {
		s := &res.Series[i]
		js := rangeSeriesJSON{Labels: labelsJSON(s.Labels), PromLabels: s.PromLabels(), Samples: make([]sampleJSON, 0, len(s.Samples))}
		for _, smp := range s.Samples {
			js.Samples = append(js.Samples, sampleJSON{TimestampMs: strconv.FormatInt(smp.TimestampMs, 10), Value: smp.Value})
		}
		for _, e := range s.Exemplars {
			js.Exemplars = append(js.Exemplars, exemplarJSON{
				Labels: []keyValueJSON{
					{Key: "trace:id", Value: map[string]any{"stringValue": hex.EncodeToString(e.TraceID[:])}},
					{Key: "span:id", Value: map[string]any{"stringValue": hex.EncodeToString(e.SpanID[:])}},
				},
				Value:       e.Value,
				TimestampMs: strconv.FormatInt(e.TimestampMs, 10),
			})
		}
		out.Series = append(out.Series, js)
	}
	return out
}

func instantResponseJSON(res *querier.MetricsResult) instantResponse {
	out := instantResponse{Series: make([]instantSeriesJSON, 0, len(res.Series)), Metrics: metricsJSON(res.Metrics)}
	if res.Partial.IsPartial() {
		out.Status, out.Message = "PARTIAL", res.Partial.Message()
	}
	for i := range res.Series {
		s := &res.Series[i]
		out.Series = append(out.Series, instantSeriesJSON{Labels: labelsJSON(s.Labels), Value: s.Samples[0].Value, PromLabels: s.PromLabels()})
	}
	return out
}

// labelsJSON renders series labels as Tempo does: strings, numbers and
// booleans as themselves, durations, statuses and kinds as strings, nil
// as the string "nil".
func labelsJSON(labels []querier.MetricsLabel) []keyValueJSON {
	out := make([]keyValueJSON, 0, len(labels))
	for _, l := range labels {
		var v map[string]any
		switch l.Value.Type() {
		case traceql.TypeString:
			v = map[string]any{"stringValue": l.Value.Str()}
		case traceql.TypeInt:
			v = map[string]any{"intValue": strconv.FormatInt(l.Value.Int(), 10)}
		case traceql.TypeFloat:
			v = map[string]any{"doubleValue": l.Value.Float()}
		case traceql.TypeBool:
			v = map[string]any{"boolValue": l.Value.Bool()}
		case traceql.TypeDuration:
			v = map[string]any{"stringValue": l.Value.Duration().String()}
		case traceql.TypeNil:
			v = map[string]any{"stringValue": "nil"}
		default: // statuses and kinds by name
			v = map[string]any{"stringValue": l.Value.String()}
		}
		out = append(out, keyValueJSON{Key: l.Key, Value: v})
	}
	return out
}
