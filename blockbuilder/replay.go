package blockbuilder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/internal/threadprio"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// How a replay rebuilds blocks from the log, and why doing it twice, or
// over blocks that exist, never stores a span twice.
//
// A replay is the block-builder's own code run over a range of offsets
// chosen by an operator, outside the builders' group: it reads the
// partitions directly, from the offsets its plan says, and commits
// nothing, so the builders running meanwhile neither see it nor lose a
// partition to it. It cuts each partition as a builder does (pending.go:
// the cycle of each block's first record, max-block-bytes), and writes
// each tenant's block as a builder does (flush.go, decode.go), under the
// ID schema.BlockID gives the tenant and range, data first, meta last.
//
// The same records cut the same way give the same IDs, so a block
// rebuilt is written over itself, not beside itself. Two things can make
// a builder's cuts differ from a replay's: a builder cuts a caught-up
// partition when it goes idle, and it starts where its group committed.
// So the replay starts where a block starts or ends (replay_plan.go), and
// cuts at every offset where a known block of the partition starts or
// ends, besides the builders' rule: no replayed block straddles a known
// one. Each replayed block is then either a known block's twin (same
// range, same ID: written again, or left with OnlyMissing), or lies
// within a known block, which holds its spans and supersedes it (left
// unwritten: a merged block's range, say), or fills a range no known
// block covers (written). Replaying the same range again finds its own
// blocks' bounds and cuts the same blocks again.
//
// It never writes at or past the builders' committed offset: below it,
// every block is written, so the live tails, trimmed below the blocks a
// tenant has, are never left a hole; past it the builders write.
//
// The blocks known come from a blocklist polled every poll interval, and
// each block is checked against it just before it is written, so a block
// a compaction merged since the replay started is left to the merge: the
// compactor deletes a merge's inputs only a deletion grace (5m) after the
// merge, long after a poll shows it.

// Replayer rebuilds blocks from ranges of the log.
type Replayer struct {
	b       *Builder // the replay's own: its cuts, writes and settings
	kafka   tracelog.Config
	cl      *kgo.Client // for offsets and commits; the replay reads with its own
	blocks  *blocklist.Blocklist
	poll    time.Duration
	logger  *slog.Logger
	mu      sync.Mutex
	written []BlockOutcome // by the flush slots, until the loop reports them
	// replacing holds the blocks about to be written that exist already.
	replacing map[uuid.UUID]bool
}

// NewReplayer returns a replayer of the log kafka describes, writing
// blocks to bucket with the settings of cfg, the builders' own, so that it
// cuts and writes their blocks. polling tunes how it learns of the blocks
// in the bucket. It must be closed.
func NewReplayer(cfg Config, kafka tracelog.Config, defaultTenant string, bucket objstore.Bucket, polling blocklist.Config, logger *slog.Logger) (*Replayer, error) {
	// The replay's metrics are its report, not a registry's.
	reg := prometheus.NewRegistry()
	b, err := New(cfg, kafka, defaultTenant, bucket, logger, reg)
	if err != nil {
		return nil, err
	}
	// Listings, not the tenant indexes: an index lists what was there
	// at its writing, and a block lost since (the reason to replay) must
	// not be taken for one that holds the blocks to write.
	bl, err := blocklist.New(polling, bucket, blocklist.Options{}, logger, reg)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kafka.ClientOpts("spanlog-replay")...)
	if err != nil {
		return nil, fmt.Errorf("replay kafka client: %w", err)
	}
	r := &Replayer{b: b, kafka: kafka, cl: cl, blocks: bl, poll: polling.PollInterval, logger: logger, replacing: make(map[uuid.UUID]bool)}
	b.onWrite = r.noteWrite
	return r, nil
}

// Close releases the replayer's Kafka client.
func (r *Replayer) Close() { r.cl.Close() }

// BlockAction is what a replay did with one tenant block.
type BlockAction int

const (
	// BlockWritten is a block no known block had the ID of.
	BlockWritten BlockAction = iota
	// BlockReplaced is a block written again over the one of its ID.
	BlockReplaced
	// BlockSkipped is a block left unwritten: Reason says why.
	BlockSkipped
	// BlockFailed is a block that cannot be written; its spans are in
	// the log only (logged as an error, as a builder does).
	BlockFailed
)

// BlockOutcome is what a replay did with one tenant block.
type BlockOutcome struct {
	Action  BlockAction
	Tenant  string
	Range   schema.OffsetRange
	BlockID uuid.UUID
	Spans   int64 // written
	Bytes   int64 // of the data object written
	Reason  string
}

// ReplayProgress hears how a replay goes. Its methods are called one at a
// time, from the goroutine of Run.
type ReplayProgress interface {
	// Read says that bytes more of partition's record values were read.
	Read(partition int32, bytes int64)
	// Replayed says that partition's offsets below next are replayed:
	// their blocks are written, or left to blocks that hold them. Writing
	// blocks takes most of a replay, not reading the log.
	Replayed(partition int32, next int64)
	// Block says what was done with one tenant block.
	Block(BlockOutcome)
	// Done says that partition is replayed.
	Done(partition int32)
}

