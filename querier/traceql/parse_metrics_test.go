package traceql

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		query     string
		fn        MetricsFunc
		spans     string // canonical form of the spanset part
		field     string
		quantiles []float64
		by        []string
		top       *TopSeries
		compare   *Compare
	}{
		{query: `{} | rate()`, fn: MetricsRate, spans: `{ }`},
		{query: `{ status = error } | count_over_time() by (resource.service.name, span:name)`, fn: MetricsCount,
			spans: `{ span:status = error }`, by: []string{"resource.service.name", "span:name"}},
		{query: `{ } | count() > 1 | sum_over_time(span.size)`, fn: MetricsSum, spans: `{ } | count() > 1`, field: "span.size"},
		{query: `{} | avg_over_time(duration) by(.a)`, fn: MetricsAvg, spans: `{ }`, field: "span:duration", by: []string{".a"}},
		{query: `{} | min_over_time(span.x)`, fn: MetricsMin, spans: `{ }`, field: "span.x"},
		{query: `{} | max_over_time(duration)`, fn: MetricsMax, spans: `{ }`, field: "span:duration"},
		{query: `{} | quantile_over_time(duration, 0.5, 0.9, 1)`, fn: MetricsQuantile, spans: `{ }`, field: "span:duration", quantiles: []float64{0.5, 0.9, 1}},
		{query: `{} | histogram_over_time(duration) by (resource.service.name)`, fn: MetricsHistogram, spans: `{ }`, field: "span:duration", by: []string{"resource.service.name"}},
		// Traces Drilldown's forms: an empty by(), hints, compare().
		{query: `{ } | quantile_over_time(duration, 0.9) by()`, fn: MetricsQuantile, spans: `{ }`, field: "span:duration", quantiles: []float64{0.9}},
		{query: `{} | rate() with(sample=true)`, fn: MetricsRate, spans: `{ }`},
		{query: `{} | rate() by (span:name) | topk(3) with(sample=true, exemplars=5, span_sample=0.1)`, fn: MetricsRate, spans: `{ }`, by: []string{"span:name"}, top: &TopSeries{N: 3}},
		{query: `{} | rate() | bottomk(1)`, fn: MetricsRate, spans: `{ }`, top: &TopSeries{N: 1, Bottom: true}},
		{query: `{ } | compare({ status = error })`, fn: MetricsCompare, spans: `{ }`, compare: &Compare{TopN: 10}},
		{query: `{ } | compare({ duration > 1s }, 10, 1700000000000000000, 1700000060000000000)`, fn: MetricsCompare, spans: `{ }`,
			compare: &Compare{TopN: 10, Start: 1700000000000000000, End: 1700000060000000000}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			m, err := ParseMetrics(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if m.Func != tt.fn {
				t.Errorf("func %s, want %s", m.Func, tt.fn)
			}
			if s := m.Spans.String(); s != tt.spans {
				t.Errorf("spans %s, want %s", s, tt.spans)
			}
			if tt.field != "" && m.Field.String() != tt.field {
				t.Errorf("field %s, want %s", m.Field, tt.field)
			}
			if !slices.Equal(m.Quantiles, tt.quantiles) {
				t.Errorf("quantiles %v, want %v", m.Quantiles, tt.quantiles)
			}
			var by []string
			for _, f := range m.By {
				by = append(by, f.String())
			}
			if !slices.Equal(by, tt.by) {
				t.Errorf("by %v, want %v", by, tt.by)
			}
			for _, f := range append(m.By, m.Field) {
				if f != (Field{}) && !slices.Contains(m.Spans.Fields(), f) {
					t.Errorf("Fields() %v lacks %s", m.Spans.Fields(), f)
				}
			}
			if (m.Top == nil) != (tt.top == nil) || m.Top != nil && *m.Top != *tt.top {
				t.Errorf("top %+v, want %+v", m.Top, tt.top)
			}
			if (m.Compare == nil) != (tt.compare == nil) {
				t.Fatalf("compare %+v, want %+v", m.Compare, tt.compare)
			}
			if c := m.Compare; c != nil {
				if c.Selection == nil || c.TopN != tt.compare.TopN || c.Start != tt.compare.Start || c.End != tt.compare.End {
					t.Errorf("compare %+v, want %+v", c, tt.compare)
				}
			}
		})
	}
}

