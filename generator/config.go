package generator

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"time"

	"github.com/spanlog/spanlog/tenant"
)

// Config tunes a metrics-generator.
type Config struct {
	// ConsumerGroup is the Kafka consumer group all metrics-generators
	// share; its members split the partitions. Default
	// spanlog-metrics-generator.
	ConsumerGroup string `yaml:"consumer-group" help:"Kafka consumer group shared by all metrics-generators."`
	// SessionTimeout is how long the group waits for a silent member (one
	// killed without leaving) before moving its partitions. A member
	// heartbeats every fifth of it. Default 15s.
	SessionTimeout time.Duration `yaml:"session-timeout" help:"How long the group waits on a metrics-generator that stopped heartbeating before its partitions move."`
	// RebalanceTimeout is how long the group waits for its members to
	// give up partitions in a rebalance. A generator gives them up after
	// the save of its state under way, which FlushTimeout bounds.
	// Default 60s.
	RebalanceTimeout time.Duration `yaml:"rebalance-timeout" help:"How long the group waits for metrics-generators to give up partitions in a rebalance."`
	// FlushInterval is how often the generator saves each partition's
	// series with the offset they count up to, commits the offset, and
	// publishes the series saved (scrape endpoint, remote write). A crash
	// loses no count: the next owner resumes from the last save and reads
	// the log again from its offset. Default 15s.
	FlushInterval time.Duration `yaml:"flush-interval" help:"How often series are saved with their offsets and published."`
	// FlushTimeout bounds one save of the partitions' states to object
	// storage; a save that fails is retried at the next flush, and the
	// series published stay those of the last save. A stopping generator
	// saves once more within it, so it must be below the process's
	// graceful shutdown timeout. Default 5s.
	FlushTimeout time.Duration `yaml:"flush-timeout" help:"Longest time one save of the series to object storage may take."`
	// StaleSeriesTimeout is how long a series lives without a new span,
	// in the log's time (record timestamps), before it is dropped: it is
	// no longer published and no longer counts as active. A span for it
	// later starts it again from zero, which Prometheus reads as a
	// counter reset. Default 15m.
	StaleSeriesTimeout time.Duration `yaml:"stale-series-timeout" help:"A series without a new span for this long (in log time) is dropped."`
	// FetchMaxBytes is the most one fetch returns; the client holds at
	// most two fetches, so twice this bounds its buffers. Default 8 MiB.
	FetchMaxBytes int64 `yaml:"fetch-max-bytes" help:"Bytes one fetch from Kafka returns at most; the client buffers at most two."`
	// FetchMinBytes is how many bytes of new records (as the broker
	// stores them) a fetch of caught-up partitions waits for, up to
	// FetchMaxWait, before it returns. Each fetch costs the broker and
	// the generator a request; at 1 a caught-up generator fetches on
	// every produce, thousands of times a second under load, while its
	// series are published once per FlushInterval. At most
	// FetchMaxBytes. Default 1 MiB.
	FetchMinBytes int64 `yaml:"fetch-min-bytes" help:"Bytes of new records a fetch from Kafka waits for, up to fetch-max-wait, before it returns (1: return on any record)."`
	// FetchMaxWait is the longest a fetch waits for FetchMinBytes, and
	// so how much later than at once a span may be counted. At least
	// 10ms. Default 500ms.
	FetchMaxWait time.Duration `yaml:"fetch-max-wait" help:"Longest a fetch from Kafka waits for fetch-min-bytes of new records."`
	// SpanMetrics configures the calls and latency series per service,
	// span name, kind and status.
	SpanMetrics SpanMetricsConfig `yaml:"span-metrics"`
	// ServiceGraph configures the requests between services.
	ServiceGraph ServiceGraphConfig `yaml:"service-graph"`
	// RemoteWrite pushes the series to a Prometheus-compatible receiver.
	RemoteWrite RemoteWriteConfig `yaml:"remote-write"`
}

