package querier

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

func TestStepGridBounds(t *testing.T) {
	sec := uint64(time.Second)
	for _, tc := range []struct {
		start, end, step uint64
		instant          bool
		want             string
	}{
		{0, 10 * sec, sec, false, "start and end are required"},
		{10 * sec, 10 * sec, sec, false, "end must be after start"},
		{sec, 10 * sec, 0, false, "step must be positive"},
		{sec, (MaxPointsPerSeries + 2) * sec, sec, false, "over the maximum of 11000"},
	} {
		_, err := newStepGrid(tc.start, tc.end, tc.step, tc.instant)
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want a bad request saying %q", tc, err, tc.want)
		}
	}
	// 121s aligns down to 120s, less a step; 130s up to 180s.
	g, err := newStepGrid(121*sec, 130*sec, 60*sec, false)
	if err != nil {
		t.Fatal(err)
	}
	// (60, 120], (120, 180]
	for ts, want := range map[uint64]int{60 * sec: -1, 60*sec + 1: 0, 120 * sec: 0, 120*sec + 1: 1, 180 * sec: 1, 180*sec + 1: -1} {
		if got := g.bucket(ts); got != want {
			t.Errorf("bucket(%d) = %d, want %d", ts, got, want)
		}
	}
	if g.buckets() != 2 || g.timestamp(0) != 120*sec {
		t.Errorf("grid %+v: %d buckets, first at %d", g, g.buckets(), g.timestamp(0))
	}
	for _, tc := range []struct {
		rng  time.Duration
		want time.Duration
	}{{time.Hour, 15 * time.Second}, {time.Minute, time.Second}, {10 * time.Minute, 2 * time.Second}, {24 * time.Hour, 360 * time.Second}} {
		if got := DefaultStep(0, uint64(tc.rng)); got != tc.want {
			t.Errorf("DefaultStep over %s = %s, want %s", tc.rng, got, tc.want)
		}
	}
}

// Past the series bound a query notes the overflow, which refuses it.
func TestSeriesSetBound(t *testing.T) {
	q, err := traceql.ParseMetrics(`{ } | count_over_time() by (span:name)`)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := newStepGrid(1, uint64(time.Minute), uint64(time.Second), false)
	s := newSeriesSet(q, g, 2, 0)
	for _, name := range []string{"a", "b", "a", "c"} {
		s.observeTrace([]schema.SpanRow{{Name: name, StartUnixNano: uint64(time.Second)}})
		if s.overflow != (name == "c") {
			t.Fatalf("after %s: overflow %v", name, s.overflow)
		}
	}
}

// A set narrowed to a block's times counts as a whole one does, and
// widens for a span outside them.
func TestSeriesSetNarrowed(t *testing.T) {
	q, err := traceql.ParseMetrics(`{ } | max_over_time(duration) by (span:name)`)
	if err != nil {
		t.Fatal(err)
	}
	sec := uint64(time.Second)
	g, _ := newStepGrid(100*sec, 200*sec, 10*sec, false)
	spans := []schema.SpanRow{
		{Name: "a", StartUnixNano: 131 * sec, DurationNano: int64(time.Second)},
		{Name: "a", StartUnixNano: 139 * sec, DurationNano: int64(3 * time.Second)},
		{Name: "b", StartUnixNano: 150 * sec, DurationNano: int64(2 * time.Second)},
		{Name: "b", StartUnixNano: 171 * sec, DurationNano: int64(4 * time.Second)}, // outside the narrowed steps
	}
	whole := newSeriesSet(q, g, 10, 0)
	narrowed := newSeriesSet(q, g, 10, 0)
	narrowed.narrow(131*sec, 155*sec)
	if narrowed.n != 3 {
		t.Fatalf("narrowed to %d steps, want 3: (130, 140], (140, 150], (150, 160]", narrowed.n)
	}
	for i := range spans {
		whole.observeTrace(spans[i : i+1])
		narrowed.observeTrace(spans[i : i+1])
	}
	merged := newSeriesSet(q, g, 10, 0)
	if err := merged.merge(narrowed.wire()); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*seriesSet{narrowed, merged} {
		if got, want := fmt.Sprint(s.result()), fmt.Sprint(whole.result()); got != want {
			t.Errorf("got %s\nwant %s", got, want)
		}
	}
}

// compare() leaves out an attribute with more values than a tenth of
// what it may count (an ID in every span), keeps the others, and is
// refused only when the attributes under that bound hold more than it
// may count together.
func TestCompareDropsAttributesOfTooManyValues(t *testing.T) {
	q, err := traceql.ParseMetrics(`{ } | compare({ status = error })`)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := newStepGrid(1, uint64(time.Minute), uint64(time.Second), false)
	str := func(s string) *string { return &s }
	row := func(i int, attrs ...schema.Attribute) []schema.SpanRow {
		return []schema.SpanRow{{Name: "op", StartUnixNano: uint64(time.Second), Attrs: attrs}}
	}
	// 10 series: 1,000 values in all, 100 per attribute.
	s := newSeriesSet(q, g, 10, 0)
	for i := range 500 {
		s.observeTrace(row(i, schema.Attribute{Key: "id", Str: str(fmt.Sprint(i))}, schema.Attribute{Key: "route", Str: str(fmt.Sprint(i % 5))}))
	}
	if s.overflow {
		t.Fatal("refused for an attribute of too many values; want it left out")
	}
	var routes, ids int
	for _, ms := range s.result() {
		switch ms.Labels[1].Key {
		case "span.id":
			ids++
		case "span.route":
			routes++
		}
	}
	if ids != 0 || routes != 6 { // 5 values and the total, on the baseline side
		t.Errorf("series of span.id %d, of span.route %d; want 0 and 6", ids, routes)
	}

	// 20 attributes of 60 values each: 1,200 values, none over 100.
	s = newSeriesSet(q, g, 10, 0)
	for i := range 60 {
		var attrs []schema.Attribute
		for a := range 20 {
			attrs = append(attrs, schema.Attribute{Key: fmt.Sprint("a", a), Str: str(fmt.Sprint(i))})
		}
		s.observeTrace(row(i, attrs...))
	}
	if !s.overflow {
		t.Error("1,200 values counted within a bound of 1,000; want the query refused")
	}
}
