package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spanlog/spanlog/blockbuilder"
	"github.com/spanlog/spanlog/compactor"
	"github.com/spanlog/spanlog/generator"
	"github.com/spanlog/spanlog/internal/threadprio"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/producer"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

// Targets a process can run; all runs every role and the embedded Kafka.
const (
	targetAll          = "all"
	targetDistributor  = "distributor"
	targetBlockBuilder = "block-builder"
	targetQuerier      = "querier"
	targetCompactor    = "compactor"
	targetGenerator    = "metrics-generator"
)

var targets = []string{targetAll, targetDistributor, targetBlockBuilder, targetQuerier, targetCompactor, targetGenerator}

// Config is the whole configuration of a spanlog process.
type Config struct {
	// Target is the role this process plays. Default all.
	Target string `yaml:"target" help:"Role to run: all, distributor, block-builder, querier, compactor or metrics-generator."`
	// Server is the HTTP server of every target (API, /ready, /metrics).
	Server ServerConfig `yaml:"server"`
	// Tenants says how requests map to tenants.
	Tenants tenant.Config `yaml:"tenants"`
	// Limits are the per-tenant limits: defaults and an overrides file.
	Limits limits.Config `yaml:"limits"`
	// Kafka says where the trace log is.
	Kafka tracelog.Config `yaml:"kafka"`
	// EmbeddedKafka is the in-process Kafka of target all.
	EmbeddedKafka EmbeddedKafkaConfig `yaml:"embedded-kafka"`
	// Storage says where blocks are.
	Storage      objstore.Config     `yaml:"storage"`
	Distributor  producer.Config     `yaml:"distributor"`
	BlockBuilder blockbuilder.Config `yaml:"block-builder"`
	Querier      querier.Config      `yaml:"querier"`
	Compactor    compactor.Config    `yaml:"compactor"`
	// MetricsGenerator derives span metrics from the log.
	MetricsGenerator generator.Config `yaml:"metrics-generator"`
}