func TestParseMetricsErrors(t *testing.T) {
	tests := []struct{ query, want string }{
		{`{}`, "this is a search"},
		{`{} | count() > 1`, "this is a search"},
		{`{} | rate(`, `expected ")"`},
		{`{} | rate() by`, `expected "("`},
		{`{} | quantile_over_time(duration)`, "a quantile"},
		{`{} | quantile_over_time(duration, 1.5)`, "not from 0 to 1"},
		{`{} | sum_over_time(name)`, "numeric attribute or a duration"},
		{`{} | rate() by (trace:duration)`, "not one"},
		{`{} | rate() by (.a, .b, .c, .d, .e, .f)`, "at most 5"},
		{`{} | rate() | topk(0)`, "from 1"},
		{`{} | rate() | count() > 1`, "topk(n) or bottomk(n)"},
		{`{} | rate() with(sample)`, `expected "="`},
		{`{} | rate() rate()`, "end of query"},
		{`{} | compare({ .a = 1 } && { .b = 2 })`, `expected ")"`},
		{`{} | compare(status = error)`, "a spanset filter"},
		{`{} | compare({ }, 0)`, "from 1"},
		{`{} | compare({ }, 10, 5, 4)`, "end after start"},
	}
	for _, tt := range tests {
		_, err := ParseMetrics(tt.query)
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseMetrics(%q) = %v, want a ParseError with %q", tt.query, err, tt.want)
		}
	}
	if _, err := ParseMetrics(`{ .a = 1 }`); !errors.Is(err, ErrNotMetrics) {
		t.Errorf("a search: %v, want ErrNotMetrics", err)
	}
	// A search refuses a metrics query, saying where it belongs.
	for _, q := range []string{`{} | rate()`, `{} | count() > 1 | histogram_over_time(duration)`} {
		if _, err := Parse(q); !errors.Is(err, ErrMetrics) || !strings.Contains(err.Error(), "/api/metrics/query_range") {
			t.Errorf("Parse(%q) = %v, want ErrMetrics", q, err)
		}
	}
}

// FuzzParseMetrics checks that parsing a metrics query never panics and
// errs only with a *ParseError, and that its spanset part evaluates.
func FuzzParseMetrics(f *testing.F) {
	for _, seed := range []string{
		`{} | rate()`, `{ .a = 1 } | count_over_time() by (.a, resource.b)`,
		`{} | quantile_over_time(duration, 0.5, 0.99) by (span:name) | topk(2) with(sample=true)`,
		`{} | histogram_over_time(duration)`, `{} | compare({ status = error }, 10, 1, 2)`,
		`{} | rate() by()`, `{} | count() > 1 | sum_over_time(span.x) | bottomk(1)`,
	} {
		f.Add(seed)
	}
	trace := testTrace()
	f.Fuzz(func(t *testing.T, query string) {
		m, err := ParseMetrics(query)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("ParseMetrics(%q) returned %T, not a *ParseError", query, err)
			}
			return
		}
		m.Spans.Evaluate(trace)
		if m.Compare != nil {
			m.Compare.Selection.Evaluate(trace)
		}
	})
}

func TestSpanLocal(t *testing.T) {
	for q, want := range map[string]bool{
		`{ }`:                              true,
		`{ .a = 1 && status = error }`:     true,
		`{ .a = 1 } || { name = "x" }`:     true,
		`{ .a = 1 } && { name = "x" }`:     false,
		`{ .a = 1 } >> { name = "x" }`:     false,
		`{ rootName = "x" }`:               false,
		`{ traceDuration > 1s }`:           false,
		`{ .a = 1 } | count() > 1`:         false,
		`{ span:id = "0000000000000001" }`: true,
	} {
		parsed, err := Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := parsed.SpanLocal(); got != want {
			t.Errorf("%s: SpanLocal %v, want %v", q, got, want)
		}
	}
}