// ReplayStats sums up a replay.
type ReplayStats struct {
	Records, Bytes                     int64 // read
	Written, Replaced, Skipped, Failed int   // tenant blocks
}

// ErrBlocksFailed is returned by Run when blocks could not be written.
var ErrBlocksFailed = errors.New("blocks could not be written; their spans are in the log only")

// replayPartition is the state of one partition of a replay.
type replayPartition struct {
	plan PartitionReplay
	next int64     // offsets below are read
	end  bool      // read up to plan.End
	todo []*record // read, not yet offered to the pending block
	done bool
}

// Run replays plan, telling progress how it goes. It returns when every
// partition is replayed, or with ctx's error once ctx ends; blocks written
// by then stay, as they are the blocks a replay writes.
func (r *Replayer) Run(ctx context.Context, plan *ReplayPlan, progress ReplayProgress) (ReplayStats, error) {
	var stats ReplayStats
	parts := make(map[int32]*replayPartition)
	offsets := make(map[int32]kgo.Offset)
	for _, pr := range plan.Partitions {
		rp := &replayPartition{plan: pr, next: pr.Start}
		parts[pr.Partition] = rp
		if pr.Start < pr.End {
			offsets[pr.Partition] = kgo.NewOffset().At(pr.Start)
		}
	}
	for _, pr := range plan.Partitions {
		if pr.Start == pr.End {
			parts[pr.Partition].done = true
			progress.Done(pr.Partition)
		}
	}
	if len(offsets) == 0 {
		return stats, nil
	}
	cfg := r.b.cfg
	cl, err := kgo.NewClient(append(r.kafka.ClientOpts("spanlog-replay"),
		// Direct reads: no group, no commit, nothing the builders' group sees.
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.kafka.Topic: offsets}),
		// Records deleted before the replay read them make it fail: a
		// block cut past the hole would claim offsets it lacks.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		// As the builders: a block never holds an aborted transaction.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers take offsets too: the one that may sit at
		// the end of the range is how the replay knows it got there.
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(int32(cfg.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(cfg.FetchMaxPartitionBytes)),
		kgo.MaxConcurrentFetches(cfg.MaxConcurrentFetches),
	)...)
	if err != nil {
		return stats, fmt.Errorf("replay kafka client: %w", err)
	}
	defer cl.Close()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { r.keepPolling(ctx, plan.Spec.Tenant) })
	slots := cfg.Background.Start(cfg.FlushConcurrency)
	defer slots.Stop()

	// What a run cut short left.
	b := r.b
	clear(b.parts)
	clear(b.owned)
	clear(b.paused)
	for p := range offsets {
		b.owned[p] = true
	}
	var scratch []byte
	for len(b.owned) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		var fetchErr error
		fetches.EachError(func(_ string, p int32, err error) {
			if errors.Is(err, kerr.OffsetOutOfRange) {
				err = fmt.Errorf("%w: retention deleted records the replay had not read; replay from later than the log's start (spanlog offsets shows it)", err)
			}
			fetchErr = errors.Join(fetchErr, fmt.Errorf("read partition %d: %w", p, err))
		})
		if fetchErr != nil {
			return stats, fetchErr
		}
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			rp := parts[fp.Partition]
			if rp == nil || rp.end {
				return
			}
			var bytes int64
			for _, rec := range fp.Records {
				if rec.Offset < rp.next {
					continue
				}
				if rec.Offset >= rp.plan.End {
					rp.end = true
					break
				}
				rp.next = rec.Offset + 1
				rp.end = rp.next >= rp.plan.End
				if rec.Attrs.IsControl() {
					continue
				}
				var h *record
				h, scratch = r.take(rec, plan.Spec.Tenant, scratch)
				rp.todo = append(rp.todo, h)
				bytes += h.size
				stats.Records++
			}
			stats.Bytes += bytes
			progress.Read(fp.Partition, bytes)
		})
		if err := r.drain(ctx, slots, parts, plan.Spec, progress, &stats); err != nil {
			return stats, err
		}
		var finished []int32
		for p, rp := range parts {
			if rp.end && !rp.done && len(rp.todo) == 0 && b.parts[p] == nil {
				rp.done = true
				delete(b.owned, p)
				finished = append(finished, p)
			}
		}
		if len(finished) > 0 {
			slices.Sort(finished)
			cl.PauseFetchPartitions(map[string][]int32{r.kafka.Topic: finished})
			for _, p := range finished {
				progress.Replayed(p, parts[p].plan.End)
				progress.Done(p)
			}
		}
		b.throttle(cl)
	}
	if stats.Failed > 0 {
		return stats, fmt.Errorf("%d %w", stats.Failed, ErrBlocksFailed)
	}
	return stats, nil
}

// take returns what the replay holds of rec: what a builder holds, but
// without the value of a record of a tenant other than only (when set),
// which counts for where blocks are cut and is written in no block.
func (r *Replayer) take(rec *kgo.Record, only string, scratch []byte) (*record, []byte) {
	if only != "" {
		if tenant, err := schema.RecordTenant(rec, r.b.tenancy); err != nil || tenant != only {
			return &record{partition: rec.Partition, offset: rec.Offset, timestamp: rec.Timestamp, size: int64(len(rec.Value)), tenant: tenant}, scratch
		}
	}
	return hold(rec, r.b.tenancy, nil, scratch)
}

