package api

import (
	"context"
	"encoding/hex"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	common "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
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
	tenants, err := a.readTenants(r)
	if err != nil {
		return err
	}
	res, err := a.MetricsQueryRange(r.Context(), tenants, r.URL.Query())
	if err != nil {
		return err
	}
	return writeJSON(w, a.q.ResponseLimit(tenants), rangeResponseJSON(res))
}

// handleMetricsQueryInstant answers GET /api/metrics/query with Tempo's
// QueryInstantResponse: one value per series over the whole range.
func (a *API) handleMetricsQueryInstant(w http.ResponseWriter, r *http.Request) error {
	tenants, err := a.readTenants(r)
	if err != nil {
		return err
	}
	res, err := a.MetricsQueryInstant(r.Context(), tenants, r.URL.Query())
	if err != nil {
		return err
	}
	return writeJSON(w, a.q.ResponseLimit(tenants), instantResponseJSON(res))
}

// MetricsQueryRange answers the TraceQL metrics query of params (those
// of GET /api/metrics/query_range) over tenants, as Tempo's message,
// which every protocol sends: in protobuf as it is, in JSON as
// rangeResponseJSON renders it.
func (a *API) MetricsQueryRange(ctx context.Context, tenants []string, params url.Values) (*tempopb.QueryRangeResponse, error) {
	res, err := a.metricsQuery(ctx, tenants, params, false)
	if err != nil {
		return nil, err
	}
	out := &tempopb.QueryRangeResponse{Series: make([]*tempopb.TimeSeries, 0, len(res.Series)), Metrics: searchMetrics(res.Metrics)}
	if res.Partial.IsPartial() {
		out.Status, out.Message = tempopb.PartialStatus_PARTIAL, res.Partial.Message()
	}
	for i := range res.Series {
		s := &res.Series[i]
		ts := &tempopb.TimeSeries{Labels: seriesLabels(s.Labels), PromLabels: s.PromLabels(), Samples: make([]*tempopb.Sample, 0, len(s.Samples))}
		for _, smp := range s.Samples {
			ts.Samples = append(ts.Samples, &tempopb.Sample{TimestampMs: smp.TimestampMs, Value: smp.Value})
		}
		for _, e := range s.Exemplars {
			ts.Exemplars = append(ts.Exemplars, &tempopb.Exemplar{
				Labels: []*common.KeyValue{
					stringLabel("trace:id", hex.EncodeToString(e.TraceID[:])),
					stringLabel("span:id", hex.EncodeToString(e.SpanID[:])),
				},
				Value:       e.Value,
				TimestampMs: e.TimestampMs,
			})
		}
		out.Series = append(out.Series, ts)
	}
	return out, nil
}

// MetricsQueryInstant answers the TraceQL metrics query of params (those
// of GET /api/metrics/query) over tenants, as Tempo's message.
func (a *API) MetricsQueryInstant(ctx context.Context, tenants []string, params url.Values) (*tempopb.QueryInstantResponse, error) {
	res, err := a.metricsQuery(ctx, tenants, params, true)
	if err != nil {
		return nil, err
	}
	out := &tempopb.QueryInstantResponse{Series: make([]*tempopb.InstantSeries, 0, len(res.Series)), Metrics: searchMetrics(res.Metrics)}
	if res.Partial.IsPartial() {
		out.Status, out.Message = tempopb.PartialStatus_PARTIAL, res.Partial.Message()
	}
	for i := range res.Series {
		s := &res.Series[i]
		out.Series = append(out.Series, &tempopb.InstantSeries{Labels: seriesLabels(s.Labels), Value: s.Samples[0].Value, PromLabels: s.PromLabels()})
	}
	return out, nil
}

func (a *API) metricsQuery(ctx context.Context, tenants []string, params url.Values, instant bool) (*querier.MetricsResult, error) {
	req, err := parseMetricsRequest(params, time.Now(), instant)
	if err != nil {
		return nil, err
	}
	tr := querier.TimeRange{Start: time.Unix(0, int64(req.Start)), End: time.Unix(0, int64(req.End))}
	if _, err := a.q.SearchWindow(tenants, tr); err != nil {
		return nil, err
	}
	if instant {
		return a.q.MetricsQueryInstant(ctx, tenants, req)
	}
	return a.q.MetricsQueryRange(ctx, tenants, req)
}

// parseMetricsRequest reads q, start, end, since, step and exemplars as
// Tempo does: start and end in unix seconds (or milliseconds, or
// nanoseconds, told apart by size) or RFC 3339; since a duration before
// now when start is not given; step a duration or seconds, by default
// about 240 steps over the range.
func parseMetricsRequest(params url.Values, now time.Time, instant bool) (querier.MetricsRequest, error) {
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

func rangeResponseJSON(res *tempopb.QueryRangeResponse) rangeResponse {
	out := rangeResponse{Series: make([]rangeSeriesJSON, 0, len(res.Series)), Metrics: searchMetricsOfJSON(res.Metrics), Message: res.Message}
	if res.Status != tempopb.PartialStatus_COMPLETE {
		out.Status = res.Status.String()
	}
	for _, s := range res.Series {
		js := rangeSeriesJSON{Labels: keyValuesJSON(s.Labels), PromLabels: s.PromLabels, Samples: make([]sampleJSON, 0, len(s.Samples))}
		for _, smp := range s.Samples {
			js.Samples = append(js.Samples, sampleJSON{TimestampMs: strconv.FormatInt(smp.TimestampMs, 10), Value: smp.Value})
		}
		for _, e := range s.Exemplars {
			js.Exemplars = append(js.Exemplars, exemplarJSON{Labels: keyValuesJSON(e.Labels), Value: e.Value, TimestampMs: strconv.FormatInt(e.TimestampMs, 10)})
		}
		out.Series = append(out.Series, js)
	}
	return out
}

func instantResponseJSON(res *tempopb.QueryInstantResponse) instantResponse {
	out := instantResponse{Series: make([]instantSeriesJSON, 0, len(res.Series)), Metrics: searchMetricsOfJSON(res.Metrics), Message: res.Message}
	if res.Status != tempopb.PartialStatus_COMPLETE {
		out.Status = res.Status.String()
	}
	for _, s := range res.Series {
		out.Series = append(out.Series, instantSeriesJSON{Labels: keyValuesJSON(s.Labels), Value: s.Value, PromLabels: s.PromLabels})
	}
	return out
}

// seriesLabels returns series labels as Tempo has them (see anyValue):
// durations as text, nil as the text "nil".
func seriesLabels(labels []querier.MetricsLabel) []*common.KeyValue {
	out := make([]*common.KeyValue, 0, len(labels))
	for _, l := range labels {
		out = append(out, &common.KeyValue{Key: l.Key, Value: anyValue(l.Value, true)})
	}
	return out
}

func stringLabel(key, value string) *common.KeyValue {
	return &common.KeyValue{Key: key, Value: &common.AnyValue{Value: &common.AnyValue_StringValue{StringValue: value}}}
}
