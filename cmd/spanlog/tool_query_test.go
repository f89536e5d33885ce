package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// treeTrace is a trace of a checkout: a root with two children, one with
// a child of its own, and a span whose parent never arrived.
func treeTrace() ptrace.Traces {
	td := ptrace.NewTraces()
	base := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
	add := func(service string, id, parent byte, name string, kind ptrace.SpanKind, start, end time.Duration, code ptrace.StatusCode, msg string) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0xab, 1})
		s.SetSpanID(pcommon.SpanID{id})
		if parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{parent})
		}
		s.SetName(name)
		s.SetKind(kind)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(start)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(end)))
		s.Status().SetCode(code)
		s.Status().SetMessage(msg)
	}
	// Out of order, as a trace's spans arrive.
	add("payments", 4, 2, "charge card", ptrace.SpanKindServer, 20*time.Millisecond, 880*time.Millisecond, ptrace.StatusCodeError, "card declined")
	add("frontend", 1, 0, "POST /checkout", ptrace.SpanKindServer, 0, 1234*time.Millisecond, ptrace.StatusCodeOk, "")
	add("frontend", 3, 1, "GET /cart", ptrace.SpanKindClient, 900*time.Millisecond, 1200*time.Millisecond, ptrace.StatusCodeUnset, "")
	add("frontend", 2, 1, "POST /pay", ptrace.SpanKindClient, 10*time.Millisecond, 890*time.Millisecond, ptrace.StatusCodeError, "")
	add("audit", 5, 9, "record", ptrace.SpanKindInternal, 5*time.Millisecond, 6500*time.Microsecond, ptrace.StatusCodeUnset, "")
	return td
}

