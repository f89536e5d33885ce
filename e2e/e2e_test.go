package e2e

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// checkAll fetches every sent trace through both trace-by-ID APIs and fails
// unless each holds exactly the spans sent, each once.
func checkAll(t *testing.T, addr string, sent map[string][]sdktrace.ReadOnlySpan, when string) {
	t.Helper()
	for id, spans := range sent {
		for _, api := range []string{"v1", "v2"} {
			status, td := getTrace(t, addr, id, api)
			if status != http.StatusOK {
				t.Fatalf("%s: %s trace %s: status %d", when, api, id, status)
			}
			if err := sameSpans(spans, td); err != nil {
				t.Fatalf("%s: %s trace %s: %v", when, api, id, err)
			}
		}
	}
}

// TestEndToEnd follows traces from the OpenTelemetry SDK through the log,
// the live tail, Parquet blocks and a kill -9, reading each back after
// every step.
func TestEndToEnd(t *testing.T) {
	n := newNode(t)
	p := n.start(t)

	sent := sendTraces(t, "grpc", n.OTLPGRPC, "checkout", 30)
	maps.Copy(sent, sendTraces(t, "http", n.OTLPHTTP, "payments", 30))

	// Read your writes: acked means found, before any block exists.
	checkAll(t, n.HTTP, sent, "live tail")

	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, n.HTTP, "spanlog_block_builder_blocks_flushed_total") > 0 &&
			metric(t, n.HTTP, "spanlog_querier_live_records") == 0
	})
	checkAll(t, n.HTTP, sent, "blocks")

	// What an operator watches, by the names the docs give.
	for _, name := range []string{
		"spanlog_distributor_spans_received_total",
		"spanlog_distributor_bytes_received_total",
		"spanlog_distributor_produce_duration_seconds_count",
		"spanlog_distributor_records_written_total",
		"spanlog_block_builder_records_consumed_total",
		"spanlog_block_builder_blocks_flushed_total",
		"spanlog_block_builder_flush_duration_seconds_count",
		"spanlog_block_builder_block_size_bytes_count",
		"spanlog_blocklist_poll_duration_seconds_count",
		// Acks waited for the embedded Kafka's group commit.
		"spanlog_embedded_kafka_sync_requests_total",
		"spanlog_embedded_kafka_sync_duration_seconds_count",
		// The builder and the live tail held one compressed copy of
		// the records they both read.
		"spanlog_record_values_shared_total",
	} {
		if v := metric(t, n.HTTP, name); v <= 0 {
			t.Errorf("metric %s = %v, want > 0", name, v)
		}
	}
	if v := metric(t, n.HTTP, "spanlog_distributor_spans_received_total"); v != float64(countSpans(sent)) {
		t.Errorf("spans received %v, want %d", v, countSpans(sent))
	}

	// The compactor indexes the tenant, and queriers poll the index.
	waitFor(t, 30*time.Second, "queriers to poll the tenant index", func() bool {
		return metric(t, n.HTTP, `spanlog_blocklist_tenants_polled_total{component="querier",source="index"}`) > 0
	})

	// Acked but not yet in a block when the process dies.
	late := sendTraces(t, "grpc", n.OTLPGRPC, "late", 10)
	p.kill()
	maps.Copy(sent, late)

	p = n.start(t)
	checkAll(t, n.HTTP, sent, "after kill -9")

	waitFor(t, 60*time.Second, "blocks to cover every record after restart", func() bool {
		return metric(t, n.HTTP, "spanlog_querier_live_records") == 0
	})
	checkAll(t, n.HTTP, sent, "blocks after restart")
	p.stop(t)
}

func countSpans(sent map[string][]sdktrace.ReadOnlySpan) int {
	n := 0
	for _, spans := range sent {
		n += len(spans)
	}
	return n
}

func TestHTTPEndpoints(t *testing.T) {
	n := newNode(t)
	n.start(t)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + n.HTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := get("/api/echo"); status != http.StatusOK || body != "echo" {
		t.Errorf("/api/echo = %d %q", status, body)
	}
	status, body := get("/api/status/buildinfo")
	var info map[string]string
	if err := json.Unmarshal([]byte(body), &info); status != http.StatusOK || err != nil {
		t.Fatalf("/api/status/buildinfo = %d %q: %v", status, body, err)
	}
	for _, k := range []string{"version", "revision", "branch", "buildUser", "buildDate", "goVersion"} {
		if info[k] == "" {
			t.Errorf("buildinfo lacks %s: %v", k, info)
		}
	}
	if status, _ := get("/ready"); status != http.StatusOK {
		t.Errorf("/ready = %d", status)
	}
	if status, body := get("/metrics"); status != http.StatusOK || !strings.Contains(body, "spanlog_blocklist_poll_duration_seconds") {
		t.Errorf("/metrics = %d without spanlog metrics", status)
	}

	for _, tc := range []struct {
		id   string
		want int
	}{
		{"0123456789abcdef0123456789abcdef", http.StatusNotFound},
		{"not-hex", http.StatusBadRequest},
		{"00000000000000000000000000000000", http.StatusBadRequest},
		{"0123456789abcdef0123456789abcdef00", http.StatusBadRequest},
	} {
		for _, api := range []string{"v1", "v2"} {
			if status, _ := getTrace(t, n.HTTP, tc.id, api); status != tc.want {
				t.Errorf("%s %s: status %d, want %d", api, tc.id, status, tc.want)
			}
		}
	}
}
