package blockbuilder

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/threadprio"
)

// Group protocols, the values of Config.GroupProtocol.
const (
	GroupProtocolClassic  = "classic"
	GroupProtocolConsumer = "consumer"
)

// Config tunes a block-builder.
type Config struct {
	// ConsumerGroup is the Kafka consumer group all block-builders share;
	// its members split the partitions. Default spanlog-block-builder.
	ConsumerGroup string `yaml:"consumer-group" help:"Kafka consumer group shared by all block-builders."`
	// GroupProtocol is the consumer group protocol: "classic", the
	// rebalance protocol every Kafka-compatible cluster speaks, or
	// "consumer" (KIP-848, Kafka 4.0+, 4.3+ advised), where the broker
	// assigns partitions and a member slow to give one up delays only that
	// partition, not the whole group. A cluster without KIP-848 gets
	// classic. Switch a group's protocol with every builder stopped, or
	// on a cluster that upgrades classic groups online. Default classic.
	GroupProtocol string `yaml:"group-protocol" help:"Consumer group protocol: classic, or consumer (KIP-848, Kafka 4.0+)."`
	// SessionTimeout is how long the group waits for a silent member (one
	// killed without leaving) before moving its partitions. A member also
	// heartbeats, and so notices a rebalance, every fifth of it. Kafka's
	// default is 45s; spot fleets want it short. The consumer protocol
	// ignores it for the broker's group.consumer.session.timeout.ms.
	// Default 15s.
	SessionTimeout time.Duration `yaml:"session-timeout" help:"How long the group waits on a member that stopped heartbeating before its partitions move."`
	// RebalanceTimeout is how long the group waits for its members to
	// give up partitions in a rebalance (Kafka's rebalance.timeout.ms)
	// before expelling the late ones. A flush of blocks holds a rebalance
	// for at most half of it, and gives up at once when a write fails:
	// what it did not commit, the partition's next owner writes again.
	// Default 60s.
	RebalanceTimeout time.Duration `yaml:"rebalance-timeout" help:"How long the group waits for members to give up partitions in a rebalance; a block flush holds a rebalance for at most half of it."`
	// CycleDuration is how much record time one block covers: a
	// partition's block ends before the first record stamped at or after
	// the next multiple of CycleDuration. Default 15s.
	CycleDuration time.Duration `yaml:"cycle-duration" help:"Record time one block covers; blocks are cut at multiples of it."`
	// IdleCutDelay is how long after its cycle ended a partition that has
	// no newer record is cut anyway, so quiet partitions still reach
	// storage. Default 2s.
	IdleCutDelay time.Duration `yaml:"idle-cut-delay" help:"Wait after a cycle ends before cutting a partition that received nothing newer."`
	// MaxBlockBytes cuts a partition's block early once its records add up
	// to this many bytes, as they are in the log. Writing a block takes
	// memory for its Parquet file and the index of its spans, about a
	// quarter of its records' bytes, besides the part being decoded (see
	// MaxPartBytes). Default 64 MiB.
	MaxBlockBytes int64 `yaml:"max-block-bytes" help:"Cut a block early once its records reach this many bytes."`
	// FlushConcurrency is how many tenant blocks are written at once. A
	// cut block's records are decoded only when one of these slots takes
	// it, so it also bounds the decoded spans in memory: each slot takes
	// about 8 times max-part-bytes, a quarter of its block's records, and
	// up to 32 MiB for the Parquet writer. Building a block is CPU-bound,
	// about 100,000 spans a second per core: more slots than the cores
	// the builder may use add memory, not speed, unless object storage's
	// latency dominates the flush. Default 2.
	FlushConcurrency int `yaml:"flush-concurrency" help:"Blocks decoded and written to object storage in parallel."`
	// MaxPartBytes bounds the spans a flush slot decodes at once, in bytes
	// of their records. A tenant block whose records are larger is decoded,
	// sorted and encoded in parts, each a range of trace IDs with at most
	// this many bytes of spans (a trace is never cut), into the same block,
	// byte for byte: each record is then decompressed again for each part
	// it holds spans of. Decoded spans take about 6 times their records'
	// bytes, 8 at the peak of their encoding. Default 4 MiB.
	MaxPartBytes int64 `yaml:"max-part-bytes" help:"Bytes of records a block-flush slot decodes at once; a larger tenant block is decoded and encoded in parts, each a range of trace IDs."`
	// MaxBufferedBytes bounds the memory of the records read from the log
	// and not yet written in blocks, cut or not, summed over the builder's
	// partitions. The builder holds them compressed, in about a third of
	// their bytes in the log. Past it, the builder reads only the
	// partition whose pending block is largest until that block is
	// written, and the others' lag grows. Steady ingest holds about one
	// cycle of the builder's share of the log; a backlog being drained
	// holds no more, whatever its length, unless the partitions' positions
	// drift apart. Default 512 MiB.
	MaxBufferedBytes int64 `yaml:"max-buffered-bytes" help:"Memory of the records read and not yet in blocks (held compressed), past which the builder reads one partition at a time."`
	// FetchMaxBytes is the most one fetch request returns, as the broker
	// stores it (compressed). Default 8 MiB.
	FetchMaxBytes int64 `yaml:"fetch-max-bytes" help:"Bytes one fetch from Kafka returns at most."`
	// FetchMaxPartitionBytes is the most one fetch returns of one
	// partition, so that every partition gets its share. Default 1 MiB.
	FetchMaxPartitionBytes int64 `yaml:"fetch-max-partition-bytes" help:"Bytes one fetch from Kafka returns at most of one partition."`
	// MaxConcurrentFetches is how many fetches are in flight or read and
	// waiting at once, over all brokers. With FetchMaxBytes it bounds
	// the client's fetch buffers. Default 2.
	MaxConcurrentFetches int `yaml:"max-concurrent-fetches" help:"Fetches from Kafka in flight or buffered at once, over all brokers."`
	// FetchMinBytes is how many bytes of new records (as the broker
	// stores them) a fetch of caught-up partitions waits for, up to
	// FetchMaxWait, before it returns. Each fetch costs the broker and
	// the builder a request; at 1 a caught-up builder fetches on every
	// produce, thousands of times a second under load, while a block is
	// cut a cycle at a time. At most FetchMaxBytes. Default 1 MiB.
	FetchMinBytes int64 `yaml:"fetch-min-bytes" help:"Bytes of new records a fetch from Kafka waits for, up to fetch-max-wait, before it returns (1: return on any record)."`
	// FetchMaxWait is the longest a fetch waits for FetchMinBytes: how
	// much later than at once a record may be read, and how long a
	// partition resumed after a pause (see MaxBufferedBytes) may wait to
	// be read. At least 10ms and at most IdleCutDelay, so that the high
	// watermarks an idle cut compares with were read after the cycle
	// ended. Default 500ms.
	FetchMaxWait time.Duration `yaml:"fetch-max-wait" help:"Longest a fetch from Kafka waits for fetch-min-bytes of new records; at most idle-cut-delay."`
	// RetryBackoff is the first wait after a failed flush; waits double up
	// to RetryMaxBackoff. Default 1s.
	RetryBackoff time.Duration `yaml:"retry-backoff" help:"First wait before retrying a failed block flush; doubles up to retry-max-backoff."`
	// RetryMaxBackoff caps the wait between retries, and so how long after
	// object storage returns the builder notices. Default 30s.
	RetryMaxBackoff time.Duration `yaml:"retry-max-backoff" help:"Longest wait between retries of a failed block flush."`
	// LagInterval is how often the lag behind the end of the log is
	// measured for spanlog_block_builder_lag_*. Default 5s.
	LagInterval time.Duration `yaml:"lag-interval" help:"How often the block-builder measures its lag behind the log."`
	// Block sets the layout of the blocks written. Default
	// block.DefaultOptions but for zstd's fastest level: a builder's
	// blocks live until the compactor merges them into blocks of its own
	// level, so they are written in the least CPU.
	Block block.Options `yaml:"block"`
	// Background is the priority of the flush slots' threads, which
	// decode and encode blocks: a builder behind by a flush loses
	// nothing, while a write waiting on a thread waits for its client.
	// cmd/spanlog sets it from server.background-nice. Default 0: the
	// usual priority.
	Background threadprio.Nice `yaml:"-"`
}

