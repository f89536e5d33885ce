package querybench

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name   string
		change func(*Config)
		err    string // empty: valid
	}{
		{"default", func(*Config) {}, ""},
		{"a window", func(c *Config) { c.Start, c.End = now.Add(-time.Hour), now }, ""},
		{"an open end", func(c *Config) { c.Start = now }, ""},
		{"https", func(c *Config) { c.Endpoint = "https://tempo.example:443/prefix" }, ""},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "no endpoint"},
		{"no scheme", func(c *Config) { c.Endpoint = "127.0.0.1:3200" }, "http:// or https://"},
		{"other scheme", func(c *Config) { c.Endpoint = "grpc://127.0.0.1:3200" }, "http:// or https://"},
		{"no host", func(c *Config) { c.Endpoint = "http://" }, "with a host"},
		{"no queries", func(c *Config) { c.Queries = nil }, "no queries"},
		{"an empty query", func(c *Config) { c.Queries = []string{"{}", ""} }, "query 2 is empty"},
		{"no runs", func(c *Config) { c.Repeat = 0 }, "repeat"},
		{"no limit", func(c *Config) { c.Limit = 0 }, "limit"},
		{"no spans per span set", func(c *Config) { c.SpansPerSpanSet = 0 }, "spans per span set"},
		{"start at end", func(c *Config) { c.Start, c.End = now, now }, "before end"},
		{"start after end", func(c *Config) { c.Start, c.End = now, now.Add(-time.Second) }, "before end"},
		{"no timeout", func(c *Config) { c.RequestTimeout = 0 }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error = %v, want one about %q", err, tt.err)
			}
		})
	}
}
