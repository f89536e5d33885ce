package compactor

import (
	"errors"
	"fmt"
	"time"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/internal/threadprio"
)

// Config tunes a compactor.
type Config struct {
	// Blocklist tunes the listing of the bucket; its poll interval is how
	// often the tenant indexes are rebuilt. Default: every 10s.
	Blocklist blocklist.Config `yaml:"blocklist"`
	// Group is the Kafka consumer group the compactors share. It splits
	// the trace log's partitions between them, and whoever holds
	// partition p compacts and deletes p's blocks; nothing is consumed.
	// Default spanlog-compactors.
	Group string `yaml:"group" help:"Kafka consumer group the compactors share to split the partitions' blocks between them."`
	// SessionTimeout is how long the group waits for a compactor killed
	// without leaving before it moves the compactor's partitions, and so
	// its unfinished jobs, to the others. Default 15s.
	SessionTimeout time.Duration `yaml:"session-timeout" help:"How long the compactor group waits for a silent compactor before moving its partitions."`
	// CompactionInterval is how often a compactor plans and runs the
	// jobs of its partitions and deletes what is due. Default 30s.
	CompactionInterval time.Duration `yaml:"compaction-interval" help:"How often a compactor plans compactions and deletes blocks that are due."`
	// CompactionWindow is the span of time whose blocks are merged
	// together: a block belongs to the window its last span ended in, and
	// blocks of different windows are never merged, so retention deletes
	// whole windows. Default 1h.
	CompactionWindow time.Duration `yaml:"compaction-window" help:"Span of time whose blocks are merged together; blocks of different windows never are."`
	// MaxInputBlocks is the most blocks one job merges. While a window
	// still gets blocks, a job waits for this many of one level; once it
	// is over, any two or more are merged. Default 8.
	MaxInputBlocks int `yaml:"max-input-blocks" help:"Most blocks one compaction merges."`
	// MaxBlockBytes bounds the blocks compaction writes: the inputs of a
	// job add up to at most this many bytes, and a block this large is
	// never merged again. Default 2 GiB.
	MaxBlockBytes int64 `yaml:"max-block-bytes" help:"Largest block compaction writes: a job's inputs add up to at most this many bytes."`
	// BlockRetention is how long blocks are kept after their last span
	// ended, for the tenants whose limits (limits.block-retention) set
	// none: older ones are no longer read, and are deleted DeletionGrace
	// later. Zero keeps blocks for ever. Default 336h (14 days).
	BlockRetention time.Duration `yaml:"block-retention" help:"How long blocks are kept after their last span ended, unless the tenant's limits say otherwise (0: for ever)."`
	// DeletionGrace is how long a block readers no longer read (merged
	// into another, or past retention) stays in the bucket before it is
	// deleted, so that every querier learns of the change and no query
	// still reading it loses it. It must exceed the time queriers take
	// to learn a new block (this poll interval plus theirs) plus
	// querier.query-timeout. Default 5m.
	DeletionGrace time.Duration `yaml:"deletion-grace" help:"How long a block no longer read (compacted, or past retention) stays before it is deleted; more than the queriers' poll interval plus their query timeout."`
	// LeftoverGrace is how old what no block will ever use must be before
	// it is removed: the data of a block without a meta (a writer killed
	// between the two, or a deletion cut short), and uploads a crash left
	// unfinished. It must exceed the longest time between a block's data
	// and its meta being written, retries included. Default 1h.
	LeftoverGrace time.Duration `yaml:"leftover-grace" help:"Age from which objects of a block without a meta, and unfinished uploads, are removed."`
	// Block sets the layout of the blocks compaction writes.
	Block block.Options `yaml:"block"`
	// Background is the priority of the thread that compacts: a
	// compaction a while later costs a query a few more blocks, while a
	// write waiting on a thread waits for its client. cmd/spanlog sets
	// it from server.background-nice. Default 0: the usual priority.
	Background threadprio.Nice `yaml:"-"`
}

// DefaultConfig returns the configuration spanlog runs with when nothing is set.
func DefaultConfig() Config {
	return Config{
		Blocklist:          blocklist.DefaultConfig(),
		Group:              "spanlog-compactors",
		SessionTimeout:     15 * time.Second,
		CompactionInterval: 30 * time.Second,
		CompactionWindow:   time.Hour,
		MaxInputBlocks:     8,
		MaxBlockBytes:      2 << 30,
		BlockRetention:     336 * time.Hour,
		DeletionGrace:      5 * time.Minute,
		LeftoverGrace:      time.Hour,
		Block:              block.DefaultOptions(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if err := c.Blocklist.Validate(); err != nil {
		return err
	}
	switch {
	case c.Group == "":
		return errors.New("compactor: group must be set")
	case c.SessionTimeout < time.Second:
		return errors.New("compactor: session timeout must be at least 1s")
	case c.CompactionInterval <= 0:
		return errors.New("compactor: compaction interval must be positive")
	case c.CompactionWindow <= 0:
		return errors.New("compactor: compaction window must be positive")
	case c.MaxInputBlocks < 2:
		return fmt.Errorf("compactor: max input blocks %d must be at least 2", c.MaxInputBlocks)
	case c.MaxBlockBytes <= 0:
		return errors.New("compactor: max block bytes must be positive")
	case c.BlockRetention < 0:
		return errors.New("compactor: block retention must not be negative")
	case c.DeletionGrace <= 2*c.Blocklist.PollInterval:
		// An index is rebuilt every poll interval; readers learn of a
		// block from one, and only then stop reading what it replaces.
		return fmt.Errorf("compactor: deletion grace %v must be more than twice the poll interval %v", c.DeletionGrace, c.Blocklist.PollInterval)
	case c.LeftoverGrace <= 0:
		return errors.New("compactor: leftover grace must be positive")
	}
	return c.Block.Validate()
}
