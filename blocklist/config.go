package blocklist

import (
	"errors"
	"time"
)

// Config tunes polling.
type Config struct {
	// PollInterval is the time between polls. Default 10s.
	PollInterval time.Duration `yaml:"poll-interval" help:"How often object storage is polled for blocks."`
	// TenantConcurrency is how many tenants are polled at once. Default 8.
	TenantConcurrency int `yaml:"tenant-concurrency" help:"Tenants polled in parallel."`
	// ListConcurrency is how many listings run at once. Default 4.
	ListConcurrency int `yaml:"list-concurrency" help:"Object storage listings in flight at once."`
	// MetaConcurrency is how many block metas are read at once. Default 32.
	MetaConcurrency int `yaml:"meta-concurrency" help:"Block metas read in parallel when listing."`
}

// DefaultConfig returns the configuration spanlog runs with when nothing is set.
func DefaultConfig() Config {
	return Config{
		PollInterval:      10 * time.Second,
		TenantConcurrency: 8,
		ListConcurrency:   4,
		MetaConcurrency:   32,
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.PollInterval <= 0 {
		return errors.New("blocklist: poll interval must be positive")
	}
	if c.TenantConcurrency <= 0 || c.ListConcurrency <= 0 || c.MetaConcurrency <= 0 {
		return errors.New("blocklist: concurrency settings must be positive")
	}
	return nil
}
