package loadgen

import (
	"testing"
	"time"
)

func TestLatencyQuantiles(t *testing.T) {
	var l Latency
	if l.Quantile(0.5) != 0 {
		t.Errorf("empty p50 = %v, want 0", l.Quantile(0.5))
	}
	// 1ms, 2ms, ..., 1000ms.
	for i := 1; i <= 1000; i++ {
		l.Observe(time.Duration(i) * time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Millisecond},
		{0.5, 500 * time.Millisecond},
		{0.99, 990 * time.Millisecond},
		{1, time.Second},
	} {
		got := l.Quantile(tt.q)
		if got < tt.want || float64(got) > 1.05*float64(tt.want) {
			t.Errorf("q%v = %v, want %v within 5%%", tt.q, got, tt.want)
		}
	}
	if l.Count() != 1000 || l.Max() != time.Second {
		t.Errorf("count %d, max %v", l.Count(), l.Max())
	}
}

func TestLatencyExtremes(t *testing.T) {
	var l Latency
	l.Observe(0)
	l.Observe(100 * time.Hour)
	if got := l.Quantile(0.5); got > 2*time.Microsecond {
		t.Errorf("p50 = %v, want about 0", got)
	}
	if got := l.Quantile(1); got != 100*time.Hour {
		t.Errorf("max = %v, want 100h", got)
	}
}

func TestLatencyMerge(t *testing.T) {
	var a, b Latency
	for range 99 {
		a.Observe(time.Millisecond)
	}
	b.Observe(time.Second)
	a.Merge(&b)
	if a.Count() != 100 || a.Max() != time.Second {
		t.Errorf("merged count %d, max %v", a.Count(), a.Max())
	}
	if got := a.Quantile(0.99); got > 2*time.Millisecond {
		t.Errorf("p99 = %v, want about 1ms", got)
	}
}
