package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spanlog/spanlog/tenant"
)

func queryTool() tool {
	return tool{
		name:    "query",
		summary: "ask a querier's HTTP API for a trace, a TraceQL search, or tag names and values",
		run:     runQuery,
	}
}

const queryUsage = `usage:
  spanlog query trace [flags] <trace-id>       a trace, as a tree of its spans
  spanlog query search [flags] ['<traceql>']   the traces a TraceQL query matches ({} when none is given)
  spanlog query tags [flags]                   tag names, by scope
  spanlog query tags [flags] <tag>             a tag's values (resource.service.name, span.http.route, status...)

They ask the HTTP API Grafana asks (Tempo's), on any spanlog process that
runs a querier. Tables on a terminal are cut to its width; piped, they are
printed whole. Flags:
`

// queryCommand is one run of spanlog query.
type queryCommand struct {
	addr    string
	tenant  string
	timeout time.Duration
	// maxBytes bounds the answer read: the querier is a server on the
	// network, and its answer is read whole before it is printed.
	maxBytes int64
	// start and end bound the time searched, as the command line gave
	// them.
	start, end string
	limit      int
	spss       int
	// minDuration and maxDuration bound the traces a search returns.
	minDuration, maxDuration time.Duration
	scope, q                 string

	out    *output
	errOut io.Writer
	client *http.Client
	now    time.Time
}

func runQuery(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(errOut, queryUsage)
		return errors.New("name a command: trace, search or tags")
	}
	sub, args := args[0], args[1:]
	c := &queryCommand{errOut: errOut, now: time.Now()}
	fs := flag.NewFlagSet("spanlog query "+sub, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&c.addr, "addr", "http://127.0.0.1:3200", "HTTP address of a spanlog querier (its server.http-listen-address).")
	fs.StringVar(&c.tenant, "tenant", "", "Tenant to read, sent as X-Scope-OrgID: needed when multi-tenancy is on; a|b reads several.")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "Longest time to wait for the answer.")
	fs.Int64Var(&c.maxBytes, "max-bytes", 256<<20, "Largest answer read, in bytes; a larger one is an error.")
	format := fs.String("o", formatTable, "Output format: table, or json (the API's answer as it is).")
	timeRange := func() {
		fs.StringVar(&c.start, "start", "", "Earliest time to read: RFC 3339 (2026-12-05T14:00:00Z), unix seconds, or a duration before now (1h).")
		fs.StringVar(&c.end, "end", "", "Latest time to read, as -start (default: now).")
	}
	var run func(context.Context, []string) error
	switch sub {
	case "trace":
		timeRange()
		run = c.trace
	case "search":
		timeRange()
		fs.IntVar(&c.limit, "limit", 20, "Most traces to return.")
		fs.IntVar(&c.spss, "spss", 3, "Most matching spans to return per trace.")
		fs.DurationVar(&c.minDuration, "min-duration", 0, "Only traces lasting at least this long (0: any).")
		fs.DurationVar(&c.maxDuration, "max-duration", 0, "Only traces lasting at most this long (0: any).")
		run = c.search
	case "tags":
		timeRange()
		fs.StringVar(&c.scope, "scope", "", "Scope of the tag names: span, resource, intrinsic, event, link or instrumentation (default: span, resource and intrinsic).")
		fs.StringVar(&c.q, "q", "", "TraceQL query: only tags of the spans it matches.")
		fs.IntVar(&c.limit, "limit", 1000, "Most values of a tag to return.")
		run = c.tags
	default:
		fmt.Fprint(errOut, queryUsage)
		return fmt.Errorf("unknown command %q: want trace, search or tags", sub)
	}
	setToolUsage(fs, errOut, queryUsage)
	positional, err := parseToolArgs(fs, args, fs.Parse)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.out, err = newOutput(out, *format); err != nil {
		return err
	}
	if !strings.Contains(c.addr, "://") {
		c.addr = "http://" + c.addr
	}
	if u, err := url.Parse(c.addr); err != nil || u.Host == "" {
		return fmt.Errorf("-addr %q is not an HTTP address such as http://127.0.0.1:3200", c.addr)
	}
	c.addr = strings.TrimRight(c.addr, "/")
	c.client = &http.Client{Timeout: c.timeout}
	return run(ctx, positional)
}

// timeParams adds start and end, as unix seconds, to params.
func (c *queryCommand) timeParams(params url.Values) error {
	for _, p := range []struct{ name, value string }{{"start", c.start}, {"end", c.end}} {
		if p.value == "" {
			continue
		}
		t, err := parseTimeFlag(p.value, c.now)
		if err != nil {
			return fmt.Errorf("-%s: %w", p.name, err)
		}
		params.Set(p.name, strconv.FormatInt(t.Unix(), 10))
	}
	return nil
}

// parseTimeFlag reads an instant given as RFC 3339, unix seconds, or a
// duration before now.
func parseTimeFlag(s string, now time.Time) (time.Time, error) {
	if s == "now" {
		return now, nil
	}
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: give RFC 3339 (2026-12-05T14:00:00Z), unix seconds, or a duration before now (90m)", s)
}

// apiError is an answer of the querier other than 200 OK.
type apiError struct {
	addr   string
	status int
	body   string
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("the querier at %s answered %d %s", e.addr, e.status, http.StatusText(e.status))
	if body := strings.TrimSpace(e.body); body != "" {
		msg += ": " + body
	}
	switch e.status {
	case http.StatusUnauthorized:
		msg += "; multi-tenancy is on: name the tenant with -tenant"
	case http.StatusTooManyRequests:
		msg += "; the tenant has too many queries running: try again in a moment"
	case http.StatusServiceUnavailable:
		msg += "; the querier is not ready (starting, or its Kafka or storage is unreachable): its /ready says why"
	case http.StatusGatewayTimeout:
		msg += "; narrow the query (-start/-end), or raise querier.query-timeout"
	}
	return msg
}

