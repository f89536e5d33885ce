package querybench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spanlog/spanlog/tenant"
)

// Run runs every query of cfg Repeat times and reports how each went. The
// queries take turns, one run of each per round, so that a moment of
// contention on a shared machine spreads over all of them rather than
// landing on one. A query stops running at its first failure, which its
// result keeps. Run returns an error, and no report, when cfg is not
// valid; when ctx ends, it returns ctx's error and what it measured so far.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: cfg.RequestTimeout}
	defer client.CloseIdleConnections()
	rep := &Report{Queries: make([]QueryResult, len(cfg.Queries))}
	for i, q := range cfg.Queries {
		rep.Queries[i].Query = q
	}
	for range cfg.Repeat {
		for i := range rep.Queries {
			r := &rep.Queries[i]
			if r.Err != nil {
				continue
			}
			took, ans, err := search(ctx, client, cfg, r.Query)
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			if err != nil {
				r.Err = err
				continue
			}
			r.Latencies = append(r.Latencies, took)
			r.Traces, r.Metrics, r.Partial = len(ans.Traces)+len(ans.Series), ans.Metrics, ""
			if ans.Status == statusPartial {
				r.Partial = cmp.Or(ans.Message, statusPartial)
			}
		}
	}
	return rep, nil
}

// statusPartial is the status of an answer that may miss traces.
const statusPartial = "PARTIAL"

// answer is the part of Tempo's search response, or of its metrics
// query's, that Run reads.
type answer struct {
	Traces  []json.RawMessage `json:"traces"`
	Series  []json.RawMessage `json:"series"`
	Metrics *Metrics          `json:"metrics"`
	// Status is "PARTIAL", with Message saying why, when traces may be
	// missing; spanlog's addition to Tempo's response.
	Status  string `json:"status"`
	Message string `json:"message"`
}

// search runs q once and returns how long the answer took, from sending
// the request to having read the whole body, the wait a Grafana user sees.
func search(ctx context.Context, client *http.Client, cfg Config, q string) (time.Duration, *answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, searchURL(cfg, q), nil)
	if err != nil {
		return 0, nil, err
	}
	if cfg.Tenant != "" {
		req.Header.Set(tenant.Header, cfg.Tenant)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
		// Its text repeats the URL, query and all, which the report
		// already names.
		err = uerr.Err
	}
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	resp.Body.Close()
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, nil, &StatusError{Code: resp.StatusCode, Line: firstLine(body)}
	}
	var ans answer
	if err := json.Unmarshal(body, &ans); err != nil {
		return 0, nil, fmt.Errorf("decode answer: %w", err)
	}
	return took, &ans, nil
}

func searchURL(cfg Config, q string) string {
	v := url.Values{}
	v.Set("q", q)
	route := "/api/search?"
	if cfg.Step > 0 {
		route = "/api/metrics/query_range?"
		v.Set("step", cfg.Step.String())
	} else {
		v.Set("limit", strconv.Itoa(cfg.Limit))
		v.Set("spss", strconv.Itoa(cfg.SpansPerSpanSet))
	}
	if !cfg.Start.IsZero() {
		v.Set("start", strconv.FormatInt(cfg.Start.Unix(), 10))
	}
	if !cfg.End.IsZero() {
		// Rounded up, so that the window holds all of the last second.
		v.Set("end", strconv.FormatInt(cfg.End.Add(time.Second-1).Unix(), 10))
	}
	return strings.TrimSuffix(cfg.Endpoint, "/") + route + v.Encode()
}

// StatusError is an answer other than 200 OK.
type StatusError struct {
	Code int
	// Line is the first line of the body, which says why.
	Line string
}

func (e *StatusError) Error() string {
	if e.Line == "" {
		return "HTTP " + strconv.Itoa(e.Code)
	}
	return "HTTP " + strconv.Itoa(e.Code) + ": " + e.Line
}

// firstLine is the first non-blank line of body, cut to a length a table
// row can hold.
func firstLine(body []byte) string {
	const maxLen = 200
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	line = strings.TrimSpace(line)
	if len(line) > maxLen {
		line = strings.ToValidUTF8(line[:maxLen], "") + "…"
	}
	return line
}
