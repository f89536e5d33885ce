package producer

import (
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"default", func(*Config) {}, true},
		{"no gRPC address", func(c *Config) { c.GRPCListenAddress = "" }, false},
		{"no HTTP address", func(c *Config) { c.HTTPListenAddress = "" }, false},
		{"record too small", func(c *Config) { c.MaxRecordBytes = 512 }, false},
		{"record too large", func(c *Config) { c.MaxRecordBytes = 2 << 30 }, false},
		{"no write timeout", func(c *Config) { c.WriteTimeout = 0 }, false},
		{"negative write timeout", func(c *Config) { c.WriteTimeout = -time.Second }, false},
		{"no request size", func(c *Config) { c.MaxRequestBytes = 0 }, false},
		{"request over protobuf's limit", func(c *Config) { c.MaxRequestBytes = 4 << 30 }, false},
		{"request records as large as a request", func(c *Config) { c.MaxRequestRecordBytes = c.MaxRequestBytes }, true},
		{"request records smaller than a request", func(c *Config) { c.MaxRequestRecordBytes = c.MaxRequestBytes - 1 }, false},
		{"buffer holds one request", func(c *Config) { c.MaxBufferedBytes = c.MaxRequestRecordBytes }, true},
		{"buffer smaller than a request", func(c *Config) { c.MaxBufferedBytes = c.MaxRequestRecordBytes - 1 }, false},
		{"no buffer", func(c *Config) { c.MaxBufferedBytes = 0 }, false},
		{"scalar attributes only", func(c *Config) { c.MaxAttributeDepth = 0 }, true},
		{"negative attribute depth", func(c *Config) { c.MaxAttributeDepth = -1 }, false},
		{"attribute depth over protobuf's limit", func(c *Config) { c.MaxAttributeDepth = 1001 }, false},
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
