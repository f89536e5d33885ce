package loadgen

import (
	"math"
	"time"
)

// Latency buckets grow by latencyGrowth from latencyMin, so a quantile is
// known within 5% whatever the run's length, in a few KiB.
const (
	latencyMin     = time.Microsecond
	latencyGrowth  = 1.05
	latencyBuckets = 512 // latencyMin × 1.05^511 ≈ 18 hours
)

// Latency is a histogram of export request durations. The zero value is
// empty and ready to use; it is not safe for concurrent use.
type Latency struct {
	counts [latencyBuckets]int64
	n      int64
	max    time.Duration
}

// Observe adds one duration.
func (l *Latency) Observe(d time.Duration) {
	l.counts[latencyBucket(d)]++
	l.n++
	l.max = max(l.max, d)
}

// Count is the number of durations observed.
func (l *Latency) Count() int64 { return l.n }

// Max is the longest duration observed.
func (l *Latency) Max() time.Duration { return l.max }

// Quantile returns the q-quantile (0 ≤ q ≤ 1) within 5%, or 0 when nothing
// was observed.
func (l *Latency) Quantile(q float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(l.n)))
	rank = min(max(rank, 1), l.n)
	var seen int64
	for i, c := range l.counts {
		seen += c
		if seen >= rank && i < latencyBuckets-1 {
			// The bucket's upper bound, but never beyond what was seen.
			return min(latencyBound(i+1), l.max)
		}
	}
	return l.max
}

// Merge adds o's observations to l.
func (l *Latency) Merge(o *Latency) {
	for i, c := range o.counts {
		l.counts[i] += c
	}
	l.n += o.n
	l.max = max(l.max, o.max)
}

// latencyBucket is the index i with latencyBound(i) ≤ d < latencyBound(i+1),
// durations below latencyMin going to 0 and beyond the last bound to the last.
func latencyBucket(d time.Duration) int {
	if d < latencyMin {
		return 0
	}
	i := int(math.Log(float64(d)/float64(latencyMin)) / math.Log(latencyGrowth))
	return min(i, latencyBuckets-1)
}

func latencyBound(i int) time.Duration {
	return time.Duration(float64(latencyMin) * math.Pow(latencyGrowth, float64(i)))
}