// get asks the querier for path with params, and returns the body of a
// 200 OK answer; another answer is an *apiError.
func (c *queryCommand) get(ctx context.Context, path string, params url.Values) ([]byte, error) {
	u := c.addr + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if c.tenant != "" {
		req.Header.Set(tenant.Header, c.tenant)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if ue, ok := errors.AsType[*url.Error](err); ok && ue.Timeout() {
			return nil, fmt.Errorf("no answer from the querier at %s within -timeout %v: narrow the query (-start/-end), or raise -timeout", c.addr, c.timeout)
		}
		return nil, fmt.Errorf("cannot reach a querier at %s: %w; is spanlog running there with a querier (-target=all or querier)? -addr names its HTTP address (server.http-listen-address)", c.addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s: %w", u, err)
	}
	if int64(len(body)) > c.maxBytes {
		return nil, fmt.Errorf("the answer of %s is over -max-bytes %d: narrow the query (-limit, -start/-end), or raise -max-bytes", u, c.maxBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &apiError{addr: c.addr, status: resp.StatusCode, body: string(body)}
	}
	return body, nil
}

// printBody prints an answer of the API as it came, indented.
func (c *queryCommand) printBody(body []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		return fmt.Errorf("the querier's answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := c.out.w.Write(buf.Bytes())
	return err
}

// warnPartial says on errOut that an answer is PARTIAL, and why.
func (c *queryCommand) warnPartial(status, message string) {
	if status == "PARTIAL" {
		fmt.Fprintf(c.errOut, "warning: the answer is PARTIAL, some data could not be read: %s\n", message)
	}
}

// trace prints one trace.
func (c *queryCommand) trace(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("trace takes one trace ID (32 hex digits), got %d arguments", len(args))
	}
	id := args[0]
	params := url.Values{}
	if err := c.timeParams(params); err != nil {
		return err
	}
	body, err := c.get(ctx, "/api/v2/traces/"+url.PathEscape(id), params)
	if e, ok := errors.AsType[*apiError](err); ok && e.status == http.StatusNotFound {
		where := "tenant " + c.tenantName()
		if c.start != "" || c.end != "" {
			where += ", between -start and -end"
		}
		return fmt.Errorf("trace %s not found (%s): %w; check -tenant and the time range; a trace past its tenant's retention is gone", id, where, err)
	}
	if err != nil {
		return err
	}
	var resp traceResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("decode the trace: %w", err)
	}
	c.warnPartial(resp.Status, resp.Message)
	if c.out.json {
		return c.printBody(body)
	}
	td, err := resp.traces()
	if err != nil {
		return err
	}
	printTraceTree(c.out, id, td)
	return nil
}

// tenantName is the tenant as the querier takes it: the default tenant
// when -tenant is not given and multi-tenancy is off.
func (c *queryCommand) tenantName() string {
	if c.tenant == "" {
		return "default (no -tenant)"
	}
	return c.tenant
}

// search prints the traces a TraceQL query matches.
func (c *queryCommand) search(ctx context.Context, args []string) error {
	if len(args) > 1 {
		return fmt.Errorf("search takes one TraceQL query, got %d arguments: quote it ('{ span.http.status_code >= 500 }')", len(args))
	}
	params := url.Values{}
	if len(args) == 1 {
		params.Set("q", args[0])
	}
	if err := c.timeParams(params); err != nil {
		return err
	}
	params.Set("limit", strconv.Itoa(c.limit))
	params.Set("spss", strconv.Itoa(c.spss))
	if c.minDuration > 0 {
		params.Set("minDuration", c.minDuration.String())
	}
	if c.maxDuration > 0 {
		params.Set("maxDuration", c.maxDuration.String())
	}
	body, err := c.get(ctx, "/api/search", params)
	if err != nil {
		return err
	}
	var resp searchResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("decode the search answer: %w", err)
	}
	c.warnPartial(resp.Status, resp.Message)
	if c.out.json {
		return c.printBody(body)
	}
	printSearch(c.out, &resp, c.limit)
	return nil
}

// tags prints tag names, or the values of one tag.
func (c *queryCommand) tags(ctx context.Context, args []string) error {
	if len(args) > 1 {
		return fmt.Errorf("tags takes at most one tag, whose values to list; got %d arguments", len(args))
	}
	params := url.Values{}
	if err := c.timeParams(params); err != nil {
		return err
	}
	if c.q != "" {
		params.Set("q", c.q)
	}
	var (
		body []byte
		err  error
	)
	if len(args) == 0 {
		if c.scope != "" {
			params.Set("scope", c.scope)
		}
		body, err = c.get(ctx, "/api/v2/search/tags", params)
	} else {
		params.Set("limit", strconv.Itoa(c.limit))
		body, err = c.get(ctx, "/api/v2/search/tag/"+url.PathEscape(args[0])+"/values", params)
	}
	if err != nil {
		return err
	}
	if c.out.json {
		return c.printBody(body)
	}
	if len(args) == 0 {
		var resp tagNamesResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			return fmt.Errorf("decode the tag names: %w", err)
		}
		printTagNames(c.out, &resp)
		return nil
	}
	var resp tagValuesResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("decode the tag values: %w", err)
	}
	printTagValues(c.out, args[0], &resp, c.limit)
	return nil
}
