package querybench

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"none", nil, 0},
		{"one", ms(7), 7 * time.Millisecond},
		{"odd, unsorted", ms(30, 10, 900, 20, 40), 30 * time.Millisecond},
		{"even: the mean of the middle two", ms(40, 10, 20, 30), 25 * time.Millisecond},
		{"an outlier does not move it", ms(10, 11, 12, 13, 10_000), 12 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tt.in...)
			if got := Median(tt.in); got != tt.want {
				t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.in[i] {
					t.Fatalf("Median reordered its input: %v, was %v", tt.in, in)
				}
			}
		})
	}
}

func TestQueryResultMinMax(t *testing.T) {
	r := QueryResult{Latencies: []time.Duration{3, 1, 2}}
	if r.Min() != 1 || r.Max() != 3 || r.Median() != 2 {
		t.Errorf("min %v, max %v, median %v of %v", r.Min(), r.Max(), r.Median(), r.Latencies)
	}
	var none QueryResult
	if none.Min() != 0 || none.Max() != 0 || none.Median() != 0 {
		t.Errorf("min %v, max %v, median %v of no runs", none.Min(), none.Max(), none.Median())
	}
}

func TestCountReadsNumbersAndStrings(t *testing.T) {
	tests := []struct {
		in   string
		want Count
		err  bool
	}{
		{`12`, 12, false},
		{`"9007199254740993"`, 9007199254740993, false},
		{`null`, 0, false},
		{`"x"`, 0, true},
		{`1.5`, 0, true},
		{`true`, 0, true},
	}
	for _, tt := range tests {
		var c Count
		err := json.Unmarshal([]byte(tt.in), &c)
		if (err != nil) != tt.err || c != tt.want {
			t.Errorf("%s: %v, error %v; want %v, error %v", tt.in, c, err, tt.want, tt.err)
		}
	}
}
