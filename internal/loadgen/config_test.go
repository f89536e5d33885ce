package loadgen

import (
	"math"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		err    string // empty: valid
	}{
		{"default", func(*Config) {}, ""},
		{"http", func(c *Config) { c.Protocol = ProtocolHTTP }, ""},
		{"as fast as possible", func(c *Config) { c.Rate = 0 }, ""},
		{"no attributes", func(c *Config) { c.AttributesPerSpan = 0 }, ""},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "endpoint"},
		{"collector client", func(c *Config) { c.Client = ClientCollector }, ""},
		{"unknown client", func(c *Config) { c.Client = "curl" }, "client"},
		{"unknown protocol", func(c *Config) { c.Protocol = "udp" }, "protocol"},
		{"no workers", func(c *Config) { c.Workers = 0 }, "workers"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate"},
		{"infinite rate", func(c *Config) { c.Rate = math.Inf(1) }, "rate"},
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }, "rate"},
		{"empty traces", func(c *Config) { c.SpansPerTrace = 0 }, "spans per trace"},
		{"negative attributes", func(c *Config) { c.AttributesPerSpan = -1 }, "attributes"},
		{"empty batches", func(c *Config) { c.BatchTraces = 0 }, "batch traces"},
		{"huge requests", func(c *Config) { c.BatchTraces, c.SpansPerTrace = 1000, 1000 }, "at most"},
		{"no services", func(c *Config) { c.Services = 0 }, "services"},
		{"no timeout", func(c *Config) { c.RequestTimeout = 0 }, "timeout"},
		{"a count of traces", func(c *Config) { c.Traces = 5 }, ""},
		{"negative traces", func(c *Config) { c.Traces = -1 }, "traces must"},
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
