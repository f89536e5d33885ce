package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spanlog/spanlog/internal/loadgen"
)

// reportEverySecond prints a line a second of what changed in that second,
// until stop is closed.
func reportEverySecond(w io.Writer, g *loadgen.Generator, stop <-chan struct{}) {
	start := time.Now()
	last, lastAt := g.Progress(), start
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			p := g.Progress()
			fmt.Fprintln(w, progressLine(now.Sub(start), now.Sub(lastAt), last, p))
			last, lastAt = p, now
		}
	}
}

// progressLine describes the change from prev to cur over the interval
// that ended at elapsed.
func progressLine(elapsed, interval time.Duration, prev, cur loadgen.Progress) string {
	perSecond := func(n int64) float64 { return float64(n) / interval.Seconds() }
	return fmt.Sprintf("%6s  sent %8.0f spans/s  acked %8.0f spans/s  failed %4d requests (%d spans)  in flight %d",
		elapsed.Round(time.Second),
		perSecond(cur.SentSpans-prev.SentSpans),
		perSecond(cur.AckedSpans-prev.AckedSpans),
		cur.FailedRequests-prev.FailedRequests,
		cur.FailedSpans-prev.FailedSpans,
		cur.SentRequests-cur.AckedRequests-cur.FailedRequests)
}

// printSummary reports the run; the target throughput is shown next to
// the one reached, since the rate is only a ceiling.
func printSummary(w io.Writer, cfg loadgen.Config, r *loadgen.Result) {
	target := ""
	if cfg.Rate > 0 {
		target = fmt.Sprintf(" (rate asked for %.0f)", cfg.Rate*float64(cfg.SpansPerTrace))
	}
	fmt.Fprintf(w, "acked:      %d spans of %d traces in %d requests\n", r.AckedSpans, len(r.Acked), r.AckedRequests)
	fmt.Fprintf(w, "failed:     %d spans in %d requests%s\n", r.FailedSpans, r.FailedRequests, errorsText(r.Errors))
	fmt.Fprintf(w, "throughput: %.0f acked spans/s over %v%s\n", r.AckedSpansPerSecond(), r.Elapsed.Round(time.Millisecond), target)
	fmt.Fprintf(w, "latency:    p50 %v  p99 %v  max %v (acked requests)\n",
		roundLatency(r.Latency.Quantile(0.5)), roundLatency(r.Latency.Quantile(0.99)), roundLatency(r.Latency.Max()))
}

// cpuLine reports the CPU the load generator itself used during the run,
// so that a server's throughput on a shared machine can be read against
// what generating and sending the load cost (the OpenTelemetry SDK's
// exporter, mostly).
func cpuLine(cpu time.Duration, r *loadgen.Result) string {
	line := fmt.Sprintf("loadgen CPU: %.2f s, %.2f cores", cpu.Seconds(), cpu.Seconds()/r.Elapsed.Seconds())
	if r.AckedSpans > 0 {
		line += fmt.Sprintf(", %.1f µs per acked span", float64(cpu.Microseconds())/float64(r.AckedSpans))
	}
	return line
}

// errorsText lists failures by class, most frequent first.
func errorsText(errs map[string]int64) string {
	if len(errs) == 0 {
		return ""
	}
	classes := slices.SortedFunc(maps.Keys(errs), func(a, b string) int {
		return cmp.Or(cmp.Compare(errs[b], errs[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(classes))
	for i, c := range classes {
		parts[i] = fmt.Sprintf("%s: %d", c, errs[c])
	}
	return ": " + strings.Join(parts, ", ")
}

// roundLatency keeps three significant digits or so, as the histogram
// holds no more.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
