package e2e

import (
	"fmt"
	"math"
	"net/url"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestMetricsQueries checks TraceQL metrics against what was sent, by the
// sender's own account, from the live tail and from blocks: each span
// counted once, grouped as asked.
func TestMetricsQueries(t *testing.T) {
	n := newNode(t)
	n.start(t)
	sent := sendTraces(t, "grpc", n.OTLPGRPC, "checkout", 20)
	for id, spans := range sendTraces(t, "http", n.OTLPHTTP, "payments", 20) {
		sent[id] = spans
	}
	var spans []sdktrace.ReadOnlySpan
	first, last := time.Now(), time.Time{}
	for _, ss := range sent {
		for _, s := range ss {
			spans = append(spans, s)
			first, last = minTime(first, s.StartTime()), maxTime(last, s.StartTime())
		}
	}
	// One range over every span: from before the first to after the last.
	start, end := first.Add(-time.Minute).Unix(), last.Add(time.Minute).Unix()

	check := func(when string) {
		t.Helper()
		byService := map[string]float64{}
		errors := 0.0
		for _, s := range spans {
			byService[fmt.Sprintf(`{resource.service.name=%q}`, service(s))]++
			if s.Status().Code == codes.Error {
				errors++
			}
		}
		if errors == 0 {
			t.Fatal("no error spans sent: the errors case proves nothing")
		}
		for q, want := range map[string]map[string]float64{
			`{ } | count_over_time() by (resource.service.name)`: byService,
			`{ status = error } | count_over_time()`:             {`{__name__="count_over_time"}`: errors},
			// Judged over whole traces: a server span's error children.
			`{ kind = server } > { status = error } | count_over_time()`: {`{__name__="count_over_time"}`: errors},
		} {
			got := instantMetrics(t, n.HTTP, q, start, end)
			if len(got) != len(want) {
				t.Errorf("%s: %s: series %v, want %v", when, q, got, want)
			}
			for series, v := range want {
				if got[series] != v {
					t.Errorf("%s: %s: %s = %v, want %v", when, q, series, got[series], v)
				}
			}
		}
		// A range query's steps add up to the instant count.
		var res struct {
			Series []struct {
				Samples []struct {
					Value float64 `json:"value"`
				} `json:"samples"`
			} `json:"series"`
		}
		getJSON(t, n.HTTP, fmt.Sprintf("/api/metrics/query_range?q=%s&start=%d&end=%d&step=30s", url.QueryEscape(`{ } | rate()`), start, end), &res)
		var total float64
		for _, s := range res.Series {
			for _, smp := range s.Samples {
				total += smp.Value * 30
			}
		}
		if len(res.Series) != 1 || math.Abs(total-float64(len(spans))) > 1e-6 {
			t.Errorf("%s: rate over 30s steps adds up to %v spans in %d series, want %d in 1", when, total, len(res.Series), len(spans))
		}
	}
	check("live tail")
	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, n.HTTP, "spanlog_block_builder_blocks_flushed_total") > 0 &&
			metric(t, n.HTTP, "spanlog_querier_live_records") == 0
	})
	check("blocks")
}

// instantMetrics runs an instant metrics query and returns each series'
// value by its Prometheus-style labels.
func instantMetrics(t *testing.T, addr, q string, start, end int64) map[string]float64 {
	t.Helper()
	var res struct {
		Series []struct {
			PromLabels string  `json:"promLabels"`
			Value      float64 `json:"value"`
		} `json:"series"`
	}
	getJSON(t, addr, fmt.Sprintf("/api/metrics/query?q=%s&start=%d&end=%d", url.QueryEscape(q), start, end), &res)
	out := map[string]float64{}
	for _, s := range res.Series {
		out[s.PromLabels] = s.Value
	}
	return out
}
