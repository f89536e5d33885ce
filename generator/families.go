package generator

import (
	"strings"
)

// The series a generator derives, named and labelled as Grafana Tempo's
// metrics-generator names them, so that Grafana's Tempo data source (its
// Service Graph and the RED panels beside it) and Traces Drilldown read
// them unchanged.
const (
	metricCalls   = "traces_spanmetrics_calls_total"
	metricLatency = "traces_spanmetrics_latency"

	// labelPartition names the log partition whose spans a series counts:
	// see "Series per partition" in docs/design.md. Grafana's queries sum
	// it away (sum by (client, server), by (span_name), ...).
	labelPartition = "partition"
	// labelTraceID labels an exemplar with the trace it comes from, as
	// Tempo does.
	labelTraceID = "traceID"
)

// spanMetricsLabels are the labels of every span metrics series, before
// the configured dimensions.
var spanMetricsLabels = []string{"service", "span_name", "span_kind", "status_code"}

// kind is what an entry of the state counts, which says the series it
// makes.
type kind uint8

const (
	// kindSpan counts the spans of one service, span name, kind and
	// status: calls, and their latency in hists[0].
	kindSpan kind = iota + 1
	// kindEdge counts the requests between a client and a server
	// service: requests, failed ones, and the server and client spans'
	// durations in hists[0] and hists[1].
	kindEdge
	// kindUnpaired counts the halves of requests that found no other.
	kindUnpaired
	// kindDropped counts the halves of requests the store had no room
	// for.
	kindDropped

	kindCount // one past the last kind
)

// family is one metric name of a kind, as published.
type family struct {
	name string
	help string
	// histogram: the entry's hists[hist] with buckets; otherwise a
	// counter of value.
	histogram bool
	hist      int
	value     func(e *entry) uint64
}

// kindSpec is how the entries of a kind are labelled and published.
type kindSpec struct {
	labels   []string // label names, dimensions included, partition not
	buckets  []float64
	families []family
}

// series returns how many Prometheus series one entry of the kind makes:
// each counter one, each histogram a series per bucket, +Inf included,
// and its _sum and _count.
func (s *kindSpec) series() int {
	n := 0
	for _, f := range s.families {
		if f.histogram {
			n += len(s.buckets) + 3
		} else {
			n++
		}
	}
	return n
}

// histograms returns how many histograms an entry of the kind holds.
func (s *kindSpec) histograms() int {
	n := 0
	for _, f := range s.families {
		if f.histogram {
			n = max(n, f.hist+1)
		}
	}
	return n
}

func spanKindSpec(cfg SpanMetricsConfig) *kindSpec {
	return &kindSpec{
		labels:  append(append([]string(nil), spanMetricsLabels...), labelNames(cfg.Dimensions)...),
		buckets: cfg.HistogramBuckets,
		families: []family{
			{name: metricCalls, help: "Spans counted, by service, span name, kind and status.", value: func(e *entry) uint64 { return e.count }},
			{name: metricLatency, help: "Span durations in seconds.", histogram: true, hist: 0},
		},
	}
}

// labelNames returns the label names of attribute dimensions.
func labelNames(dims []string) []string {
	out := make([]string, len(dims))
	for i, d := range dims {
		out[i] = labelName(d)
	}
	return out
}

// labelName turns an attribute key into a valid Prometheus label name:
// every character but ASCII letters, digits and underscores becomes an
// underscore, and a leading digit gets one before it.
func labelName(key string) string {
	var b strings.Builder
	for i, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