// DefaultConfig returns the configuration spanlog runs with when nothing is set.
func DefaultConfig() Config {
	return Config{
		ConsumerGroup:          "spanlog-block-builder",
		GroupProtocol:          GroupProtocolClassic,
		SessionTimeout:         15 * time.Second,
		RebalanceTimeout:       60 * time.Second,
		CycleDuration:          15 * time.Second,
		IdleCutDelay:           2 * time.Second,
		MaxBlockBytes:          64 << 20,
		FlushConcurrency:       2,
		MaxPartBytes:           4 << 20,
		MaxBufferedBytes:       512 << 20,
		FetchMaxBytes:          8 << 20,
		FetchMaxPartitionBytes: 1 << 20,
		MaxConcurrentFetches:   2,
		FetchMinBytes:          1 << 20,
		FetchMaxWait:           500 * time.Millisecond,
		RetryBackoff:           time.Second,
		RetryMaxBackoff:        30 * time.Second,
		LagInterval:            5 * time.Second,
		Block:                  builderBlockOptions(),
	}
}

func builderBlockOptions() block.Options {
	o := block.DefaultOptions()
	o.CompressionLevel = block.CompressionFastest
	return o
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.ConsumerGroup == "":
		return errors.New("block-builder: consumer group must be set")
	case c.GroupProtocol != GroupProtocolClassic && c.GroupProtocol != GroupProtocolConsumer:
		return fmt.Errorf("block-builder: group protocol %q is neither %s nor %s", c.GroupProtocol, GroupProtocolClassic, GroupProtocolConsumer)
	case c.SessionTimeout < time.Second:
		return errors.New("block-builder: session timeout must be at least 1s")
	case c.RebalanceTimeout < time.Second:
		return errors.New("block-builder: rebalance timeout must be at least 1s")
	case c.CycleDuration <= 0:
		return errors.New("block-builder: cycle duration must be positive")
	case c.IdleCutDelay < 10*time.Millisecond:
		return errors.New("block-builder: idle cut delay must be at least 10ms")
	case c.MaxBlockBytes <= 0:
		return errors.New("block-builder: max block bytes must be positive")
	case c.LagInterval <= 0:
		return errors.New("block-builder: lag interval must be positive")
	case c.FlushConcurrency <= 0:
		return errors.New("block-builder: flush concurrency must be positive")
	case c.MaxPartBytes <= 0:
		return errors.New("block-builder: max part bytes must be positive")
	case c.MaxBufferedBytes <= 0:
		return errors.New("block-builder: max buffered bytes must be positive")
	case c.FetchMaxBytes <= 0 || c.FetchMaxBytes > math.MaxInt32:
		return fmt.Errorf("block-builder: fetch max bytes must be between 1 and %d", math.MaxInt32)
	case c.FetchMaxPartitionBytes <= 0 || c.FetchMaxPartitionBytes > c.FetchMaxBytes:
		return errors.New("block-builder: fetch max partition bytes must be positive and at most fetch-max-bytes")
	case c.MaxConcurrentFetches <= 0:
		return errors.New("block-builder: max concurrent fetches must be positive")
	case c.FetchMinBytes <= 0 || c.FetchMinBytes > c.FetchMaxBytes:
		return errors.New("block-builder: fetch min bytes must be positive and at most fetch-max-bytes")
	case c.FetchMaxWait < 10*time.Millisecond || c.FetchMaxWait > c.IdleCutDelay:
		// Kafka clients want a fetch to wait at least 10ms.
		return errors.New("block-builder: fetch max wait must be at least 10ms and at most idle-cut-delay")
	case c.RetryBackoff <= 0 || c.RetryMaxBackoff < c.RetryBackoff:
		return errors.New("block-builder: retry backoff must be positive and at most retry-max-backoff")
	}
	if err := c.Block.Validate(); err != nil {
		// Checked here, as no block could be written later.
		return fmt.Errorf("block-builder: block: %w", err)
	}
	return nil
}