// ServerConfig configures the HTTP servers and the process.
type ServerConfig struct {
	// HTTPListenAddress serves the query API, /ready and /metrics.
	// Default :3200.
	HTTPListenAddress string `yaml:"http-listen-address" help:"Address of the HTTP server (query API, /ready, /metrics)."`
	// InternalListenAddress serves what queriers ask each other for:
	// their live tails. Those requests name their tenants in the body
	// and are not authenticated, so only queriers may reach this
	// address, and it is never the HTTP server's. Empty means
	// 127.0.0.1:3201 when the process embeds Kafka, which listens on
	// loopback, so that every querier of the group runs on this host;
	// and :3201 otherwise, for queriers on other hosts (keep it off
	// networks clients reach). Only queriers listen on it. Default "".
	InternalListenAddress string `yaml:"internal-listen-address" help:"Address of the listener for traffic between queriers, which only queriers may reach (default: 127.0.0.1:3201 with the embedded Kafka, :3201 otherwise)."`
	// HTTPReadHeaderTimeout bounds the reading of a request's headers,
	// on the HTTP server and the internal listener alike: a client that
	// never finishes them is cut off. Default 10s.
	HTTPReadHeaderTimeout time.Duration `yaml:"http-read-header-timeout" help:"Longest time to read a request's headers."`
	// HTTPReadTimeout bounds the reading of a whole request, body
	// included. There is no write timeout: an answer, streamed or not,
	// is bounded by its query's own deadline (querier.query-timeout),
	// which a server-wide one could only cut short or duplicate.
	// Default 1m.
	HTTPReadTimeout time.Duration `yaml:"http-read-timeout" help:"Longest time to read a whole request, body included."`
	// HTTPIdleTimeout bounds how long a kept-alive connection waits for
	// its next request. Longer than the idle timeout of Grafana's and
	// the queriers' own clients (90s and 1m), so that they, not the
	// server, close an idle connection, and never reuse one the server
	// is closing. Default 2m.
	HTTPIdleTimeout time.Duration `yaml:"http-idle-timeout" help:"Longest time a kept-alive connection waits for its next request."`
	// HTTP2MaxConcurrentStreams bounds the requests one HTTP/2
	// connection to the HTTP server has open at once: above all gRPC
	// streams (Grafana's and tempo-cli's streamed searches), which
	// share a connection. A client past it waits for a stream to end
	// (gRPC clients queue the call); each stream is a query, bounded
	// besides by the tenant's max-concurrent-queries. Default 100, as
	// Tempo's gRPC server.
	HTTP2MaxConcurrentStreams int `yaml:"http2-max-concurrent-streams" help:"Most requests (gRPC streams) open at once on one HTTP/2 connection to the HTTP server."`
	// GracefulShutdown bounds the stop after SIGTERM: in-flight work is
	// finished or abandoned within it. Default 25s.
	GracefulShutdown time.Duration `yaml:"graceful-shutdown-timeout" help:"Time allowed to stop after SIGTERM."`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `yaml:"log-level" help:"Log level: debug, info, warn or error."`
	// MemoryLimitBytes is a soft limit on the memory Go's runtime holds
	// (GOMEMLIMIT): near it the collector runs more often, instead of
	// letting the heap grow to twice what is live, which is most of the
	// process's memory under load. It bounds that headroom, not what the
	// process needs: the bounds of docs/design.md do. Set it above their
	// sum and below the memory the process may take (a container's
	// limit, less what is not Go's heap); under it the collector runs
	// without end and takes up to half the CPU. 0 leaves the GOMEMLIMIT
	// environment variable, or no limit. Default 0.
	MemoryLimitBytes int64 `yaml:"memory-limit-bytes" help:"Soft limit on the Go runtime's memory, as GOMEMLIMIT: the collector runs more often near it (0: GOMEMLIMIT, or none)."`
	// GOMAXPROCS is how many threads run Go code at once. Go's default,
	// the CPUs the process may use, suits a process with one role. With
	// every role in one process (-target=all) on few CPUs, the
	// block-builders' and the live tail's CPU-bound work can hold every
	// thread while a write waits on the network or an fsync; a few more
	// threads than CPUs let the kernel run the write path's goroutines
	// as soon as they wake (docs/design.md, Threads of one process). 0
	// leaves the GOMAXPROCS environment variable, or Go's default.
	// Default 0.
	GOMAXPROCS int `yaml:"gomaxprocs" help:"Threads running Go code at once, as GOMAXPROCS (0: the GOMAXPROCS environment variable, or Go's default of the CPUs the process may use)."`
	// BackgroundNice is the nice value, 0 to 19, of the threads running
	// work no client waits on: the block-builders' flushes, the live
	// tail's decoding and the compactor's merges. With every role in one
	// process on few CPUs, the kernel then runs a write's goroutines
	// first when they wake, and the background work takes the time left
	// and catches up after a burst (docs/design.md, Threads of one
	// process). It changes nothing where a role has its process to
	// itself and the CPUs are not short, and nothing on systems other
	// than Linux. 0 runs that work at the usual priority. Default 10.
	BackgroundNice int `yaml:"background-nice" help:"Nice value (0 to 19) of the threads of work no client waits on (block flushes, live tail decoding, compaction), so that writes run first on busy CPUs (0: the usual priority; Linux only)."`
}

