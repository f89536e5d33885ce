package limits

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/spanlog/spanlog/tenant"
)

// Overrides answers what a tenant's limits are: the defaults, with what
// the overrides file sets for that tenant on top. The file looks like
//
//	overrides:
//	  tenant-a:
//	    max-search-duration: 720h
//	  tenant-b:
//	    max-response-bytes: 10485760
//	    max-search-duration: 0s   # no limit
//
// A setting a tenant's entry leaves out keeps its default. A file that
// cannot be read, does not parse, names a setting that does not exist, an
// invalid tenant ID or an invalid value is rejected whole: the overrides
// read last stay in force, and the rejection is logged and counted.
//
// Create it with NewOverrides and keep it current with Run. It is safe for
// concurrent use.
type Overrides struct {
	cfg     Config
	logger  *slog.Logger
	metrics overridesMetrics
	// byTenant holds the complete limits of each tenant the file names.
	byTenant atomic.Pointer[map[string]Limits]
	// content is the file as last applied, to log only real changes.
	content []byte
}

type overridesMetrics struct {
	reloads        *prometheus.CounterVec
	lastSuccessful prometheus.Gauge
}

// NewOverrides returns the limits of cfg, with the overrides file read
// once; a file that is rejected at start is an error, so that a broken
// deployment fails at once rather than running on defaults.
func NewOverrides(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Overrides, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := &Overrides{
		cfg:    cfg,
		logger: logger,
		metrics: overridesMetrics{
			reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "spanlog_limits_overrides_reloads_total",
				Help: "Reads of the per-tenant limits overrides file, by result (success, failure).",
			}, []string{"result"}),
			lastSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "spanlog_limits_overrides_last_reload_successful",
				Help: "1 if the last read of the overrides file was applied, 0 if it was rejected and older overrides are in force.",
			}),
		},
	}
	reg.MustRegister(o.metrics.reloads, o.metrics.lastSuccessful)
	o.byTenant.Store(&map[string]Limits{})
	o.metrics.lastSuccessful.Set(1)
	if cfg.OverridesFile != "" {
		if err := o.reload(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Run re-reads the overrides file every OverridesPeriod until ctx ends.
// Without a file it only waits.
func (o *Overrides) Run(ctx context.Context) error {
	if o.cfg.OverridesFile == "" {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(o.cfg.OverridesPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := o.reload(); err != nil {
				o.logger.Error("limits overrides rejected; the last good ones stay in force", "file", o.cfg.OverridesFile, "err", err)
			}
		}
	}
}

// For returns the limits of tenant id.
func (o *Overrides) For(id string) Limits {
	if l, ok := (*o.byTenant.Load())[id]; ok {
		return l
	}
	return o.cfg.Defaults
}

// BlockRetention returns how long tenant id's blocks are kept: its
// block-retention, or byDefault (compactor.block-retention) when that is
// zero.
func (o *Overrides) BlockRetention(id string, byDefault time.Duration) time.Duration {
	if r := o.For(id).BlockRetention; r > 0 {
		return r
	}
	return byDefault
}

// Strictest returns the strictest value of one limit over tenants, the
// limit a request reading all of them together must keep, and the tenant
// it comes from. Zero means none of them has that limit.
func Strictest[T ~int64](o *Overrides, tenants []string, limit func(Limits) T) (value T, from string) {
	for _, t := range tenants {
		if v := limit(o.For(t)); v > 0 && (value == 0 || v < value) {
			value, from = v, t
		}
	}
	return value, from
}

// reload reads the overrides file and, if it is valid, applies it. A
// reload is counted last, once its overrides and the gauge are set: one
// who sees it counted sees what it did.
func (o *Overrides) reload() error {
	content, byTenant, err := o.read()
	if err != nil {
		o.metrics.lastSuccessful.Set(0)
		o.metrics.reloads.WithLabelValues("failure").Inc()
		return err
	}
	if !bytes.Equal(content, o.content) {
		o.byTenant.Store(&byTenant)
		o.content = content
		o.logger.Info("limits overrides applied", "file", o.cfg.OverridesFile, "tenants", len(byTenant))
	}
	o.metrics.lastSuccessful.Set(1)
	o.metrics.reloads.WithLabelValues("success").Inc()
	return nil
}

func (o *Overrides) read() ([]byte, map[string]Limits, error) {
	content, err := os.ReadFile(o.cfg.OverridesFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read limits overrides: %w", err)
	}
	byTenant, err := parseOverrides(content, o.cfg.Defaults)
	if err != nil {
		return nil, nil, fmt.Errorf("limits overrides %s: %w", o.cfg.OverridesFile, err)
	}
	return content, byTenant, nil
}

// parseOverrides returns each tenant's complete limits: defaults, with
// what the tenant's entry sets on top.
func parseOverrides(content []byte, defaults Limits) (map[string]Limits, error) {
	// A strict pass first, so that a misspelt setting is an error rather
	// than a silent default; yaml.Node.Decode below cannot be strict.
	var strict struct {
		Overrides map[string]Limits `yaml:"overrides"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(content))
	dec.KnownFields(true)
	if err := dec.Decode(&strict); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var raw struct {
		Overrides map[string]yaml.Node `yaml:"overrides"`
	}
	if err := yaml.Unmarshal(content, &raw); err != nil {
		return nil, err
	}
	byTenant := make(map[string]Limits, len(raw.Overrides))
	for id, node := range raw.Overrides {
		if err := tenant.ValidateID(id); err != nil {
			return nil, err
		}
		l := defaults
		if err := node.Decode(&l); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", id, err)
		}
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", id, err)
		}
		byTenant[id] = l
	}
	return byTenant, nil
}
