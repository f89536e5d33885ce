package querybench

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Report is what Run measured, a result per query in the order asked.
type Report struct {
	Queries []QueryResult
}

// QueryResult is how one query went.
type QueryResult struct {
	Query string
	// Latencies are those of the runs that succeeded, in the order run.
	Latencies []time.Duration
	// Traces is the number of traces the last answer held (of series,
	// for a metrics query).
	Traces int
	// Metrics are the last answer's metrics; nil when it had none.
	Metrics *Metrics
	// Partial is the message of the last answer when it said traces may
	// be missing (status PARTIAL); empty when it was complete.
	Partial string
	// Err is the failure that stopped the query's runs, nil when every
	// run succeeded.
	Err error
}

// Metrics are what a search answer says it cost.
type Metrics struct {
	// InspectedTraces counts the traces the querier judged.
	InspectedTraces Count `json:"inspectedTraces"`
	// InspectedBytes counts the bytes it read.
	InspectedBytes Count `json:"inspectedBytes"`
}

// Count is a counter of a search answer. Protobuf's JSON writes 64-bit
// integers as strings and 32-bit ones as numbers; it reads either.
type Count int64

// UnmarshalJSON reads a number or a string holding one.
func (c *Count) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	if n == "" {
		*c = 0
		return nil
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return fmt.Errorf("count %s: %w", b, err)
	}
	*c = Count(v)
	return nil
}

// Failed reports whether a run of the query failed.
func (r *QueryResult) Failed() bool { return r.Err != nil }

// Median is the middle latency of the runs that succeeded, the mean of the
// two middle ones when there is an even number of them; 0 when none did.
func (r *QueryResult) Median() time.Duration { return Median(r.Latencies) }

// Min is the shortest latency, 0 when no run succeeded.
func (r *QueryResult) Min() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return slices.Min(r.Latencies)
}

// Max is the longest latency, 0 when no run succeeded.
func (r *QueryResult) Max() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return slices.Max(r.Latencies)
}

// Median is the middle of ds, the mean of the two middle ones when there is
// an even number of them; 0 when ds is empty.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return s[mid-1] + (s[mid]-s[mid-1])/2
}
