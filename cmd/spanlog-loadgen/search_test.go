package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/querybench"
)

func TestParseSearchFlags(t *testing.T) {
	now := time.Unix(1_800_000_000, 300_000_000)
	queries := filepath.Join(t.TempDir(), "queries")
	if err := os.WriteFile(queries, []byte("# issue 11\n{}\n\n  {status=error}  \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("# nothing\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		change func(*querybench.Config) // applied to DefaultConfig for the want
		output string
		err    string
	}{
		{
			name: "defaults: Grafana's last hour, to the second",
			change: func(c *querybench.Config) {
				c.Start, c.End = time.Unix(1_799_996_401, 0), time.Unix(1_800_000_001, 0)
			},
		},
		{
			name: "a window",
			args: []string{"-start", "1700000000", "-end", "1700000600"},
			change: func(c *querybench.Config) {
				c.Start, c.End = time.Unix(1_700_000_000, 0), time.Unix(1_700_000_600, 0)
			},
		},
		{
			name: "since, before an end",
			args: []string{"-since", "10m", "-end", "1700000600"},
			change: func(c *querybench.Config) {
				c.Start, c.End = time.Unix(1_700_000_000, 0), time.Unix(1_700_000_600, 0)
			},
		},
		{
			name: "every other flag",
			args: []string{"-endpoint", "127.0.0.1:9", "-tenant", "t1", "-repeat", "2", "-limit", "50", "-spss", "4",
				"-queries", queries, "-request-timeout", "3s", "-o", "json"},
			change: func(c *querybench.Config) {
				c.Start, c.End = time.Unix(1_799_996_401, 0), time.Unix(1_800_000_001, 0)
				c.Endpoint, c.Tenant, c.Repeat, c.Limit, c.SpansPerSpanSet = "http://127.0.0.1:9", "t1", 2, 50, 4
				c.Queries, c.RequestTimeout = []string{"{}", "{status=error}"}, 3*time.Second
			},
			output: outputJSON,
		},
		{
			name: "a step: Traces Drilldown's metrics queries",
			args: []string{"-step", "1m"},
			change: func(c *querybench.Config) {
				c.Start, c.End = time.Unix(1_799_996_401, 0), time.Unix(1_800_000_001, 0)
				c.Step, c.Queries = time.Minute, querybench.DrilldownQueries()
			},
		},
		{
			name: "a step and queries",
			args: []string{"-step", "30s", "-queries", queries},
			change: func(c *querybench.Config) {
				c.Start, c.End = time.Unix(1_799_996_401, 0), time.Unix(1_800_000_001, 0)
				c.Step, c.Queries = 30*time.Second, []string{"{}", "{status=error}"}
			},
		},
		{name: "negative step", args: []string{"-step", "-1s"}, err: "-step must be positive"},
		{name: "since and start", args: []string{"-since", "1h", "-start", "1"}, err: "not both"},
		{name: "since not positive", args: []string{"-since", "0s"}, err: "-since must be positive"},
		{name: "negative start", args: []string{"-start", "-5"}, err: "negative"},
		{name: "unknown output", args: []string{"-o", "yaml"}, err: "-o must be"},
		{name: "stray argument", args: []string{"{}"}, err: "unexpected arguments"},
		{name: "bad number", args: []string{"-repeat", "many"}, err: "invalid value"},
		{name: "missing queries file", args: []string{"-queries", filepath.Join(t.TempDir(), "none")}, err: "no such file"},
		{name: "queries file without a query", args: []string{"-queries", empty}, err: "holds no query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, output, err := parseSearchFlags(tt.args, io.Discard, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one about %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := querybench.DefaultConfig()
			tt.change(&want)
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("got %+v, want %+v", cfg, want)
			}
			if wantOutput := cmp.Or(tt.output, outputText); output != wantOutput {
				t.Errorf("output %q, want %q", output, wantOutput)
			}
		})
	}
}

