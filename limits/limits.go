// Package limits owns the per-tenant limits: the defaults every tenant
// gets, the per-tenant overrides of a runtime file that is re-read while
// the process runs, and how the limits of several tenants combine. It holds
// the query limits the querier enforces and the ingest limits the
// distributor enforces. It does not enforce anything: the components that
// serve requests ask it for a tenant's limits and decide what to refuse.
package limits

import (
	"errors"
	"fmt"
	"time"
)

// Limits are the limits of one tenant. Zero means no limit.
type Limits struct {
	// MaxSearchDuration is the longest time range (end - start) one
	// search, tag names or tag values request may cover; a request
	// without start and end covers the most recent MaxSearchDuration.
	// Zero: no limit. Default 168h, Tempo's.
	MaxSearchDuration time.Duration `yaml:"max-search-duration" help:"Longest time range one search or tags request may cover; without start and end, the most recent window of this length is searched (0: no limit)."`
	// MaxResponseBytes caps the body of one query response: a larger
	// trace, search or tags response is refused, and a batch response
	// ends with an error record before passing it. Zero: no limit.
	// Default 0.
	MaxResponseBytes int64 `yaml:"max-response-bytes" help:"Largest query response body in bytes; larger ones are refused with 422 (0: no limit)."`

	// Query concurrency.

	// MaxConcurrentQueries is how many query API requests of the tenant
	// one querier serves at once; one more is refused at once with 429
	// and Retry-After, rather than queued. A request over several
	// tenants counts for each. Zero: no limit. Default 20.
	MaxConcurrentQueries int `yaml:"max-concurrent-queries" help:"Query requests of a tenant one querier serves at once; more are refused with 429 (0: no limit)."`
	// Ingest limits: the distributor enforces them before it acks a
	// request, each distributor on its own.

	// IngestionRateBytes is the rate, in bytes per second of OTLP
	// protobuf, at which a tenant's requests are accepted by one
	// distributor; over it they get ResourceExhausted / 429 with a hint
	// of when to retry. Zero: no limit. Default 15 MiB (Tempo's is 15 MB).
	IngestionRateBytes int64 `yaml:"ingestion-rate-bytes" help:"Bytes per second of OTLP protobuf one distributor accepts from a tenant; more gets 429 (0: no limit)."`
	// IngestionBurstBytes is how many bytes a tenant may send at once
	// above IngestionRateBytes; a request larger than it is refused with
	// ResourceExhausted / 413, as it could never pass. It must be positive
	// when the rate is. Default 20 MiB (Tempo's is 20 MB): more than one
	// request of the distributor's default max-request-bytes.
	IngestionBurstBytes int64 `yaml:"ingestion-burst-bytes" help:"Bytes a tenant may send at once above the ingestion rate; larger requests are refused."`
	// MaxAttributeBytes caps every attribute key and string or bytes
	// value, at any depth, of resources, scopes, spans, events and links:
	// longer ones are truncated, at a UTF-8 boundary for strings, and the
	// request is accepted with a warning in its OTLP partial_success. Zero:
	// no limit. Default 2048, Tempo's.
	MaxAttributeBytes int64 `yaml:"max-attribute-bytes" help:"Longest attribute key or value in bytes; longer ones are truncated (0: no limit)."`

	// Metrics-generator.

	// MetricsGeneratorMaxActiveSeries caps the Prometheus series the
	// metrics-generator derives from one partition's spans of the tenant
	// (a histogram makes a series per bucket, and its _sum and _count).
	// A span whose series would pass it is left out of them, counted in
	// spanlog_metrics_generator_spans_discarded_total, and logged. Each
	// series is labelled with its partition, so the tenant's series in
	// Prometheus are up to the partition count times this. Zero: no
	// limit. Default 50,000.
	MetricsGeneratorMaxActiveSeries int `yaml:"metrics-generator-max-active-series" help:"Series the metrics-generator derives from one partition's spans of a tenant; spans of more are left out and counted (0: no limit)."`

	// Storage.

	// BlockRetention is how long the tenant's blocks are kept: one whose
	// spans all ended longer ago is no longer read, and the compactor
	// deletes it. Zero: compactor.block-retention, the retention of
	// every tenant that sets none. Default 0.
	BlockRetention time.Duration `yaml:"block-retention" help:"How long a tenant's blocks are kept after their last span ended (0: compactor.block-retention)."`
}

// DefaultLimits returns the limits of a tenant no override names.
func DefaultLimits() Limits {
	return Limits{
		MaxSearchDuration:    168 * time.Hour,
		MaxConcurrentQueries: 20,
		IngestionRateBytes:   15 << 20,
		IngestionBurstBytes:  20 << 20,
		MaxAttributeBytes:    2048,

		MetricsGeneratorMaxActiveSeries: 50_000,
	}
}

// Validate reports limits that cannot be meant.
func (l Limits) Validate() error {
	switch {
	case l.MaxSearchDuration < 0:
		return fmt.Errorf("max-search-duration %v must not be negative", l.MaxSearchDuration)
	case l.MaxResponseBytes < 0:
		return fmt.Errorf("max-response-bytes %d must not be negative", l.MaxResponseBytes)
	case l.MaxConcurrentQueries < 0:
		return fmt.Errorf("max-concurrent-queries %d must not be negative", l.MaxConcurrentQueries)
	case l.IngestionRateBytes < 0:
		return fmt.Errorf("ingestion-rate-bytes %d must not be negative", l.IngestionRateBytes)
	case l.IngestionBurstBytes < 0:
		return fmt.Errorf("ingestion-burst-bytes %d must not be negative", l.IngestionBurstBytes)
	case l.IngestionRateBytes > 0 && l.IngestionBurstBytes == 0:
		return fmt.Errorf("ingestion-burst-bytes must be positive with an ingestion rate (%d), or nothing passes", l.IngestionRateBytes)
	case l.MaxAttributeBytes < 0:
		return fmt.Errorf("max-attribute-bytes %d must not be negative", l.MaxAttributeBytes)
	case l.MetricsGeneratorMaxActiveSeries < 0:
		return fmt.Errorf("metrics-generator-max-active-series %d must not be negative", l.MetricsGeneratorMaxActiveSeries)
	case l.BlockRetention < 0:
		return fmt.Errorf("block-retention %v must not be negative", l.BlockRetention)
	}
	return nil
}

// Config is the limits every tenant gets and where per-tenant overrides
// come from.
type Config struct {
	// Defaults apply to every tenant, and to each setting an override
	// leaves out.
	Defaults Limits `yaml:",inline"`
	// OverridesFile is a YAML file of per-tenant limits (see
	// Overrides), re-read every OverridesPeriod so that a change applies
	// without a restart. Default "": no overrides.
	OverridesFile string `yaml:"overrides-file" help:"YAML file of per-tenant limits, re-read while running (empty: none)."`
	// OverridesPeriod is how often OverridesFile is re-read. Default 10s.
	OverridesPeriod time.Duration `yaml:"overrides-period" help:"How often the overrides file is re-read."`
}

// DefaultConfig returns the default limits, without overrides.
func DefaultConfig() Config {
	return Config{Defaults: DefaultLimits(), OverridesPeriod: 10 * time.Second}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if err := c.Defaults.Validate(); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	if c.OverridesFile != "" && c.OverridesPeriod <= 0 {
		return errors.New("limits: overrides period must be positive")
	}
	return nil
}