// ServiceGraphConfig configures the traces_service_graph_* series.
type ServiceGraphConfig struct {
	// Enabled derives the service graph. Default true.
	Enabled bool `yaml:"enabled" help:"Derive the service graph (traces_service_graph_*)."`
	// Wait is how long, in log time, a client or server span waits for
	// its other half before it counts as unpaired. Default 10s.
	Wait time.Duration `yaml:"wait" help:"How long (in log time) a client or server span waits for its other half."`
	// MaxItems bounds the spans waiting for their other half, per tenant
	// and partition; past it a new one is dropped, and counted in
	// traces_service_graph_dropped_spans_total. Default 10,000.
	MaxItems int `yaml:"max-items" help:"Spans waiting for their other half, per tenant and partition; more are dropped and counted."`
	// HistogramBuckets are the request duration histograms' upper bounds
	// in seconds, increasing. Default 0.1 doubling up to 12.8, as Tempo's.
	HistogramBuckets []float64 `yaml:"histogram-buckets" help:"Upper bounds in seconds of the service graph's duration histograms' buckets."`
	// PeerAttributes name, in order, the span attributes whose value is
	// the server of a client span that found no server span: the request
	// is then an edge to that virtual node. Default peer.service,
	// db.name, db.system.
	PeerAttributes []string `yaml:"peer-attributes" help:"Attributes naming the server of a client span without a server span, as a virtual node."`
}

// SpanMetricsConfig configures traces_spanmetrics_calls_total and
// traces_spanmetrics_latency.
type SpanMetricsConfig struct {
	// Enabled derives the span metrics. Default true.
	Enabled bool `yaml:"enabled" help:"Derive span metrics (traces_spanmetrics_*)."`
	// Dimensions are span or resource attributes added as labels, the
	// span's value first; a dot becomes an underscore in the label name
	// (http.method: http_method). A span without the attribute gets an
	// empty value. Default none.
	Dimensions []string `yaml:"dimensions" help:"Span or resource attributes to add as labels of the span metrics (dots become underscores)."`
	// HistogramBuckets are the latency histogram's upper bounds in
	// seconds, increasing. Default 0.002 doubling up to 16.384, as
	// Tempo's.
	HistogramBuckets []float64 `yaml:"histogram-buckets" help:"Upper bounds in seconds of the span latency histogram's buckets."`
}

// DefaultConfig returns the configuration spanlog runs with when nothing is set.
func DefaultConfig() Config {
	return Config{
		ConsumerGroup:      "spanlog-metrics-generator",
		SessionTimeout:     15 * time.Second,
		RebalanceTimeout:   60 * time.Second,
		FlushInterval:      15 * time.Second,
		FlushTimeout:       5 * time.Second,
		StaleSeriesTimeout: 15 * time.Minute,
		FetchMaxBytes:      8 << 20,
		FetchMinBytes:      1 << 20,
		FetchMaxWait:       500 * time.Millisecond,
		SpanMetrics: SpanMetricsConfig{
			Enabled:          true,
			HistogramBuckets: exponentialBuckets(0.002, 2, 14),
		},
		ServiceGraph: ServiceGraphConfig{
			Enabled:          true,
			Wait:             10 * time.Second,
			MaxItems:         10_000,
			HistogramBuckets: exponentialBuckets(0.1, 2, 8),
			PeerAttributes:   []string{"peer.service", "db.name", "db.system"},
		},
		RemoteWrite: RemoteWriteConfig{
			Timeout:              10 * time.Second,
			MinBackoff:           100 * time.Millisecond,
			MaxBackoff:           10 * time.Second,
			MaxSamplesPerRequest: 2000,
		},
	}
}

