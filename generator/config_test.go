package generator

import (
	"testing"
	"time"
)

func TestConfigValidateFetches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"default", func(*Config) {}, true},
		{"fetch on any record", func(c *Config) { c.FetchMinBytes = 1 }, true},
		{"no fetch min bytes", func(c *Config) { c.FetchMinBytes = 0 }, false},
		{"fetch min bytes a whole fetch", func(c *Config) { c.FetchMinBytes = c.FetchMaxBytes }, true},
		{"fetch min bytes over a fetch", func(c *Config) { c.FetchMinBytes = c.FetchMaxBytes + 1 }, false},
		{"fetch max wait 10ms", func(c *Config) { c.FetchMaxWait = 10 * time.Millisecond }, true},
		{"fetch max wait under 10ms", func(c *Config) { c.FetchMaxWait = 9 * time.Millisecond }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.change(&cfg)
			if err := cfg.Validate(); tc.ok != (err == nil) {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
