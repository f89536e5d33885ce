package e2e

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLogRetention runs a node whose log keeps records a second: once the
// block-builders have committed everything, the log is trimmed to its last
// record, and every trace is still found, once, from blocks. A kill -9 of
// the trimmed log (the embedded broker keeps where a partition started
// only in the snapshot a clean stop writes) must not take a partition's
// end offset back: offsets used again would be taken for records the
// blocks already hold.
func TestLogRetention(t *testing.T) {
	n := newNode(t, "-kafka.log-retention=1s", "-kafka.log-trim-interval=200ms")
	p := n.start(t)

	// Two requests: a partition keeps its last record, so one with a
	// single record has nothing to trim.
	sent := sendTraces(t, "grpc", n.OTLPGRPC, "retained", 40)
	maps.Copy(sent, sendTraces(t, "grpc", n.OTLPGRPC, "retained-too", 40))
	waitLogTrimmed(t, n.HTTP, time.Now(), 60*time.Second)
	checkAll(t, n.HTTP, sent, "log trimmed")
	if v := metric(t, n.HTTP, "spanlog_log_trimmed_records_total"); v <= 0 {
		t.Errorf("spanlog_log_trimmed_records_total = %v, want > 0", v)
	}
	if v := metric(t, n.HTTP, "spanlog_embedded_kafka_disk_bytes"); v <= 0 {
		t.Errorf("spanlog_embedded_kafka_disk_bytes = %v, want > 0", v)
	}

	before := logOffsets(t, n.HTTP)
	p.kill()
	p = n.start(t)
	waitFor(t, 30*time.Second, "the log's offsets after kill -9", func() bool {
		return len(logOffsets(t, n.HTTP)) == len(before)
	})
	for part, after := range logOffsets(t, n.HTTP) {
		if after.end < before[part].end {
			t.Errorf("partition %s ends at %v after kill -9, at %v before", part, after.end, before[part].end)
		}
	}

	late := sendTraces(t, "grpc", n.OTLPGRPC, "late", 10)
	maps.Copy(sent, late)
	checkAll(t, n.HTTP, sent, "after kill -9")
	waitLogTrimmed(t, n.HTTP, time.Now(), 60*time.Second)
	checkAll(t, n.HTTP, sent, "log trimmed after kill -9")
	if v := metric(t, n.HTTP, "spanlog_log_lost_records_total"); v != 0 {
		t.Errorf("spanlog_log_lost_records_total = %v, want 0", v)
	}
	p.stop(t)
}

// partitionOffsets are one partition's offsets, as the log's metrics say.
type partitionOffsets struct{ start, committed, end float64 }

// logOffsets returns the offsets of every partition the log's metrics
// name at addr, by partition.
func logOffsets(t *testing.T, addr string) map[string]partitionOffsets {
	t.Helper()
	out := make(map[string]partitionOffsets)
	for part := 0; ; part++ {
		label := `{partition="` + strconv.Itoa(part) + `"}`
		if !hasMetric(t, addr, "spanlog_log_end_offset"+label) {
			return out
		}
		out[strconv.Itoa(part)] = partitionOffsets{
			start:     metric(t, addr, "spanlog_log_start_offset"+label),
			committed: metric(t, addr, "spanlog_log_committed_offset"+label),
			end:       metric(t, addr, "spanlog_log_end_offset"+label),
		}
	}
}

// waitLogTrimmed waits until a pass of the log's retention that started
// after since finds the block-builders committed to the end of every
// partition and the log trimmed to each one's last record.
func waitLogTrimmed(t *testing.T, addr string, since time.Time, timeout time.Duration) {
	t.Helper()
	// Passes run one after another: one that ended after a pass that
	// ended after since, started after since.
	var first float64
	var offsets map[string]partitionOffsets
	waitForWhat(t, timeout, func() bool {
		last := metric(t, addr, "spanlog_log_last_trim_timestamp_seconds")
		switch {
		case last <= float64(since.UnixNano())/1e9:
			return false
		case first == 0:
			first = last
			return false
		case last == first:
			return false
		}
		offsets = logOffsets(t, addr)
		if len(offsets) == 0 {
			return false
		}
		for _, o := range offsets {
			if o.committed != o.end || o.start != max(0, o.end-1) {
				return false
			}
		}
		return true
	}, func() string {
		var b strings.Builder
		for part, o := range offsets {
			fmt.Fprintf(&b, " partition %s: start %v, committed %v, end %v;", part, o.start, o.committed, o.end)
		}
		return "the log to be committed to its end and trimmed to its last record:" + b.String()
	})
}