// drain offers each partition's records read to its pending block, and
// writes the blocks cut, until every record read is in a pending block.
// A pending block ends where a builder's would, before a known block's
// bound, and at the end of the range.
func (r *Replayer) drain(ctx context.Context, slots *threadprio.Workers, parts map[int32]*replayPartition, spec ReplaySpec, progress ReplayProgress, stats *ReplayStats) error {
	b := r.b
	for {
		for id, rp := range parts {
			for len(rp.todo) > 0 {
				rec := rp.todo[0]
				p := b.parts[id]
				if p == nil {
					p = newPending(rec, b.cfg.CycleDuration)
					b.parts[id] = p
				} else if p.cut {
					break
				} else if rp.plan.crosses(p.start, rec.offset) {
					p.cut = true
					break
				}
				// A record that cuts the block is kept as the next
				// one's first: it is the only one carried.
				p.offer(rec, b.cfg.MaxBlockBytes)
				rp.todo = rp.todo[1:]
				if p.cut {
					break
				}
			}
			if p := b.parts[id]; p != nil && rp.end && len(rp.todo) == 0 && len(p.records) > 0 {
				p.cut = true
			}
		}
		var cut []*cutBlock
		for id, p := range b.parts {
			if p.cut {
				cut = append(cut, &cutBlock{partition: id, pending: p})
			}
		}
		if len(cut) == 0 {
			return nil
		}
		slices.SortFunc(cut, func(a, b *cutBlock) int { return int(a.partition - b.partition) })
		for _, c := range cut {
			c.pending.unwritten = b.splitByTenant(c.pending)
			rng := schema.OffsetRange{Partition: c.partition, Start: c.pending.start, End: c.pending.next}
			for tenant := range c.pending.unwritten {
				if spec.Tenant != "" && tenant != spec.Tenant {
					delete(c.pending.unwritten, tenant)
					continue
				}
				why, replaces := r.skip(tenant, rng, spec.OnlyMissing)
				if why != "" {
					delete(c.pending.unwritten, tenant)
					stats.Skipped++
					progress.Block(BlockOutcome{Action: BlockSkipped, Tenant: tenant, Range: rng,
						BlockID: schema.BlockID(tenant, []schema.OffsetRange{rng}), Reason: why})
					continue
				}
				if replaces {
					r.mu.Lock()
					r.replacing[schema.BlockID(tenant, []schema.OffsetRange{rng})] = true
					r.mu.Unlock()
				}
			}
		}
		b.writeAll(ctx, slots, cut, nil)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, o := range r.takeWritten() {
			switch o.Action {
			case BlockWritten:
				stats.Written++
			case BlockReplaced:
				stats.Replaced++
			case BlockFailed:
				stats.Failed++
			}
			progress.Block(o)
		}
		for _, c := range cut {
			progress.Replayed(c.partition, c.pending.next)
			if s := c.pending.successor(b.cfg.CycleDuration, b.cfg.MaxBlockBytes); s != nil {
				b.parts[c.partition] = s
			} else {
				delete(b.parts, c.partition)
			}
		}
	}
}

// noteWrite is the replay's Builder.onWrite: it tells what became of a
// tenant block a flush slot wrote, or gave up.
func (r *Replayer) noteWrite(tenant string, rng schema.OffsetRange, meta *schema.BlockMeta, err error) {
	o := BlockOutcome{Tenant: tenant, Range: rng, BlockID: schema.BlockID(tenant, []schema.OffsetRange{rng})}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		o.Action, o.Reason = BlockFailed, err.Error()
	case r.replacing[o.BlockID]:
		o.Action = BlockReplaced
	default:
		o.Action = BlockWritten
	}
	delete(r.replacing, o.BlockID)
	if meta != nil {
		o.Spans, o.Bytes = meta.TotalSpans, meta.Size
	}
	r.written = append(r.written, o)
}

// takeWritten returns the outcomes noteWrite gathered since the last call.
func (r *Replayer) takeWritten() []BlockOutcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.written
	r.written = nil
	slices.SortFunc(out, func(a, b BlockOutcome) int { return int(a.Range.Partition - b.Range.Partition) })
	return out
}

// refresh lists the blocks of tenant, or of every tenant when empty.
func (r *Replayer) refresh(ctx context.Context, tenant string) error {
	if tenant == "" {
		return r.blocks.Poll(ctx, nil)
	}
	return r.blocks.Refresh(ctx, tenant, nil)
}

// keepPolling refreshes the blocks known every poll interval until ctx
// ends, so that a merge done meanwhile is seen before a block it holds is
// written again.
func (r *Replayer) keepPolling(ctx context.Context, tenant string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.poll):
		}
		if err := r.refresh(ctx, tenant); err != nil && ctx.Err() == nil {
			r.logger.Warn("polling the blocks failed; the replay goes on with those it knew", "err", err)
		}
	}
}
