package objstore

import (
	"strings"
	"testing"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestS3ConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.Backend = "s3"
		c.S3.Endpoint, c.S3.Bucket = "minio:9000", "blocks"
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(*S3Config)
		want   string // part of the error
	}{
		{"no endpoint", func(c *S3Config) { c.Endpoint = "" }, "endpoint"},
		{"endpoint with scheme", func(c *S3Config) { c.Endpoint = "https://s3" }, "scheme"},
		{"no bucket", func(c *S3Config) { c.Bucket = "" }, "bucket"},
		{"key without secret", func(c *S3Config) { c.AccessKeyID = "k" }, "secret-access-key"},
		{"no timeout", func(c *S3Config) { c.RequestTimeout = 0 }, "request-timeout"},
		{"negative retries", func(c *S3Config) { c.MaxRetries = -1 }, "max-retries"},
		{"backoff above its max", func(c *S3Config) { c.RetryMaxBackoff = c.RetryBackoff / 2 }, "retry-backoff"},
		{"no startup check time", func(c *S3Config) { c.StartupCheckTimeout = 0 }, "startup-check-timeout"},
		{"part too small", func(c *S3Config) { c.PartSizeBytes = 1 << 20 }, "part-size-bytes"},
		{"prefix with empty segment", func(c *S3Config) { c.Prefix = "a//b" }, "prefix"},
		{"prefix with dot-dot", func(c *S3Config) { c.Prefix = "a/../b" }, "prefix"},
	} {
		cfg := valid()
		c.change(&cfg.S3)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v, want an error about %s", c.name, err, c.want)
		}
	}
}

func TestS3KeyPrefix(t *testing.T) {
	for prefix, want := range map[string]string{"": "", "/": "", "a": "a/", "/a/": "a/", "a/b": "a/b/", "a/b/": "a/b/"} {
		if got := (S3Config{Prefix: prefix}).keyPrefix(); got != want {
			t.Errorf("keyPrefix(%q) = %q, want %q", prefix, got, want)
		}
	}
}