// EmbeddedKafkaConfig configures the in-process Kafka (franz-go's kfake).
type EmbeddedKafkaConfig struct {
	// Enabled starts it when the target is all. Default true.
	Enabled bool `yaml:"enabled" help:"Run an in-process Kafka when the target is all."`
	// Port it listens on, on 127.0.0.1; 0 picks a free port. The roles of
	// the process use it whatever kafka.brokers says. Default 9092.
	Port int `yaml:"port" help:"Port of the in-process Kafka on 127.0.0.1 (0: any free port)."`
	// DataDir persists the log across restarts. Default ./data/kafka.
	DataDir string `yaml:"data-dir" help:"Directory where the in-process Kafka keeps the log."`
	// MaxMessageBytes is the broker's message.max.bytes. Default 1 MiB + 12 bytes, Kafka's own default.
	MaxMessageBytes int `yaml:"max-message-bytes" help:"Largest record batch the in-process Kafka accepts."`
	// SegmentBytes is the size of the log's segment files. Trimming the
	// log frees whole segments only, so each partition keeps up to this
	// many bytes of records already trimmed. Default 16 MiB.
	SegmentBytes int64 `yaml:"segment-bytes" help:"Size of the in-process Kafka's segment files; each partition keeps up to one of trimmed records on disk."`
	// SyncRoundsInFlight bounds the group commits that fsync the log at
	// once: a write waits for the next round, which starts at once
	// unless this many are in flight, and is answered once it and every
	// round started before it ended. More rounds wait less for one to
	// start, but fsync the same files more often, each round holding a
	// goroutine and up to 16 fsyncs; 1 runs one round at a time. On a
	// local disk a round is short next to a write's way to the broker,
	// and one at a time served more writes per round and acked more
	// spans/s at a lower p50 (docs/benchmarks.md, Ingest end to end after
	// session 11); more may pay where an fsync is slow. Default 1.
	SyncRoundsInFlight int `yaml:"sync-rounds-in-flight" help:"Most group commits fsyncing the in-process Kafka's log at once (1: one at a time)."`
}

func defaultConfig() Config {
	return Config{
		Target: targetAll,
		Server: ServerConfig{
			HTTPListenAddress:         ":3200",
			HTTPReadHeaderTimeout:     10 * time.Second,
			HTTPReadTimeout:           time.Minute,
			HTTPIdleTimeout:           2 * time.Minute,
			HTTP2MaxConcurrentStreams: 100,
			GracefulShutdown:          25 * time.Second,
			LogLevel:                  "info",
			BackgroundNice:            10,
		},
		Tenants: tenant.DefaultConfig(),
		Limits:  limits.DefaultConfig(),
		Kafka:   tracelog.DefaultConfig(),
		EmbeddedKafka: EmbeddedKafkaConfig{
			Enabled:            true,
			Port:               9092,
			DataDir:            "./data/kafka",
			MaxMessageBytes:    1<<20 + 12,
			SegmentBytes:       16 << 20,
			SyncRoundsInFlight: 1,
		},
		Storage:      objstore.DefaultConfig(),
		Distributor:  producer.DefaultConfig(),
		BlockBuilder: blockbuilder.DefaultConfig(),
		Querier:      querier.DefaultConfig(),
		Compactor:    compactor.DefaultConfig(),

		MetricsGenerator: generator.DefaultConfig(),
	}
}

// withBackground returns c with server.background-nice given to the
// roles' background work.
func (c Config) withBackground() Config {
	n := threadprio.Nice(c.Server.BackgroundNice)
	c.BlockBuilder.Background = n
	c.Querier.Background = n
	c.Compactor.Background = n
	return c
}

// runs reports whether the process plays role.
func (c *Config) runs(role string) bool {
	return c.Target == targetAll || c.Target == role
}

// usesStorage reports whether a role of the process reads or writes
// object storage: blocks, or the metrics-generator's saved series.
func (c *Config) usesStorage() bool {
	return c.runs(targetBlockBuilder) || c.runs(targetQuerier) || c.runs(targetCompactor) || c.runs(targetGenerator)
}

func (c *Config) embedsKafka() bool {
	return c.Target == targetAll && c.EmbeddedKafka.Enabled
}

// internalListenAddress is server.internal-listen-address, or its default.
func (c *Config) internalListenAddress() string {
	switch {
	case c.Server.InternalListenAddress != "":
		return c.Server.InternalListenAddress
	case c.embedsKafka():
		return "127.0.0.1:3201"
	}
	return ":3201"
}

