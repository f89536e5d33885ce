package blockbuilder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/threadprio"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// cutBlock is one partition's cut block.
type cutBlock struct {
	partition int32
	pending   *pending
}

// flushCut writes every cut block, commits the offsets behind them, and
// moves each partition on to its successor block, until no block is cut.
// An object storage outage holds it here, retrying, and shows as lag,
// until rebalance (closed once a rebalance waits on the builder) or ctx
// ends. Then it commits the partitions whose blocks are all written and
// returns yielded, leaving the other cut blocks, with what is written of
// them, for the next call (see rebalance.go).
//
// Partitions do not change hands while it runs (the loop polled and has
// not allowed rebalances since), so every commit is for an owned
// partition.
func (b *Builder) flushCut(ctx context.Context, cl *kgo.Client, slots *threadprio.Workers, rebalance <-chan struct{}) (yielded bool) {
	flushCtx, abandon := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer abandon()
	wg.Go(func() { b.limitHold(flushCtx, abandon, rebalance) })
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
			return false
		}
		for _, c := range cut {
			if c.pending.unwritten == nil {
				c.pending.unwritten = b.splitByTenant(c.pending)
			}
		}
		b.writeAll(flushCtx, slots, cut, rebalance)
		var done []*cutBlock
		for _, c := range cut {
			if len(c.pending.unwritten) == 0 {
				done = append(done, c)
			}
		}
		b.commit(flushCtx, cl, done)
		b.mu.Lock()
		for _, c := range done {
			b.durable[c.partition] = c.pending.next
			if s := c.pending.successor(b.cfg.CycleDuration, b.cfg.MaxBlockBytes); s != nil {
				b.parts[c.partition] = s
			} else {
				delete(b.parts, c.partition)
			}
		}
		b.mu.Unlock()
		if flushCtx.Err() != nil || waiting(rebalance) {
			return true
		}
	}
}

// splitByTenant sorts a cut block's records by tenant, which their
// headers told when they were fetched: a tenant's records are decoded when
// a flush slot writes its block, so that however many partitions are cut
// at once, at most FlushConcurrency blocks are decoded. Records no block
// can hold are skipped and counted, here when their headers say so, when
// written when their values do: retrying them can only fail again, and
// would stall the partition.
func (b *Builder) splitByTenant(p *pending) map[string][]*record {
	tenants := make(map[string][]*record)
	for _, r := range p.records {
		if r.invalid != nil {
			b.metrics.skipped.Add(r.position(), r.invalid)
			continue
		}
		tenants[r.tenant] = append(tenants[r.tenant], r)
	}
	return tenants
}

// tenantBlock is one tenant's records of a cut block, written as a block.
type tenantBlock struct {
	cut     *cutBlock
	tenant  string
	records []*record
	done    bool // written, or given up
}

// writeAll writes the unwritten tenant blocks of cut on slots, which are
// FlushConcurrency, and forgets those it is done with.
func (b *Builder) writeAll(ctx context.Context, slots *threadprio.Workers, cut []*cutBlock, rebalance <-chan struct{}) {
	var blocks []*tenantBlock
	for _, c := range cut {
		for tenant, records := range c.pending.unwritten {
			blocks = append(blocks, &tenantBlock{cut: c, tenant: tenant, records: records})
		}
	}
	todo := make(chan *tenantBlock)
	var wg sync.WaitGroup
	for range min(b.cfg.FlushConcurrency, len(blocks)) {
		wg.Add(1)
		slots.Go(func() {
			defer wg.Done()
			var d decoder
			for tb := range todo {
				tb.done = b.write(ctx, rebalance, &d, tb)
			}
		})
	}
	for _, tb := range blocks {
		todo <- tb
	}
	close(todo)
	wg.Wait()
	for _, tb := range blocks {
		if tb.done {
			delete(tb.cut.pending.unwritten, tb.tenant)
		} else {
			tb.cut.pending.unwritten[tb.tenant] = tb.records
		}
	}
}

// write decodes a tenant block's records and writes the block, as
// writeWithRetry does. Records that do not decode are skipped, counted, and
// dropped from tb, so that a flush resuming tb does not count them again.
func (b *Builder) write(ctx context.Context, rebalance <-chan struct{}, d *decoder, tb *tenantBlock) bool {
	if ctx.Err() != nil || waiting(rebalance) {
		return false
	}
	start := time.Now()
	bb, ok := b.build(ctx, rebalance, d, tb)
	if !ok {
		return false
	}
	if len(tb.records) == 0 {
		return true
	}
	if slices.ContainsFunc(tb.records, func(r *record) bool { return r.foreign }) {
		bb.MarkForeign()
	}
	p := tb.cut.pending
	rng := []schema.OffsetRange{{Partition: tb.cut.partition, Start: p.start, End: p.next}}
	return b.writeWithRetry(ctx, rebalance, tb.tenant, bb, rng, time.Since(start))
}

// writeWithRetry writes one tenant block, built in built, retrying while
// object storage fails, until it is written, ctx ends, or a rebalance
// waits on the builder. It reports whether the block is done with:
// written, or given up on an error that no retry can cure.
func (b *Builder) writeWithRetry(ctx context.Context, rebalance <-chan struct{}, tenant string, bb *block.Builder, rng []schema.OffsetRange, built time.Duration) bool {
	backoff := b.cfg.RetryBackoff
	for {
		if ctx.Err() != nil || waiting(rebalance) {
			return false
		}
		start := time.Now()
		meta, err := bb.Write(ctx, storage{b.bucket}, rng)
		if err == nil {
			b.metrics.flushDuration.Observe((built + time.Since(start)).Seconds())
			b.metrics.blockBytes.Observe(float64(meta.Size))
			b.metrics.blocksFlushed.WithLabelValues(tenant).Inc()
			b.logger.Info("block written", "tenant", tenant, "block", meta.BlockID,
				"partition", rng[0].Partition, "startOffset", rng[0].Start, "endOffset", rng[0].End,
				"spans", meta.TotalSpans, "bytes", meta.Size)
			if b.onWrite != nil {
				b.onWrite(tenant, rng[0], meta, nil)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if !errors.As(err, new(storageError)) {
			// The same spans would fail the same way forever, holding
			// the partition and every other one of this builder.
			b.metrics.blocksUnwritable.Inc()
			b.logger.Error("block cannot be written; its spans stay in the log only", "tenant", tenant,
				"partition", rng[0].Partition, "startOffset", rng[0].Start, "endOffset", rng[0].End, "err", err)
			if b.onWrite != nil {
				b.onWrite(tenant, rng[0], nil, err)
			}
			return true
		}
		b.metrics.flushFailures.Inc()
		// Jitter keeps a fleet of builders from retrying in lockstep.
		wait := backoff/2 + rand.N(backoff)
		b.logger.Warn("block write failed, retrying", "tenant", tenant, "partition", rng[0].Partition,
			"retryIn", wait, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-rebalance:
			return false
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
	if len(cut) == 0 {
		return
	}
	offsets := make(map[int32]kgo.EpochOffset, len(cut))
	for _, c := range cut {
		offsets[c.partition] = kgo.EpochOffset{Epoch: c.pending.epoch, Offset: c.pending.next}
	}
	var commitErr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{b.kafka.Topic: offsets},
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