// fakeSearch answers every search with n traces, but for the queries in
// fail, answered with 400 and a reason.
func fakeSearch(t *testing.T, n int, fail ...string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("q")
		for _, f := range fail {
			if q == f {
				http.Error(w, "q: cannot parse "+q, http.StatusBadRequest)
				return
			}
		}
		traces := make([]string, n)
		for i := range traces {
			traces[i] = fmt.Sprintf(`{"traceID": "%x"}`, i+1)
		}
		fmt.Fprintf(w, `{"traces": [%s], "metrics": {"inspectedTraces": 140000, "inspectedBytes": "123456789"}}`, strings.Join(traces, ","))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRunSearchPrintsATable(t *testing.T) {
	endpoint := fakeSearch(t, 20)
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"search", "-endpoint", endpoint, "-repeat", "2"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit status %d, stderr: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "searching "+endpoint) || !strings.Contains(lines[0], "limit 20, spss 3, 2 runs") {
		t.Errorf("first line %q does not say what is searched", lines[0])
	}
	if !strings.HasPrefix(lines[1], "query ") || !strings.Contains(lines[1], "median") {
		t.Errorf("no header: %q", lines[1])
	}
	rows := lines[2 : len(lines)-1]
	if len(rows) != len(querybench.DefaultQueries()) {
		t.Fatalf("%d rows, want one per default query:\n%s", len(rows), out.String())
	}
	for i, q := range querybench.DefaultQueries() {
		if !strings.HasPrefix(rows[i], q+" ") || !strings.Contains(rows[i], " ms ") ||
			!strings.Contains(rows[i], " 20 ") || !strings.Contains(rows[i], "140000") || !strings.HasSuffix(rows[i], "123.5 MB") {
			t.Errorf("row %q: want the query, latencies, 20 traces and the metrics", rows[i])
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "medians of 10 queries: ") {
		t.Errorf("last line %q, want the spread of the medians", last)
	}
}

func TestRunSearchShowsAFailedQueryAsFailed(t *testing.T) {
	endpoint := fakeSearch(t, 3, "{ bad }")
	queries := filepath.Join(t.TempDir(), "queries")
	if err := os.WriteFile(queries, []byte("{ good }\n{ bad }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := run(t.Context(), []string{"search", "-endpoint", endpoint, "-queries", queries}, &out, io.Discard)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	var bad string
	for line := range strings.Lines(out.String()) {
		if strings.HasPrefix(line, "{ bad } ") {
			bad = line
		}
	}
	if strings.Contains(bad, " ms") || !strings.Contains(bad, "FAILED") {
		t.Errorf("row of the failed query %q: want FAILED and no latency", bad)
	}
	if want := "FAILED { bad }: HTTP 400: q: cannot parse { bad }"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	if want := "medians of 1 queries"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q: the failed query has no median\n%s", want, out.String())
	}
}

func TestRunSearchWritesJSON(t *testing.T) {
	endpoint := fakeSearch(t, 20, "{ bad }")
	queries := filepath.Join(t.TempDir(), "queries")
	if err := os.WriteFile(queries, []byte("{ good }\n{ bad }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := run(t.Context(), []string{"search", "-endpoint", endpoint, "-queries", queries, "-repeat", "3",
		"-start", "1700000000", "-end", "1700003600", "-tenant", "t1", "-o", "json"}, &out, io.Discard)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	var got searchJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v in:\n%s", err, out.String())
	}
	if got.Endpoint != endpoint || got.Tenant != "t1" || got.Start != 1_700_000_000 || got.End != 1_700_003_600 ||
		got.Limit != 20 || got.Spss != 3 || got.Repeat != 3 || len(got.Queries) != 2 {
		t.Fatalf("got %+v", got)
	}
	good, bad := got.Queries[0], got.Queries[1]
	if good.Query != "{ good }" || len(good.LatenciesMs) != 3 || good.MedianMs <= 0 || good.MinMs > good.MedianMs ||
		good.MaxMs < good.MedianMs || good.Traces != 20 || good.Error != "" ||
		good.InspectedTraces == nil || *good.InspectedTraces != 140000 || good.InspectedBytes == nil || *good.InspectedBytes != 123456789 {
		t.Errorf("good query: %+v", good)
	}
	if bad.Query != "{ bad }" || len(bad.LatenciesMs) != 0 || bad.MedianMs != 0 || !strings.HasPrefix(bad.Error, "HTTP 400: ") {
		t.Errorf("failed query: %+v", bad)
	}
}

func TestRunSearchRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"search", "-repeat", "0"},
		{"search", "-start", "1700000600", "-end", "1700000000"},
		{"search", "-o", "csv"},
		{"search", "-endpoint", "ftp://h"},
	} {
		var errOut bytes.Buffer
		if code := run(t.Context(), args, io.Discard, &errOut); code != 2 {
			t.Errorf("%v: exit status %d, want 2", args, code)
		}
		if !strings.Contains(errOut.String(), "spanlog-loadgen search") {
			t.Errorf("%v: stderr %q does not say what failed", args, errOut.String())
		}
	}
}
