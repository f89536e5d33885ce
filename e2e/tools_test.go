package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// runSpanlog runs the spanlog binary with args, as an operator runs a
// command, and returns what it printed and its exit code.
func runSpanlog(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// mustRunSpanlog is runSpanlog for a command that must succeed.
func mustRunSpanlog(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := runSpanlog(t, args...)
	if code != 0 {
		t.Fatalf("spanlog %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// TestOperatorTools follows an operator through the README's "Querying
// from the terminal" and "Inspecting blocks": traces sent with the
// OpenTelemetry SDK are read back with spanlog query, from the live tail
// and from blocks, and the blocks the node wrote are listed, inspected
// and verified with spanlog blocks, given the node's own flags.
func TestOperatorTools(t *testing.T) {
	n := newNode(t)
	p := n.start(t)
	sent := sendTraces(t, "grpc", n.OTLPGRPC, "checkout", 20)
	addr := "-addr=http://" + n.HTTP

	// The trace with the most spans: a root and its four queries.
	var id string
	for tid, spans := range sent {
		if id == "" || len(spans) > len(sent[id]) {
			id = tid
		}
	}
	checkTrace := func(when string) {
		t.Helper()
		stdout := mustRunSpanlog(t, "query", "trace", id, addr, "-o", "json")
		td, _, err := decodeTraceByIDResponseJSON([]byte(stdout))
		if err != nil {
			t.Fatalf("%s: spanlog query trace -o json: %v\n%s", when, err, stdout)
		}
		if err := sameSpans(sent[id], td); err != nil {
			t.Fatalf("%s: spanlog query trace -o json: %v", when, err)
		}
		stdout = mustRunSpanlog(t, "query", "trace", id, addr)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if want := fmt.Sprintf("trace %s: %d spans, 1 services, ", id, len(sent[id])); !strings.HasPrefix(lines[0], want) {
			t.Fatalf("%s: spanlog query trace starts %q, want %q", when, lines[0], want)
		}
		root := rootName(sent[id])
		want := []string{root, "├─ query 0", "├─ query 1", "├─ query 2", "└─ query 3"}
		for i, prefix := range want {
			if line := lines[2+i]; !strings.HasPrefix(line, prefix+" ") || !strings.Contains(line, "checkout") {
				t.Errorf("%s: span line %d is %q, want it to start with %q", when, i, line, prefix)
			}
		}
		if !strings.Contains(lines[5], "error: deadline exceeded") || !strings.Contains(lines[2], " ok ") {
			t.Errorf("%s: statuses not shown:\n%s", when, stdout)
		}
	}
	checkTrace("live tail")

	_, stderr, code := runSpanlog(t, "query", "trace", "0123456789abcdef0123456789abcdef", addr)
	if code != 1 || !strings.Contains(stderr, "trace 0123456789abcdef0123456789abcdef not found") || !strings.Contains(stderr, "404 Not Found") {
		t.Errorf("unknown trace: exit %d, %s", code, stderr)
	}

	stdout := mustRunSpanlog(t, "query", "search", `{ resource.service.name = "checkout" }`, addr, "-limit=100", "-start=1h", "-o=json")
	var found struct {
		Traces []struct {
			TraceID string `json:"traceID"`
		} `json:"traces"`
	}
	if err := json.Unmarshal([]byte(stdout), &found); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range found.Traces {
		ids = append(ids, tr.TraceID)
	}
	for tid := range sent {
		if !slices.Contains(ids, tid) {
			t.Errorf("search did not find trace %s: %v", tid, ids)
		}
	}
	if stdout := mustRunSpanlog(t, "query", "search", `{ name = "query 3" }`, addr); !strings.Contains(stdout, id) || !strings.Contains(stdout, rootName(sent[id])) {
		t.Errorf("search table lacks trace %s:\n%s", id, stdout)
	}
	if stdout := mustRunSpanlog(t, "query", "tags", addr); !hasRow(stdout, "resource", "service.name") || !hasRow(stdout, "span", "db.system") {
		t.Errorf("tags:\n%s", stdout)
	}
	if stdout := mustRunSpanlog(t, "query", "tags", "resource.service.name", addr); !hasRow(stdout, "string", "checkout") {
		t.Errorf("tag values:\n%s", stdout)
	}

	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, n.HTTP, "spanlog_block_builder_blocks_flushed_total") > 0 &&
			metric(t, n.HTTP, "spanlog_querier_live_records") == 0
	})
	checkTrace("blocks")

	// The blocks commands take the server's flags: they read its bucket.
	stdout = mustRunSpanlog(t, append([]string{"blocks", "ls", "-o", "json"}, n.args...)...)
	var listing struct {
		Tenant string `json:"tenant"`
		Blocks []struct {
			BlockID    string `json:"blockID"`
			State      string `json:"state"`
			TotalSpans int64  `json:"totalSpans"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(stdout), &listing); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	var spans int64
	var live []string
	for _, b := range listing.Blocks {
		if b.State == "live" {
			spans += b.TotalSpans
			live = append(live, b.BlockID)
		}
	}
	if listing.Tenant != "single-tenant" || spans != int64(countSpans(sent)) {
		t.Fatalf("blocks ls: tenant %s, live blocks of %d spans, want %d:\n%s", listing.Tenant, spans, countSpans(sent), stdout)
	}
	if stdout := mustRunSpanlog(t, append([]string{"blocks", "ls"}, n.args...)...); !strings.Contains(stdout, live[0]) || !strings.Contains(stdout, "OFFSETS") {
		t.Errorf("blocks ls table:\n%s", stdout)
	}
	if stdout := mustRunSpanlog(t, append([]string{"blocks", "inspect", live[0]}, n.args...)...); !strings.Contains(stdout, "ROW GROUP") {
		t.Errorf("blocks inspect:\n%s", stdout)
	}
	stdout = mustRunSpanlog(t, append([]string{"blocks", "verify", "-all"}, n.args...)...)
	if strings.Count(stdout, "  ok  ") < len(live) || strings.Contains(stdout, "FAILED") {
		t.Errorf("blocks verify -all:\n%s", stdout)
	}
	p.stop(t)
}

// hasRow reports whether a table has a row of the cells given.
func hasRow(table string, cells ...string) bool {
	for line := range strings.SplitSeq(table, "\n") {
		if slices.Equal(strings.Fields(line), cells) {
			return true
		}
	}
	return false
}

// rootName is the name of the span of spans without a parent.
func rootName(spans []sdktrace.ReadOnlySpan) string {
	for _, s := range spans {
		if !s.Parent().IsValid() {
			return s.Name()
		}
	}
	return ""
}
