package blockbuilder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/consumer"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// cutBlock is one partition's cut block, split by tenant.
type cutBlock struct {
	partition int32
	pending   *pending
	tenants   map[string]*block.Builder
}

// flushCut writes every cut block, commits the offsets behind them, and
// moves each partition on to its successor block, until no block is cut.
// It returns only when ctx ends or all cut blocks are written: a storage
// outage holds the builder here, retrying, and shows as lag.
func (b *Builder) flushCut(ctx context.Context, cl *kgo.Client) error {
	for {
		var cut []*cutBlock
		b.mu.Lock()
		for id, p := range b.parts {
			if p.cut {
				cut = append(cut, &cutBlock{partition: id, pending: p})
			}
		}
		b.mu.Unlock()
		if len(cut) == 0 {
			return nil
		}
		for _, c := range cut {
			c.tenants = b.splitByTenant(c.pending)
		}
		if err := b.writeAll(ctx, cut); err != nil {
			return err
		}
		b.commit(ctx, cl, cut)
		b.mu.Lock()
		for _, c := range cut {
			if b.parts[c.partition] != c.pending {
				continue // revoked meanwhile
			}
			b.durable[c.partition] = c.pending.next
			if s := c.pending.successor(b.cfg.CycleDuration, b.cfg.MaxBlockBytes); s != nil {
				b.parts[c.partition] = s
			} else {
				delete(b.parts, c.partition)
			}
		}
		b.mu.Unlock()
	}
}

// splitByTenant decodes a cut block's records into one block per tenant.
// Records that hold no spans or do not decode are skipped and counted:
// retrying them can only fail again, and would stall the partition.
func (b *Builder) splitByTenant(p *pending) map[string]*block.Builder {
	tenants := make(map[string]*block.Builder)
	for _, r := range p.records {
		tenant, td, err := consumer.Decode(r, b.defaultTenant)
		if err != nil {
			b.metrics.skipped.Add(r, err)
			continue
		}
		bb := tenants[tenant]
		if bb == nil {
			bb = block.NewBuilder(tenant, b.cfg.Block)
			tenants[tenant] = bb
		}
		bb.Add(td)
	}
	return tenants
}

// writeAll writes every tenant block of cut, FlushConcurrency at a time,
// retrying each while object storage fails, until it is written or ctx
// ends.
func (b *Builder) writeAll(ctx context.Context, cut []*cutBlock) error {
	sem := make(chan struct{}, b.cfg.FlushConcurrency)
	var wg sync.WaitGroup
	for _, c := range cut {
		rng := []schema.OffsetRange{{Partition: c.partition, Start: c.pending.start, End: c.pending.next}}
		for tenant, bb := range c.tenants {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				b.writeWithRetry(ctx, tenant, bb, rng)
			})
		}
	}
	wg.Wait()
	return ctx.Err()
}

// writeWithRetry writes one tenant block, retrying while object storage
// fails, until it is written or ctx ends. An error that no retry can cure
// gives the block up, counted and logged.
func (b *Builder) writeWithRetry(ctx context.Context, tenant string, bb *block.Builder, rng []schema.OffsetRange) {
	backoff := b.cfg.RetryBackoff
	for {
		start := time.Now()
		meta, err := bb.Write(ctx, storage{b.bucket}, rng)
		if err == nil {
			b.metrics.flushDuration.Observe(time.Since(start).Seconds())
			b.metrics.blockBytes.Observe(float64(meta.Size))
			b.metrics.blocksFlushed.WithLabelValues(tenant).Inc()
			b.logger.Info("block written", "tenant", tenant, "block", meta.BlockID,
				"partition", rng[0].Partition, "startOffset", rng[0].Start, "endOffset", rng[0].End,
				"spans", meta.TotalSpans, "bytes", meta.Size)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if !errors.As(err, new(storageError)) {
			// The same spans would fail the same way forever, holding
			// the partition and every other one of this builder.
			b.metrics.blocksUnwritable.Inc()
			b.logger.Error("block cannot be written; its spans stay in the log only", "tenant", tenant,
				"partition", rng[0].Partition, "startOffset", rng[0].Start, "endOffset", rng[0].End, "err", err)
			return
		}
		b.metrics.flushFailures.Inc()
		// Jitter keeps a fleet of builders from retrying in lockstep.
		wait := backoff/2 + rand.N(backoff)
		b.logger.Warn("block write failed, retrying", "tenant", tenant, "partition", rng[0].Partition,
			"retryIn", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, b.cfg.RetryMaxBackoff)
	}
}

// storage is the bucket as blocks are written to it, its errors marked:
// only object storage fails in ways a retry can cure.
type storage struct{ objstore.Bucket }

func (s storage) Upload(ctx context.Context, name string, r io.Reader) error {
	if err := s.Bucket.Upload(ctx, name, r); err != nil {
		return storageError{err}
	}
	return nil
}

// storageError is an error of object storage.
type storageError struct{ err error }

func (e storageError) Error() string { return e.err.Error() }
func (e storageError) Unwrap() error { return e.err }

// commit records that the log below each cut block's end is in storage.
// A failed commit loses nothing: whoever consumes the partition next
// rebuilds the same blocks under the same IDs.
func (b *Builder) commit(ctx context.Context, cl *kgo.Client, cut []*cutBlock) {
	offsets := make(map[int32]kgo.EpochOffset, len(cut))
	for _, c := range cut {
		offsets[c.partition] = kgo.EpochOffset{Epoch: c.pending.epoch, Offset: c.pending.next}
	}
	var commitErr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{b.log.Topic: offsets},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				commitErr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
						commitErr = errors.Join(commitErr, fmt.Errorf("partition %d: %w", p.Partition, err))
					}
				}
			}
		})
	if commitErr != nil && ctx.Err() == nil {
		b.metrics.commitFailures.Inc()
		b.logger.Warn("offset commit failed; the blocks stay and will be rebuilt identically", "err", commitErr)
	}
}
