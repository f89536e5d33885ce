package producer

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

// sharedResourceTraces returns a request of traces one-span traces under
// one resource with an attribute of resourceBytes bytes: the request is
// small, but every record it is split into repeats the resource.
func sharedResourceTraces(traces, resourceBytes int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("big", strings.Repeat("r", resourceBytes))
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	spans.EnsureCapacity(traces)
	for i := range traces {
		s := spans.AppendEmpty()
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:], uint64(i+1))
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{1})
		s.SetStartTimestamp(1_800_000_000_000_000_000)
		s.SetEndTimestamp(1_800_000_000_001_000_000)
	}
	return td
}

// TestRequestRecordBytesBounded pushes a scaled-down version of a request
// that once became 1.7 GB of records: a 1 MiB resource shared by 30,000
// one-span traces, a 2.3 MB request, split into records of 1 MiB + 8 KiB
// that each repeat the resource. It must be refused with the limit named,
// and Push must allocate a small multiple of the limit (what it allocates
// grows with the spans, not with the copies), not the 140 MB of copies of
// the resource that encoding all of it would make.
func TestRequestRecordBytesBounded(t *testing.T) {
	const (
		resourceBytes = 1 << 20
		limit         = 8 << 20
	)
	cluster := kafkatest.New(t)
	d := startDistributor(t, cluster.Brokers(), func(s *testSetup) {
		s.cfg.MaxRecordBytes = resourceBytes + 8<<10
		s.cfg.MaxRequestBytes = 4 << 20
		s.cfg.MaxRequestRecordBytes = limit
	})
	td := sharedResourceTraces(30_000, resourceBytes)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := d.Push(context.Background(), "t1", td)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc

	tooLarge, ok := errors.AsType[*RequestTooLargeError](err)
	if !ok || tooLarge.Setting != "max-request-record-bytes" || !strings.Contains(err.Error(), "the limit (max-request-record-bytes) is 8388608 bytes") {
		t.Fatalf("got %v, want a RequestTooLargeError naming max-request-record-bytes", err)
	}
	t.Logf("refused: %v; Push allocated %d bytes", err, allocated)
	if allocated > 3*limit {
		t.Errorf("Push allocated %d bytes, over 3 times the limit of %d", allocated, limit)
	}
	if code, _ := httpStatus(err); code != 413 {
		t.Errorf("HTTP status %d, want 413", code)
	}

	// The same shape under the limit is written whole.
	small := sharedResourceTraces(300, resourceBytes)
	want := keysOf(small)
	if _, err := d.Push(context.Background(), "t1", small); err != nil {
		t.Fatal(err)
	}
	records := readLog(t, cluster.Brokers(), kafkatest.Topic)
	var written int64
	for _, r := range records {
		written += int64(len(r.Value))
	}
	if written > limit {
		t.Errorf("records of %d bytes written, over the limit of %d", written, limit)
	}
	checkSpansOnce(t, logSpans(t, records, "t1", testPartitions), want)
}
