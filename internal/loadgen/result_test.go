package loadgen

import (
	"maps"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

func TestResultMerge(t *testing.T) {
	t1, t2 := trace.TraceID{1}, trace.TraceID{2}
	a := &Result{
		Acked:          map[trace.TraceID][]trace.SpanID{t1: {{1}, {2}}},
		AckedRequests:  1,
		AckedSpans:     2,
		FailedRequests: 1,
		FailedSpans:    3,
		Errors:         map[string]int64{"grpc Unavailable": 1},
		Elapsed:        time.Second,
	}
	a.Latency.Observe(time.Millisecond)
	b := &Result{
		Acked:          map[trace.TraceID][]trace.SpanID{t2: {{3}}},
		AckedRequests:  1,
		AckedSpans:     1,
		FailedRequests: 2,
		FailedSpans:    4,
		Errors:         map[string]int64{"grpc Unavailable": 1, "grpc DeadlineExceeded": 1},
		Elapsed:        2 * time.Second,
	}
	b.Latency.Observe(time.Millisecond)

	var sum Result
	sum.Merge(a)
	sum.Merge(b)
	if len(sum.Acked) != 2 || len(sum.Acked[t1]) != 2 || len(sum.Acked[t2]) != 1 {
		t.Errorf("acked = %v", sum.Acked)
	}
	if sum.AckedRequests != 2 || sum.AckedSpans != 3 || sum.FailedRequests != 3 || sum.FailedSpans != 7 {
		t.Errorf("counts = %d/%d acked, %d/%d failed", sum.AckedRequests, sum.AckedSpans, sum.FailedRequests, sum.FailedSpans)
	}
	if want := map[string]int64{"grpc Unavailable": 2, "grpc DeadlineExceeded": 1}; !maps.Equal(sum.Errors, want) {
		t.Errorf("errors = %v, want %v", sum.Errors, want)
	}
	if sum.Elapsed != 2*time.Second || sum.Latency.Count() != 2 {
		t.Errorf("elapsed %v, %d latencies", sum.Elapsed, sum.Latency.Count())
	}
	if got := sum.AckedSpansPerSecond(); got != 1.5 {
		t.Errorf("acked spans/s = %v, want 1.5", got)
	}
}