func exponentialBuckets(start, factor float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case tenant.ValidateID(c.ConsumerGroup) != nil:
		// It names the objects of the saved series, as a tenant ID
		// names a tenant's.
		return fmt.Errorf("metrics-generator: consumer group %q must be 1 to %d ASCII letters, digits and !-_.*'()", c.ConsumerGroup, tenant.MaxIDLength)
	case c.SessionTimeout < time.Second:
		return errors.New("metrics-generator: session timeout must be at least 1s")
	case c.RebalanceTimeout < time.Second:
		return errors.New("metrics-generator: rebalance timeout must be at least 1s")
	case c.FlushInterval < 10*time.Millisecond:
		return errors.New("metrics-generator: flush interval must be at least 10ms")
	case c.FlushTimeout <= 0 || c.FlushTimeout >= c.RebalanceTimeout:
		return errors.New("metrics-generator: flush timeout must be positive and below the rebalance timeout")
	case c.StaleSeriesTimeout <= 0:
		return errors.New("metrics-generator: stale series timeout must be positive")
	case c.FetchMaxBytes <= 0 || c.FetchMaxBytes > math.MaxInt32:
		return fmt.Errorf("metrics-generator: fetch max bytes must be between 1 and %d", math.MaxInt32)
	case c.FetchMinBytes <= 0 || c.FetchMinBytes > c.FetchMaxBytes:
		return errors.New("metrics-generator: fetch min bytes must be positive and at most fetch-max-bytes")
	case c.FetchMaxWait < 10*time.Millisecond:
		// As Kafka clients want.
		return errors.New("metrics-generator: fetch max wait must be at least 10ms")
	}
	if err := checkBuckets(c.SpanMetrics.HistogramBuckets); err != nil {
		return fmt.Errorf("metrics-generator: span-metrics: %w", err)
	}
	if err := checkDimensions(c.SpanMetrics.Dimensions, spanMetricsLabels); err != nil {
		return fmt.Errorf("metrics-generator: span-metrics: %w", err)
	}
	if err := checkBuckets(c.ServiceGraph.HistogramBuckets); err != nil {
		return fmt.Errorf("metrics-generator: service-graph: %w", err)
	}
	switch {
	case c.ServiceGraph.Wait <= 0:
		return errors.New("metrics-generator: service-graph: wait must be positive")
	case c.ServiceGraph.MaxItems <= 0:
		return errors.New("metrics-generator: service-graph: max items must be positive")
	}
	return c.RemoteWrite.validate()
}

func (c RemoteWriteConfig) validate() error {
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("metrics-generator: remote-write: url %q is no http(s) URL", c.URL)
		}
	}
	switch {
	case c.Timeout <= 0:
		return errors.New("metrics-generator: remote-write: timeout must be positive")
	case c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff:
		return errors.New("metrics-generator: remote-write: min backoff must be positive and at most max-backoff")
	case c.MaxSamplesPerRequest <= 0:
		return errors.New("metrics-generator: remote-write: max samples per request must be positive")
	}
	return nil
}

// maxBuckets bounds a histogram's buckets, and so the series each label
// set costs.
const maxBuckets = 64

func checkBuckets(b []float64) error {
	switch {
	case len(b) == 0:
		return errors.New("histogram buckets must not be empty")
	case len(b) > maxBuckets:
		return fmt.Errorf("at most %d histogram buckets, got %d", maxBuckets, len(b))
	}
	for i, x := range b {
		if math.IsNaN(x) || math.IsInf(x, 0) || i > 0 && x <= b[i-1] {
			return fmt.Errorf("histogram buckets must be finite and increasing, got %v", b)
		}
	}
	return nil
}

// maxDimensions bounds the labels configured from attributes.
const maxDimensions = 16

// checkDimensions refuses dimensions whose label would be invalid or
// clash with a fixed label of the metrics.
func checkDimensions(dims []string, fixed []string) error {
	if len(dims) > maxDimensions {
		return fmt.Errorf("at most %d dimensions, got %d", maxDimensions, len(dims))
	}
	seen := make(map[string]bool)
	for _, d := range dims {
		name := labelName(d)
		switch {
		case d == "":
			return errors.New("empty dimension")
		case slices.Contains(fixed, name) || name == labelPartition || name == "le":
			return fmt.Errorf("dimension %q would be the label %s, which the metrics have already", d, name)
		case seen[name]:
			return fmt.Errorf("dimensions give the label %s twice", name)
		}
		seen[name] = true
	}
	return nil
}
