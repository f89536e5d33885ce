package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spanlog/spanlog/internal/querybench"
)

// Output formats of the search subcommand.
const (
	outputText = "text"
	outputJSON = "json"
)

// runSearch is the search subcommand: it runs TraceQL queries through
// /api/search and prints their latencies. Its exit status is 0 when every
// query succeeded, 1 when one failed, 2 on bad flags.
func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, output, err := parseSearchFlags(args, stderr, time.Now())
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "spanlog-loadgen search:", err)
		return 2
	}
	if output == outputText {
		sizes := fmt.Sprintf("limit %d, spss %d", cfg.Limit, cfg.SpansPerSpanSet)
		if cfg.Step > 0 {
			sizes = "metrics queries of step " + cfg.Step.String()
		}
		fmt.Fprintf(stdout, "searching %s%s from %s to %s (%s), %s, %d runs of each query\n",
			cfg.Endpoint, tenantText(cfg.Tenant), cfg.Start.UTC().Format(time.RFC3339), cfg.End.UTC().Format(time.RFC3339),
			cfg.End.Sub(cfg.Start).Round(time.Second), sizes, cfg.Repeat)
	}
	rep, err := querybench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "spanlog-loadgen search:", err)
		return 1
	}
	if output == outputJSON {
		if err := printSearchJSON(stdout, cfg, rep); err != nil {
			fmt.Fprintln(stderr, "spanlog-loadgen search:", err)
			return 1
		}
	} else {
		printSearchTable(stdout, rep, cfg.Step > 0)
	}
	if slices.ContainsFunc(rep.Queries, func(r querybench.QueryResult) bool { return r.Failed() }) {
		return 1
	}
	return 0
}

// parseSearchFlags reads the search subcommand's flags; now ends the
// window -since gives.
func parseSearchFlags(args []string, stderr io.Writer, now time.Time) (querybench.Config, string, error) {
	cfg := querybench.DefaultConfig()
	output := outputText
	var queries string
	var start, end int64
	since := time.Hour
	fs := flag.NewFlagSet("spanlog-loadgen search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint, "query API base URL; a bare host:port means http://host:port")
	fs.StringVar(&cfg.Tenant, "tenant", cfg.Tenant, "tenant sent as X-Scope-OrgID; empty sends none")
	fs.IntVar(&cfg.Repeat, "repeat", cfg.Repeat, "runs of each query; the table shows their median, min and max")
	fs.IntVar(&cfg.Limit, "limit", cfg.Limit, "search limit: most traces per answer (Grafana's default 20)")
	fs.IntVar(&cfg.SpansPerSpanSet, "spss", cfg.SpansPerSpanSet, "spans per span set (Grafana's default 3)")
	fs.Int64Var(&start, "start", 0, "window start in unix seconds; 0 means -since before -end")
	fs.Int64Var(&end, "end", 0, "window end in unix seconds; 0 means now")
	fs.DurationVar(&since, "since", since, "window length when -start is not given (Grafana's default: the last hour)")
	fs.StringVar(&queries, "queries", "", "file of TraceQL queries, one a line (blank lines and lines starting with # skipped); empty runs the default ten")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "longest wait for one answer; past it the query counts as failed")
	fs.DurationVar(&cfg.Step, "step", 0, "a step makes each query a TraceQL metrics query (/api/metrics/query_range); with no -queries, Traces Drilldown's")
	fs.StringVar(&output, "o", output, "output: text (a table) or json")
	if err := fs.Parse(args); err != nil {
		return cfg, output, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case fs.NArg() > 0:
		return cfg, output, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case output != outputText && output != outputJSON:
		return cfg, output, fmt.Errorf("-o must be %s or %s, got %q", outputText, outputJSON, output)
	case start < 0 || end < 0:
		return cfg, output, errors.New("-start and -end must not be negative")
	case set["since"] && set["start"]:
		return cfg, output, errors.New("give -start or -since, not both")
	case since <= 0:
		return cfg, output, fmt.Errorf("-since must be positive, got %v", since)
	case cfg.Step < 0:
		return cfg, output, fmt.Errorf("-step must be positive, got %v", cfg.Step)
	}
	if cfg.Step > 0 {
		cfg.Queries = querybench.DrilldownQueries()
	}
	// Whole seconds, as Grafana sends them.
	cfg.End = now.Add(time.Second - 1).Truncate(time.Second)
	if end > 0 {
		cfg.End = time.Unix(end, 0)
	}
	cfg.Start = cfg.End.Add(-since)
	if start > 0 {
		cfg.Start = time.Unix(start, 0)
	}
	if !strings.Contains(cfg.Endpoint, "://") {
		cfg.Endpoint = "http://" + cfg.Endpoint
	}
	if queries != "" {
		qs, err := readQueries(queries)
		if err != nil {
			return cfg, output, err
		}
		cfg.Queries = qs
	}
	return cfg, output, nil
}

