package querier

import (
	"testing"
	"time"
)

func TestConfigValidateLiveTailFetches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"default", func(*Config) {}, true},
		{"fetch on any record", func(c *Config) { c.LiveTailFetchMinBytes = 1 }, true},
		{"no fetch min bytes", func(c *Config) { c.LiveTailFetchMinBytes = 0 }, false},
		{"fetch min bytes at the bound", func(c *Config) { c.LiveTailFetchMinBytes = maxLiveTailFetchMinBytes }, true},
		{"fetch min bytes past the bound", func(c *Config) { c.LiveTailFetchMinBytes = maxLiveTailFetchMinBytes + 1 }, false},
		{"fetch max wait 10ms", func(c *Config) { c.LiveTailFetchMaxWait = 10 * time.Millisecond }, true},
		{"fetch max wait under 10ms", func(c *Config) { c.LiveTailFetchMaxWait = 9 * time.Millisecond }, false},
		{"fetch max wait the read-your-writes timeout", func(c *Config) { c.LiveTailFetchMaxWait = c.ReadYourWritesTimeout }, false},
		{"fetch max wait with no read-your-writes wait", func(c *Config) {
			c.ReadYourWritesTimeout = 0
			c.LiveTailFetchMaxWait = time.Second
		}, true},
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
