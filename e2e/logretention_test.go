package e2e

import (
	"fmt"
	"maps"
	"testing"
	"time"
)

// TestLogRetention runs a node whose log keeps records a second: once the
// block-builders have committed everything, the log is trimmed to its end,
// and every trace is still found, once, from blocks, before and after a
// kill -9 (which forgets where the embedded log started).
func TestLogRetention(t *testing.T) {
	n := newNode(t, "-kafka.log-retention=1s", "-kafka.log-trim-interval=200ms")
	p := n.start(t)
	trimmedToTheEnd := func() bool {
		start, end := metric(t, n.HTTP, "spanlog_log_start_offset"), metric(t, n.HTTP, "spanlog_log_end_offset")
		return end > 0 && start == end && metric(t, n.HTTP, "spanlog_log_committed_offset") == end
	}
	state := func() string {
		return fmt.Sprintf("log start %v, committed %v, end %v",
			metric(t, n.HTTP, "spanlog_log_start_offset"), metric(t, n.HTTP, "spanlog_log_committed_offset"), metric(t, n.HTTP, "spanlog_log_end_offset"))
	}

	sent := sendTraces(t, "grpc", n.OTLPGRPC, "retained", 40)
	waitForWhat(t, 60*time.Second, trimmedToTheEnd, func() string { return "the log to be trimmed to its end: " + state() })
	checkAll(t, n.HTTP, sent, "log trimmed")
	if v := metric(t, n.HTTP, "spanlog_log_trimmed_records_total"); v <= 0 {
		t.Errorf("spanlog_log_trimmed_records_total = %v, want > 0", v)
	}
	if v := metric(t, n.HTTP, "spanlog_embedded_kafka_disk_bytes"); v <= 0 {
		t.Errorf("spanlog_embedded_kafka_disk_bytes = %v, want > 0", v)
	}

	late := sendTraces(t, "grpc", n.OTLPGRPC, "late", 10)
	maps.Copy(sent, late)
	p.kill()
	p = n.start(t)
	checkAll(t, n.HTTP, sent, "after kill -9")
	waitForWhat(t, 60*time.Second, trimmedToTheEnd, func() string { return "the log to be trimmed to its end after kill -9: " + state() })
	checkAll(t, n.HTTP, sent, "log trimmed after kill -9")
	if v := metric(t, n.HTTP, "spanlog_log_lost_records_total"); v != 0 {
		t.Errorf("spanlog_log_lost_records_total = %v, want 0", v)
	}
	p.stop(t)
}