// readQueries reads a file of queries, one a line.
func readQueries(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var qs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if q := strings.TrimSpace(sc.Text()); q != "" && !strings.HasPrefix(q, "#") {
			qs = append(qs, q)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("%s holds no query", path)
	}
	return qs, nil
}

func tenantText(tenant string) string {
	if tenant == "" {
		return ""
	}
	return " as tenant " + tenant
}

// printSearchTable prints a row per query, then what went wrong, then the
// spread of the medians, the figure issue 11 compares with Tempo's.
func printSearchTable(w io.Writer, rep *querybench.Report, metrics bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	found := "traces"
	if metrics {
		found = "series"
	}
	fmt.Fprintln(tw, "query\tmedian\tmin\tmax\t"+found+"\tinspected traces\tinspected bytes")
	var medians []time.Duration
	var notes []string
	for _, r := range rep.Queries {
		if r.Failed() {
			fmt.Fprintf(tw, "%s\tFAILED\t\t\t\t\t\n", r.Query)
			notes = append(notes, fmt.Sprintf("FAILED %s%s: %v", r.Query, succeededText(r.Latencies), r.Err))
			continue
		}
		medians = append(medians, r.Median())
		inspTraces, inspBytes := "-", "-"
		if r.Metrics != nil {
			inspTraces, inspBytes = strconv.FormatInt(int64(r.Metrics.InspectedTraces), 10), bytesText(int64(r.Metrics.InspectedBytes))
		}
		traces := strconv.Itoa(r.Traces)
		if r.Partial != "" {
			traces += " PARTIAL"
			notes = append(notes, fmt.Sprintf("PARTIAL %s: %s", r.Query, r.Partial))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Query, msText(r.Median()), msText(r.Min()), msText(r.Max()), traces, inspTraces, inspBytes)
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	if len(medians) > 0 {
		fmt.Fprintf(w, "medians of %d queries: %s to %s, median %s\n", len(medians),
			msText(slices.Min(medians)), msText(slices.Max(medians)), msText(querybench.Median(medians)))
	}
}

// succeededText lists the latencies of the runs of a failed query that
// succeeded before it failed.
func succeededText(ls []time.Duration) string {
	if len(ls) == 0 {
		return ""
	}
	texts := make([]string, len(ls))
	for i, l := range ls {
		texts[i] = msText(l)
	}
	return " (after runs of " + strings.Join(texts, ", ") + ")"
}

// msText writes d in milliseconds, with a decimal below 100 ms.
func msText(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 100 {
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
}

// bytesText writes n in the largest decimal unit that keeps it at or above 1.
func bytesText(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return strconv.FormatInt(n, 10) + " B"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}

// searchJSON is the -o json output.
type searchJSON struct {
	Endpoint string            `json:"endpoint"`
	Tenant   string            `json:"tenant,omitempty"`
	Start    int64             `json:"start"`
	End      int64             `json:"end"`
	Limit    int               `json:"limit"`
	Spss     int               `json:"spss"`
	Repeat   int               `json:"repeat"`
	Queries  []queryResultJSON `json:"queries"`
}

type queryResultJSON struct {
	Query           string    `json:"query"`
	LatenciesMs     []float64 `json:"latenciesMs"`
	MedianMs        float64   `json:"medianMs"`
	MinMs           float64   `json:"minMs"`
	MaxMs           float64   `json:"maxMs"`
	Traces          int       `json:"traces"`
	InspectedTraces *int64    `json:"inspectedTraces,omitempty"`
	InspectedBytes  *int64    `json:"inspectedBytes,omitempty"`
	Partial         string    `json:"partial,omitempty"`
	Error           string    `json:"error,omitempty"`
}

func printSearchJSON(w io.Writer, cfg querybench.Config, rep *querybench.Report) error {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	out := searchJSON{
		Endpoint: cfg.Endpoint, Tenant: cfg.Tenant, Start: cfg.Start.Unix(), End: cfg.End.Unix(),
		Limit: cfg.Limit, Spss: cfg.SpansPerSpanSet, Repeat: cfg.Repeat,
		Queries: make([]queryResultJSON, 0, len(rep.Queries)),
	}
	for _, r := range rep.Queries {
		q := queryResultJSON{
			Query: r.Query, LatenciesMs: make([]float64, 0, len(r.Latencies)),
			MedianMs: ms(r.Median()), MinMs: ms(r.Min()), MaxMs: ms(r.Max()),
			Traces: r.Traces, Partial: r.Partial,
		}
		for _, l := range r.Latencies {
			q.LatenciesMs = append(q.LatenciesMs, ms(l))
		}
		if r.Metrics != nil {
			t, b := int64(r.Metrics.InspectedTraces), int64(r.Metrics.InspectedBytes)
			q.InspectedTraces, q.InspectedBytes = &t, &b
		}
		if r.Err != nil {
			q.Error = r.Err.Error()
		}
		out.Queries = append(out.Queries, q)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