// traceBody is the answer of GET /api/v2/traces/{id} holding td.
func traceBody(t *testing.T, td ptrace.Traces, status, message string) string {
	t.Helper()
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"trace":%s,"metrics":{"inspectedBytes":"1"}`, b)
	if status != "" {
		body += fmt.Sprintf(`,"status":%q,"message":%q`, status, message)
	}
	return body + "}"
}

// fakeQuerier answers every request with status and body, and records
// the requests.
func fakeQuerier(t *testing.T, status int, body string) (*httptest.Server, *[]*http.Request) {
	t.Helper()
	var reqs []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs = append(reqs, r)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

// A trace prints as a tree: each span under its parent, siblings in the
// order they started, a span whose parent is missing at the top, marked.
func TestQueryTraceTree(t *testing.T) {
	srv, reqs := fakeQuerier(t, http.StatusOK, traceBody(t, treeTrace(), "PARTIAL", "a block could not be read"))
	stdout, stderr, err := runTool(t, "query", "trace", "ab01", "-addr", srv.URL, "-tenant=shop", "-start=1700000000", "-end=1700000600")
	if err != nil {
		t.Fatal(err)
	}
	want := `trace ab01: 5 spans, 3 services, 1.23s, started 2026-12-05 14:00:00.000 UTC
SPAN                                               SERVICE   KIND      START   DURATION  STATUS                SPAN ID
POST /checkout                                     frontend  Server    +0s     1.23s     ok                    0100000000000000
├─ POST /pay                                       frontend  Client    +10ms   880ms     error                 0200000000000000
│  └─ charge card                                  payments  Server    +20ms   860ms     error: card declined  0400000000000000
└─ GET /cart                                       frontend  Client    +900ms  300ms                           0300000000000000
record [parent 0900000000000000 not in the trace]  audit     Internal  +5ms    1.5ms                           0500000000000000
`
	if stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", stdout, want)
	}
	if !strings.Contains(stderr, "PARTIAL") || !strings.Contains(stderr, "a block could not be read") {
		t.Errorf("no warning of a PARTIAL answer on stderr: %q", stderr)
	}
	r := (*reqs)[0]
	if r.URL.Path != "/api/v2/traces/ab01" || r.Header.Get("X-Scope-OrgID") != "shop" ||
		r.URL.Query().Get("start") != "1700000000" || r.URL.Query().Get("end") != "1700000600" {
		t.Errorf("request %s %v", r.URL, r.Header)
	}

	// -o json passes the API's answer through.
	stdout, _, err = runTool(t, "query", "trace", "ab01", "-addr", srv.URL, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, `"resourceSpans": [`) || !strings.Contains(stdout, `"status": "PARTIAL"`) {
		t.Errorf("JSON output:\n%s", stdout)
	}
}

// On a terminal, a table too wide is cut in its free-text column to fit;
// piped, it is printed whole.
func TestTableFitsTheTerminal(t *testing.T) {
	for _, width := range []int{0, 80, 10} {
		var buf bytes.Buffer
		o := &output{w: &buf, width: width}
		tb := newTable(1, "ID", "NAME", "N")
		tb.add("1", strings.Repeat("long span name ", 10), "7")
		tb.add("2", "short", "8")
		tb.print(o)
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		for _, line := range lines {
			switch n := utf8.RuneCountInString(line); {
			case width == 0 && n < 150:
				t.Errorf("piped: line cut to %d: %q", n, line)
			case width == 80 && n > width:
				t.Errorf("width %d: line of %d: %q", width, n, line)
			}
		}
		if width > 0 && (!strings.HasSuffix(lines[1], "…  7") || !strings.HasPrefix(lines[2], "2   short ")) {
			t.Errorf("width %d: %q", width, lines)
		}
		if width == 10 && !strings.Contains(lines[1], "  long span n…  ") {
			t.Errorf("width 30: the name is cut below %d runes: %q", minElastic, lines[1])
		}
	}
}

// Errors say what to do next, and pass the querier's own message on.
func TestQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		args   []string
		want   []string
	}{
		{"trace not found", http.StatusNotFound, "trace not found: 0000000000000000000000000000ab01\n",
			[]string{"trace", "ab01"}, []string{"trace ab01 not found (tenant default (no -tenant))", "answered 404 Not Found: trace not found: 0000000000000000000000000000ab01", "-tenant"}},
		{"bad query", http.StatusBadRequest, "q: unexpected } at 1:3\n",
			[]string{"search", "{ }}"}, []string{"answered 400 Bad Request: q: unexpected } at 1:3"}},
		{"tenant needed", http.StatusUnauthorized, "no tenant ID: the X-Scope-OrgID header is required\n",
			[]string{"tags"}, []string{"401", "X-Scope-OrgID header is required", "name the tenant with -tenant"}},
		{"not ready", http.StatusServiceUnavailable, "querier: not ready\n",
			[]string{"search"}, []string{"503", "/ready"}},
		{"not JSON", http.StatusOK, "<html>", []string{"search"}, []string{"decode the search answer"}},
		{"answer too large", http.StatusOK, `{"traces":[]}`, []string{"search", "-max-bytes=5"}, []string{"over -max-bytes 5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeQuerier(t, tc.status, tc.body)
			_, _, err := runTool(t, append([]string{"query"}, append(tc.args, "-addr="+srv.URL)...)...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "trace", "ab01", "-addr=127.0.0.1:1"}, "cannot reach a querier at http://127.0.0.1:1"},
		{[]string{"query", "trace", "-addr=127.0.0.1:1"}, "one trace ID"},
		{[]string{"query", "search", "-start=yesterday", "-addr=127.0.0.1:1"}, `-start: "yesterday" is not a time`},
		{[]string{"query", "find"}, `unknown command "find"`},
		{[]string{"query", "search", "-timeout=50ms", "-addr=" + silent(t)}, "no answer from the querier at http://127.0.0.1:"},
	} {
		if _, _, err := runTool(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// silent returns the address of a server that accepts connections and
// never answers.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// Search and tags print tables of the API's answers, and send its
// parameters.
func TestQuerySearchAndTags(t *testing.T) {
	search := `{"traces":[{"traceID":"ab01","rootServiceName":"frontend","rootTraceName":"POST /checkout","startTimeUnixNano":"1796479200000000000","durationMs":1234,
		"spanSets":[{"spans":[],"matched":2}],"serviceStats":{"frontend":{"spanCount":3},"payments":{"spanCount":2,"errorCount":1}}}],
		"metrics":{"inspectedTraces":12,"inspectedBytes":"2048"}}`
	srv, reqs := fakeQuerier(t, http.StatusOK, search)
	stdout, _, err := runTool(t, "query", "search", `{ status = error }`, "-addr="+srv.URL, "-limit=1", "-min-duration=100ms", "-start=1h")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"TRACE ID  START                DURATION  ROOT SERVICE  ROOT NAME       MATCHED  SPANS  ERRORS",
		"ab01      2026-12-05 14:00:00  1.23s     frontend      POST /checkout  2        5      1",
		"1 traces; inspected 12 traces, 2.0 KiB; there may be more: raise -limit",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("search output lacks %q:\n%s", want, stdout)
		}
	}
	q := (*reqs)[0].URL.Query()
	if q.Get("q") != "{ status = error }" || q.Get("limit") != "1" || q.Get("minDuration") != "100ms" || q.Get("start") == "" || q.Get("spss") != "3" {
		t.Errorf("search parameters %v", q)
	}

	srv, reqs = fakeQuerier(t, http.StatusOK, `{"scopes":[{"name":"resource","tags":["service.name"]},{"name":"span","tags":["http.route"]}]}`)
	stdout, _, err = runTool(t, "query", "tags", "-addr="+srv.URL, "-scope=resource")
	if err != nil {
		t.Fatal(err)
	}
	if want := "SCOPE     TAG\nresource  service.name\nspan      http.route\n"; stdout != want {
		t.Errorf("tags:\n%s\nwant:\n%s", stdout, want)
	}
	if r := (*reqs)[0]; r.URL.Path != "/api/v2/search/tags" || r.URL.Query().Get("scope") != "resource" {
		t.Errorf("tags request %s", r.URL)
	}

	srv, reqs = fakeQuerier(t, http.StatusOK, `{"tagValues":[{"type":"string","value":"frontend"},{"type":"string","value":"payments"}]}`)
	stdout, _, err = runTool(t, "query", "tags", "resource.service.name", "-addr="+srv.URL, "-q", `{ status = error }`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "TYPE    VALUE\nstring  frontend\nstring  payments\n"; stdout != want {
		t.Errorf("tag values:\n%s\nwant:\n%s", stdout, want)
	}
	if r := (*reqs)[0]; r.URL.Path != "/api/v2/search/tag/resource.service.name/values" || r.URL.Query().Get("q") != "{ status = error }" {
		t.Errorf("tag values request %s", r.URL)
	}
}

func TestParseTimeFlag(t *testing.T) {
	now := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                       now,
		"1796479200":                time.Unix(1796479200, 0),
		"90m":                       now.Add(-90 * time.Minute),
		"2026-12-05T13:00:00Z":      now.Add(-time.Hour),
		"2026-12-05T15:00:00+02:00": now.Add(-time.Hour),
	} {
		if got, err := parseTimeFlag(in, now); err != nil || !got.Equal(want) {
			t.Errorf("%s: %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseTimeFlag("yesterday", now); err == nil {
		t.Error("yesterday parsed")
	}
}

// Flags go before or after the positional arguments; "--" ends them.
func TestPositionalArgs(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		positional []string
		o          string
	}{
		{[]string{"a", "-o", "json"}, []string{"a"}, "json"},
		{[]string{"-o", "json", "a", "b"}, []string{"a", "b"}, "json"},
		{[]string{"a", "-o=json", "b"}, []string{"a", "b"}, "json"},
		{[]string{"a", "--", "-o", "b"}, []string{"a", "-o", "b"}, "table"},
		{nil, nil, "table"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		o := fs.String("o", "table", "")
		got, err := parseToolArgs(fs, tc.args, fs.Parse)
		if err != nil || !slices.Equal(got, tc.positional) || *o != tc.o {
			t.Errorf("%q: %q, -o %s, %v; want %q, -o %s", tc.args, got, *o, err, tc.positional, tc.o)
		}
	}
}

// -help lists a command's own flags, with their defaults, not the
// server's hundred, and is no error.
func TestToolHelp(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"blocks", "verify", "-help"}, []string{"-tenant", "-all", "-config.file", "(default table)"}, []string{"-storage.local.path", "-traces"}},
		{[]string{"query", "search", "-h"}, []string{"-addr", "(default http://127.0.0.1:3200)", "-limit", "-min-duration"}, []string{"-scope", "-storage"}},
	} {
		_, stderr, err := runTool(t, tc.args...)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
		}
		for _, want := range tc.want {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v: help lacks %s:\n%s", tc.args, want, stderr)
			}
		}
		for _, not := range tc.not {
			if strings.Contains(stderr, not) {
				t.Errorf("%v: help lists %s:\n%s", tc.args, not, stderr)
			}
		}
	}
}
