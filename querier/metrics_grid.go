package querier

import "time"

// MaxPointsPerSeries bounds the steps of a metrics query, as Prometheus
// bounds a range query's points: a request for more is refused, naming
// the bound, before anything is read.
const MaxPointsPerSeries = 11_000

// stepGrid is the time buckets of a metrics query, as Tempo lays them out
// so that the same request gives the same buckets here and there:
//
//   - a range query's start is aligned down to a multiple of the step,
//     less one step, and its end up to a multiple of it; each bucket is
//     (t - step, t], labelled with its end t;
//   - an instant query (step = end - start) has one bucket, [start, end].
//
// A span counts in the bucket of its start time.
type stepGrid struct {
	start, end, step uint64 // unix nanoseconds; start excluded unless instant
	instant          bool
}

// newStepGrid returns the grid of a request for [start, end] by step, or
// a bad request error.
func newStepGrid(start, end, step uint64, instant bool) (stepGrid, error) {
	switch {
	case start == 0 || end == 0:
		return stepGrid{}, badRequest("start and end are required")
	case end <= start:
		return stepGrid{}, badRequest("end must be after start")
	}
	if instant {
		return stepGrid{start: start, end: end, step: end - start, instant: true}, nil
	}
	if step == 0 {
		return stepGrid{}, badRequest("step must be positive")
	}
	if n := (end - start) / step; n > MaxPointsPerSeries {
		return stepGrid{}, badRequest("step %s over [start, end] makes %d points per series, over the maximum of %d: use a larger step",
			time.Duration(step), n, MaxPointsPerSeries)
	}
	g := stepGrid{start: start - start%step, end: end, step: step}
	if m := end % step; m != 0 {
		g.end = end + step - m
	}
	if g.start > step {
		g.start -= step
	}
	return g, nil
}

// DefaultStep returns the step of a range query that names none, as Tempo
// picks it: about 240 points over the range, in whole multiples of 5s (or
// of 1s below 5s), at least 1s.
func DefaultStep(start, end uint64) time.Duration {
	base := time.Duration(end-start) / 240
	step := base.Truncate(5 * time.Second)
	if step < 5*time.Second {
		step = base.Truncate(time.Second)
	}
	return max(step, time.Second)
}

// buckets returns how many buckets the grid has.
func (g stepGrid) buckets() int {
	if g.instant {
		return 1
	}
	return int((g.end - g.start) / g.step)
}

// bucket returns the bucket of a span that starts at ts, or -1 when it is
// outside the grid.
func (g stepGrid) bucket(ts uint64) int {
	if g.instant {
		if ts < g.start || ts > g.end {
			return -1
		}
		return 0
	}
	if ts <= g.start || ts > g.end {
		return -1
	}
	return int((ts - g.start - 1) / g.step)
}

// timestamp returns the time, in unix nanoseconds, a bucket's sample is
// labelled with: its end.
func (g stepGrid) timestamp(i int) uint64 {
	if g.instant {
		return g.end
	}
	return g.start + uint64(i+1)*g.step
}

// timeRange is the range of span starts the grid counts, for the blocks
// to read.
func (g stepGrid) timeRange() TimeRange {
	return TimeRange{Start: time.Unix(0, int64(g.start)), End: time.Unix(0, int64(g.end))}
}
