package producer

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

// metricValue returns the value of a counter, or the sample count of a
// histogram.
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if h := out.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return out.GetCounter().GetValue()
}

func TestMetrics(t *testing.T) {
	cluster := kafkatest.New(t)
	reg := prometheus.NewPedanticRegistry()
	d := startDistributor(t, cluster.Brokers(), func(s *testSetup) { s.reg = reg })
	ctx := context.Background()

	good := testTraces(10, 3, 2)
	var m ptrace.ProtoMarshaler
	goodBytes := m.TracesSize(good)
	if _, err := d.Push(ctx, "t1", good); err != nil {
		t.Fatal(err)
	}
	bad := testTraces(2, 2, 1)
	bad.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetSpanID(pcommon.SpanID{})
	if _, err := d.Push(ctx, "t1", bad); !isType[*InvalidSpanError](err) {
		t.Fatalf("err = %v, want InvalidSpanError", err)
	}

	if got := metricValue(t, d.metrics.spansReceived.WithLabelValues("t1")); got != 30+4 {
		t.Errorf("spans received %v, want 34", got)
	}
	if got := metricValue(t, d.metrics.spansRejected.WithLabelValues("t1", reasonInvalidSpan)); got != 4 {
		t.Errorf("spans rejected %v, want 4", got)
	}
	if got := metricValue(t, d.metrics.bytesReceived.WithLabelValues("t1")); got <= float64(goodBytes) {
		t.Errorf("bytes received %v, want more than the good request's %d", got, goodBytes)
	}
	if got := metricValue(t, d.metrics.produceDuration); got != 1 {
		t.Errorf("produce duration has %v samples, want 1", got)
	}

	records := readLog(t, cluster.Brokers(), kafkatest.Topic)
	var written, valueBytes float64
	for p := range testPartitions {
		written += metricValue(t, d.metrics.recordsWritten.WithLabelValues(strconv.Itoa(p)))
		valueBytes += metricValue(t, d.metrics.recordBytesWritten.WithLabelValues(strconv.Itoa(p)))
	}
	var wantBytes int
	for _, r := range records {
		wantBytes += len(r.Value)
	}
	if written != float64(len(records)) || valueBytes != float64(wantBytes) {
		t.Errorf("metrics say %v records of %v bytes written, the log holds %d of %d", written, valueBytes, len(records), wantBytes)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "spanlog_distributor_") {
			t.Errorf("metric %s is not named spanlog_distributor_*", f.GetName())
		}
	}
	if len(families) != 6 {
		t.Errorf("%d metric families, want 6", len(families))
	}
}