// Validate checks the settings of the roles the process runs.
func (c *Config) Validate() error {
	if !slices.Contains(targets, c.Target) {
		return fmt.Errorf("unknown target %q; want one of %s", c.Target, strings.Join(targets, ", "))
	}
	if c.Server.GracefulShutdown <= 0 {
		return errors.New("server: graceful shutdown timeout must be positive")
	}
	if c.Server.HTTPReadHeaderTimeout <= 0 || c.Server.HTTPReadTimeout <= 0 || c.Server.HTTPIdleTimeout <= 0 {
		return errors.New("server: HTTP read header, read and idle timeouts must be positive")
	}
	if c.Server.HTTP2MaxConcurrentStreams <= 0 {
		return errors.New("server: HTTP/2 max concurrent streams must be positive")
	}
	if c.Server.MemoryLimitBytes < 0 {
		return errors.New("server: memory limit must not be negative")
	}
	if c.Server.GOMAXPROCS < 0 {
		return errors.New("server: gomaxprocs must not be negative")
	}
	if c.Server.BackgroundNice < 0 || c.Server.BackgroundNice > int(threadprio.MaxNice) {
		return fmt.Errorf("server: background-nice %d must be from 0 to %d", c.Server.BackgroundNice, threadprio.MaxNice)
	}
	if c.embedsKafka() && c.EmbeddedKafka.DataDir == "" {
		return errors.New("embedded kafka: data dir must be set")
	}
	if c.embedsKafka() && c.EmbeddedKafka.SegmentBytes < int64(c.EmbeddedKafka.MaxMessageBytes) {
		return fmt.Errorf("embedded kafka: segment-bytes %d must be at least max-message-bytes %d", c.EmbeddedKafka.SegmentBytes, c.EmbeddedKafka.MaxMessageBytes)
	}
	if c.embedsKafka() && c.EmbeddedKafka.SyncRoundsInFlight < 1 {
		return errors.New("embedded kafka: sync-rounds-in-flight must be at least 1")
	}
	errs := []error{c.Tenants.Validate(), c.Limits.Validate(), c.Kafka.Validate()}
	if c.Kafka.ForeignTenantHeader != "" && !c.Tenants.MultiTenancy {
		// Spans stored under a tenant no query can name.
		errs = append(errs, errors.New("kafka.foreign-tenant-header needs tenants.multitenancy-enabled: without it every query reads the default tenant alone"))
	}
	if c.runs(targetDistributor) {
		errs = append(errs, c.Distributor.Validate())
		// A stopping distributor lets requests in flight finish, each within
		// the write timeout: the grace must leave room for that.
		if c.Distributor.WriteTimeout+time.Second >= c.Server.GracefulShutdown {
			errs = append(errs, fmt.Errorf("distributor.write-timeout %v must be more than 1s below server.graceful-shutdown-timeout %v",
				c.Distributor.WriteTimeout, c.Server.GracefulShutdown))
		}
	}
	if c.usesStorage() {
		errs = append(errs, c.Storage.Validate())
	}
	if c.runs(targetGenerator) {
		errs = append(errs, c.MetricsGenerator.Validate())
		// A stopping generator saves its partitions' series once more,
		// within the flush timeout: the grace must leave room for it.
		if c.MetricsGenerator.FlushTimeout >= c.Server.GracefulShutdown {
			errs = append(errs, fmt.Errorf("metrics-generator.flush-timeout %v must be below server.graceful-shutdown-timeout %v",
				c.MetricsGenerator.FlushTimeout, c.Server.GracefulShutdown))
		}
	}
	if c.runs(targetBlockBuilder) {
		errs = append(errs, c.BlockBuilder.Validate())
	}
	if c.runs(targetQuerier) {
		errs = append(errs, c.Querier.Validate())
	}
	if c.runs(targetCompactor) {
		errs = append(errs, c.Compactor.Validate())
		// A block merged into another, or past retention, is deleted
		// only once every querier knows it is no longer read and ended
		// the queries reading it: the compactor writes an index every
		// poll interval, the queriers read one every poll interval of
		// theirs, and a query lasts up to the query timeout.
		if learn := c.Compactor.Blocklist.PollInterval + c.Querier.Blocklist.PollInterval + c.Querier.QueryTimeout; c.Compactor.DeletionGrace <= learn {
			errs = append(errs, fmt.Errorf("compactor.deletion-grace %v must be more than compactor.blocklist.poll-interval, querier.blocklist.poll-interval and querier.query-timeout together (%v)",
				c.Compactor.DeletionGrace, learn))
		}
	}
	return errors.Join(errs...)
}
