package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/threadprio"
)

func load(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	cfg := defaultConfig()
	fs := flag.NewFlagSet("spanlog", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	err := loadConfig(&cfg, fs, args)
	return cfg, err
}

func TestDefaultsNeedNoConfig(t *testing.T) {
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if cfg.Target != targetAll || !cfg.embedsKafka() {
		t.Fatalf("default target %q embeds kafka %v; want all, true", cfg.Target, cfg.embedsKafka())
	}
	// Block-builders write for speed, the compactor for size.
	if l := cfg.BlockBuilder.Block.CompressionLevel; l != block.CompressionFastest {
		t.Errorf("block-builder compression level %q, want %s", l, block.CompressionFastest)
	}
	if l := cfg.Compactor.Block.CompressionLevel; l != block.CompressionDefault {
		t.Errorf("compactor compression level %q, want %s", l, block.CompressionDefault)
	}
}

func TestFlagsOverrideFileOverridesDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spanlog.yaml")
	yaml := `
target: querier
kafka:
  brokers: [k1:9092, k2:9092]
  topic: from-file
block-builder:
  cycle-duration: 1m
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(t, "-config.file", path, "-kafka.topic=from-flag", "-tenants.multitenancy-enabled",
		"-metrics-generator.span-metrics.histogram-buckets=0.1, 0.5,2")
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.MetricsGenerator.SpanMetrics.HistogramBuckets; !slices.Equal(b, []float64{0.1, 0.5, 2}) {
		t.Errorf("histogram buckets %v, want the flag's 0.1, 0.5, 2", b)
	}
	if cfg.Target != targetQuerier {
		t.Errorf("target %q, want querier (file)", cfg.Target)
	}
	if !slices.Equal(cfg.Kafka.Brokers, []string{"k1:9092", "k2:9092"}) {
		t.Errorf("brokers %q, want the file's", cfg.Kafka.Brokers)
	}
	if cfg.Kafka.Topic != "from-flag" {
		t.Errorf("topic %q, want from-flag (flag beats file)", cfg.Kafka.Topic)
	}
	if cfg.BlockBuilder.CycleDuration != time.Minute {
		t.Errorf("cycle %v, want 1m (file)", cfg.BlockBuilder.CycleDuration)
	}
	if !cfg.Tenants.MultiTenancy {
		t.Error("boolean flag without value not set")
	}
	if cfg.Querier.QueryTimeout != defaultConfig().Querier.QueryTimeout {
		t.Error("unset key lost its default")
	}
}

// The default limits sit inline in limits:, beside where the overrides
// come from, in YAML and flags alike.
func TestLimitsSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spanlog.yaml")
	if err := os.WriteFile(path, []byte("limits:\n  max-search-duration: 24h\n  overrides-file: /etc/spanlog/overrides.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(t, "-config.file", path, "-limits.max-response-bytes=1048576")
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Limits
	if l.Defaults.MaxSearchDuration != 24*time.Hour || l.Defaults.MaxResponseBytes != 1<<20 ||
		l.OverridesFile != "/etc/spanlog/overrides.yaml" || l.OverridesPeriod != defaultConfig().Limits.OverridesPeriod {
		t.Errorf("limits %+v", l)
	}
	if cfg, err = load(t, "-limits.max-response-bytes=-1"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "max-response-bytes") {
		t.Errorf("negative limit: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("kafka:\n  topicc: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, "-config.file="+path); err == nil || !strings.Contains(err.Error(), "topicc") {
		t.Errorf("misspelt key: err %v, want one naming it", err)
	}
	if _, err := load(t, "-block-builder.cycle-duration=soon"); err == nil {
		t.Error("bad duration accepted")
	}
	cfg, err := load(t, "-target=ingester")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ingester") {
		t.Errorf("unknown target: %v", err)
	}
	for _, bad := range [][]string{
		{"-kafka.log-retention=0s", "log-retention"},
		{"-kafka.log-retention-margin=-1h", "log-retention-margin"},
		{"-kafka.log-trim-interval=0s", "log-trim-interval"},
		{"-kafka.compression=gzip", `compression "gzip" is not one of none, snappy, lz4, zstd`},
		{"-embedded-kafka.segment-bytes=1024", "segment-bytes"},
		{"-embedded-kafka.sync-rounds-in-flight=0", "sync-rounds-in-flight"},
		{"-server.gomaxprocs=-1", "gomaxprocs"},
		{"-server.background-nice=-1", "background-nice"},
		{"-server.background-nice=20", "background-nice"},
		{"-kafka.foreign-tenant-header=X-Scope-OrgID", "multitenancy-enabled"},
		{"-metrics-generator.flush-timeout=30s", "flush-timeout"},
		{"-metrics-generator.span-metrics.histogram-buckets=1,0.5", "histogram buckets"},
		{"-metrics-generator.span-metrics.dimensions=service", "dimension"},
		{"-metrics-generator.remote-write.url=prometheus:9090", "url"},
		{"-compactor.block.compression-level=fast", "compression level"},
		{"-block-builder.block.compression-level=fast", "compression level"},
		{"-block-builder.fetch-min-bytes=0", "fetch min bytes"},
		{"-block-builder.idle-cut-delay=100ms", "fetch max wait"},
		{"-metrics-generator.fetch-min-bytes=9000000", "fetch min bytes"},
		{"-metrics-generator.fetch-max-wait=1ms", "fetch max wait"},
		{"-querier.live-tail-fetch-min-bytes=0", "live tail fetch min bytes"},
		{"-querier.live-tail-fetch-max-wait=5s", "live tail fetch max wait"},
	} {
		cfg, err := load(t, bad[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), bad[1]) {
			t.Errorf("%s: %v, want an error naming %s", bad[0], err, bad[1])
		}
	}
}

func TestBackgroundNiceReachesTheRoles(t *testing.T) {
	cfg, err := load(t, "-server.background-nice=7")
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.withBackground()
	for role, n := range map[string]threadprio.Nice{
		"block-builder": cfg.BlockBuilder.Background,
		"querier":       cfg.Querier.Background,
		"compactor":     cfg.Compactor.Background,
	} {
		if n != 7 {
			t.Errorf("%s: background nice %d, want 7", role, n)
		}
	}
	if cfg := defaultConfig(); cfg.Server.BackgroundNice != 10 {
		t.Errorf("default background nice %d, want 10", cfg.Server.BackgroundNice)
	}
}

// A compactor deletes a block no longer read only once every querier
// has learnt so and finished the queries reading it.
func TestDeletionGraceOutlastsWhatQueriersTakeToLearn(t *testing.T) {
	cfg, err := load(t, "-target=compactor", "-compactor.deletion-grace=40s")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "compactor.deletion-grace") {
		t.Errorf("a deletion grace of 40s with the default 30s query timeout: %v, want an error naming it", err)
	}
	cfg, err = load(t, "-target=compactor", "-compactor.deletion-grace=40s", "-querier.query-timeout=10s")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("a deletion grace of 40s with a 10s query timeout: %v", err)
	}
}

// Every setting must be reachable as a flag, or the YAML and the command
// line drift apart.
func TestEverySettingHasAFlag(t *testing.T) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("spanlog", flag.ContinueOnError)
	if err := loadConfig(&cfg, fs, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"target", "server.http-listen-address", "kafka.brokers", "kafka.partitions",
		"storage.local.path", "distributor.grpc-listen-address", "block-builder.cycle-duration",
		"querier.read-your-writes-timeout", "embedded-kafka.data-dir", "tenants.multitenancy-enabled",
		"limits.max-search-duration", "limits.max-response-bytes", "limits.overrides-file", "limits.overrides-period",
		"server.internal-listen-address", "server.http-read-header-timeout", "server.http-read-timeout", "server.http-idle-timeout",
		"querier.peer-max-response-bytes", "querier.advertise-address", "limits.max-concurrent-queries",
		"compactor.compaction-window", "compactor.block-retention", "compactor.deletion-grace", "compactor.leftover-grace",
		"compactor.group", "limits.block-retention", "kafka.foreign-tenant-header"} {
		if fs.Lookup(name) == nil {
			t.Errorf("no flag -%s", name)
		}
	}
}
