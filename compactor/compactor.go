// Package compactor keeps object storage tidy for the readers. For now it
// maintains each tenant's index: the list of the tenant's block metas that
// makes a querier's poll one read per tenant. Merging blocks, dedupe and
// retention will live here too. It does not write blocks from the log;
// that is the block-builder's.
package compactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/consumer"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// Config tunes a compactor.
type Config struct {
	// Blocklist tunes the listing behind the indexes; its poll interval is
	// how often the indexes are rebuilt. Default: every 10s.
	Blocklist blocklist.Config `yaml:"blocklist"`
}

// DefaultConfig returns the configuration spanlog runs with when nothing is set.
func DefaultConfig() Config {
	return Config{Blocklist: blocklist.DefaultConfig()}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	return c.Blocklist.Validate()
}

// Compactor maintains the tenant indexes of a bucket.
type Compactor struct {
	cfg         Config
	log         tracelog.Config
	blocksGroup string
	bucket      objstore.Bucket
	blocklist   *blocklist.Blocklist
	logger      *slog.Logger

	indexWrites   prometheus.Counter
	indexFailures prometheus.Counter
}

// New returns a compactor of bucket. blocksGroup is the block-builders'
// consumer group, whose committed offsets say how far an index is complete.
func New(cfg Config, log tracelog.Config, blocksGroup string, bucket objstore.Bucket, logger *slog.Logger, reg prometheus.Registerer) (*Compactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bl, err := blocklist.New(cfg.Blocklist, bucket, blocklist.Options{}, logger,
		prometheus.WrapRegistererWith(prometheus.Labels{"component": "compactor"}, reg))
	if err != nil {
		return nil, err
	}
	c := &Compactor{
		cfg:         cfg,
		log:         log,
		blocksGroup: blocksGroup,
		bucket:      bucket,
		blocklist:   bl,
		logger:      logger,
		indexWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_compactor_index_writes_total",
			Help: "Tenant indexes written.",
		}),
		indexFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_compactor_index_failures_total",
			Help: "Index rebuilds that failed and will be retried: of every tenant (commits or tenants not read), or of one (its blocks not listed, its index not written).",
		}),
	}
	reg.MustRegister(c.indexWrites, c.indexFailures)
	return c, nil
}

// Run rebuilds the indexes every poll interval until ctx ends.
func (c *Compactor) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(c.log.ClientOpts("spanlog-compactor")...)
	if err != nil {
		return fmt.Errorf("compactor kafka client: %w", err)
	}
	defer cl.Close()
	for {
		if err := c.rebuildIndexes(ctx, cl); err != nil && ctx.Err() == nil {
			c.logger.Warn("rebuilding tenant indexes failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.cfg.Blocklist.PollInterval):
		}
	}
}

// rebuildIndexes lists the bucket and writes every tenant's index. A
// tenant the listing failed keeps its index until the next rebuild: one
// from the blocks an earlier listing found would claim blocks complete up
// to commits it never saw. A block whose meta cannot be used is left out
// of the index, as every poll leaves it out.
func (c *Compactor) rebuildIndexes(ctx context.Context, cl *kgo.Client) error {
	// Read before listing: every block below these offsets was written
	// before its range was committed, so the listing sees it.
	committed, err := consumer.Committed(ctx, cl, c.blocksGroup, c.log.Topic)
	if err != nil {
		c.indexFailures.Inc()
		return err
	}
	builtAt := time.Now().UTC()
	if err := c.blocklist.Poll(ctx, nil); err != nil {
		c.indexFailures.Inc()
		return err
	}
	var errs []error
	for _, tenant := range c.blocklist.Tenants() {
		if c.blocklist.TenantErr(tenant) != nil {
			c.indexFailures.Inc() // the blocklist logged it
			continue
		}
		x := &schema.TenantIndex{
			Format:    schema.TenantIndexFormatV1,
			Tenant:    tenant,
			BuiltAt:   builtAt,
			Committed: committed,
			Metas:     c.blocklist.Metas(tenant),
		}
		if err := block.WriteIndex(ctx, c.bucket, x); err != nil {
			c.indexFailures.Inc()
			errs = append(errs, err)
			continue
		}
		c.indexWrites.Inc()
	}
	return errors.Join(errs...)
}
