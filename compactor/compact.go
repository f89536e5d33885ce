package compactor

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// compactAndClean is one turn of the compaction loop over the partitions
// this compactor holds: it lists the bucket, deletes what is due, then
// plans the jobs of every tenant and runs them one at a time, each under
// its partition's claim, so that a revoke stops it.
func (c *Compactor) compactAndClean(ctx context.Context, cl *kgo.Client, partitions int32) {
	owned := c.own.owned()
	if len(owned) == 0 {
		c.metrics.stats.set(nil)
		return
	}
	committed, err := tracelog.CommittedOffsets(ctx, cl, c.blocksGroup, c.kafka.Topic)
	if err != nil {
		c.cycleFailed(ctx, "cannot read the block-builders' commits", err)
		return
	}
	if err := c.blocklist.Poll(ctx, nil); err != nil {
		c.cycleFailed(ctx, "cannot list the bucket", err)
		return
	}
	now := time.Now()
	// Tenants whose last poll failed are left alone: what the blocklist
	// knows of them is older than the bucket.
	var tenants []string
	for _, t := range c.blocklist.Tenants() {
		if c.blocklist.TenantErr(t) == nil {
			tenants = append(tenants, t)
		}
	}
	slices.Sort(tenants)
	c.forgetVisible(tenants)
	c.metrics.stats.set(c.blockStats(tenants, owned))
	c.clean(ctx, tenants, owned, partitions, now)

	var jobs []job
	read := make(map[uuid.UUID]bool)
	for _, tenant := range tenants {
		byPartition := make(map[int32][]*schema.BlockMeta)
		for _, m := range c.blocklist.Metas(tenant) {
			read[m.BlockID] = true
			if len(m.KafkaRanges) > 0 {
				p := m.KafkaRanges[0].Partition
				byPartition[p] = append(byPartition[p], m)
			}
		}
		for _, p := range owned {
			jobs = append(jobs, c.planner.plan(tenant, p, byPartition[p], committed[p], now)...)
		}
	}
	c.failures.prune(read, now)
	for _, j := range jobs {
		if ctx.Err() != nil {
			return
		}
		work, done, ok := c.own.hold(ctx, j.partition)
		if !ok {
			continue // taken away since the plan
		}
		c.compact(work, j)
		done()
	}
}

// compact runs job j: block.Compact writes the merged block, data first
// and meta last, under an ID that doing it again gives again. Readers
// skip the inputs from when they learn of it; they are deleted a
// deletion grace after its meta was written.
func (c *Compactor) compact(ctx context.Context, j job) {
	ids := make([]uuid.UUID, len(j.inputs))
	for i, m := range j.inputs {
		ids[i] = m.BlockID
	}
	c.logger.Info("compacting blocks", "tenant", j.tenant, "partition", j.partition, "inputs", ids, "inputBytes", j.inputBytes())
	start := time.Now()
	out, err := block.Compact(ctx, c.bucket, j.inputs, c.cfg.Block)
	took := time.Since(start)
	switch {
	case err == nil:
		c.failures.succeeded(j)
		c.metrics.compactions.WithLabelValues(levelLabel(out.CompactionLevel)).Inc()
		c.metrics.compactedBlocks.Add(float64(len(j.inputs)))
		c.metrics.compactedBytes.Add(float64(j.inputBytes()))
		c.metrics.compactionDuration.Observe(took.Seconds())
		c.logger.Info("blocks compacted", "tenant", j.tenant, "partition", j.partition,
			"block", out.BlockID, "level", out.CompactionLevel, "spans", out.TotalSpans, "bytes", out.Size, "took", took)
	case ctx.Err() != nil:
		// Stopped, by a revoke or a shutdown: no meta was written, and
		// the partition's next holder does the job again.
		c.logger.Info("compaction stopped; the partition's next holder does it again", "tenant", j.tenant,
			"partition", j.partition, "inputs", ids, "after", took, "reason", context.Cause(ctx))
	case objstore.IsNotExist(err):
		// An input deleted since the plan: the blocklist was behind.
		c.logger.Info("compaction input gone; planning again", "tenant", j.tenant, "partition", j.partition, "err", err)
	case errors.Is(err, block.ErrNothingToCompact):
		// An input holds the others: readers skip them, and they are
		// deleted as any compaction's inputs.
		c.logger.Info("compaction not needed: one input holds the others", "tenant", j.tenant, "partition", j.partition, "inputs", ids)
	default:
		c.metrics.compactionFailures.Inc()
		c.logger.Warn("compaction failed; its inputs go in smaller jobs", "tenant", j.tenant, "partition", j.partition, "inputs", ids, "err", err)
		for _, id := range c.failures.failed(j, time.Now()) {
			c.logger.Warn("block set aside: its compactions keep failing; it is read as before, and compacted again later",
				"tenant", j.tenant, "partition", j.partition, "block", id, "for", c.failures.setAside)
		}
	}
}

// cycleFailed counts and logs a turn of the compaction loop that failed
// and will be tried again, unless ctx ended.
func (c *Compactor) cycleFailed(ctx context.Context, msg string, err error) {
	if ctx.Err() != nil {
		return
	}
	c.metrics.cycleFailures.Inc()
	c.logger.Warn(msg+"; compacting again at the next interval", "err", err)
}

// failureLimit is how many times in a row the jobs of a block may fail
// before it is set aside.
const failureLimit = 3

// setAsideCycles is for how many compaction intervals a block set aside
// is left out of jobs before it is tried again.
const setAsideCycles = 20

// failures remembers the blocks whose jobs failed, so that a block that
// cannot be merged (its data unreadable, say) holds up no other: each
// failure halves the jobs the block may be in, so that the good inputs of
// a failed job are soon merged without it, and a block whose jobs failed
// failureLimit times in a row is left out for setAsideCycles compaction
// intervals, then tried again. Readers read it as before. It is the
// compaction loop's, and not safe for concurrent use.
type failures struct {
	maxInputs int
	setAside  time.Duration
	metrics   *metrics
	byBlock   map[uuid.UUID]*failure
}

type failure struct {
	n     int
	until time.Time // set aside until then, once n reached failureLimit
}

func newFailures(cfg Config, m *metrics) *failures {
	return &failures{
		maxInputs: cfg.MaxInputBlocks,
		setAside:  setAsideCycles * cfg.CompactionInterval,
		metrics:   m,
		byBlock:   make(map[uuid.UUID]*failure),
	}
}

// maxInputsOf returns the most inputs a job holding block id may have.
func (f *failures) maxInputsOf(id uuid.UUID) int {
	fl := f.byBlock[id]
	switch {
	case fl == nil:
		return f.maxInputs
	case fl.n >= failureLimit && time.Now().Before(fl.until):
		return 0
	}
	return max(2, f.maxInputs>>fl.n)
}

// failed records that j failed at now, and returns the inputs it set
// aside.
func (f *failures) failed(j job, now time.Time) []uuid.UUID {
	var setAside []uuid.UUID
	for _, m := range j.inputs {
		fl := f.byBlock[m.BlockID]
		if fl == nil {
			fl = &failure{}
			f.byBlock[m.BlockID] = fl
		}
		fl.n++
		if fl.n >= failureLimit {
			fl.until = now.Add(f.setAside)
			setAside = append(setAside, m.BlockID)
		}
	}
	return setAside
}

// succeeded forgets the failures of j's inputs.
func (f *failures) succeeded(j job) {
	for _, m := range j.inputs {
		delete(f.byBlock, m.BlockID)
	}
}

// prune forgets the blocks readers no longer read, which no job will
// take, and counts those set aside.
func (f *failures) prune(read map[uuid.UUID]bool, now time.Time) {
	setAside := 0
	for id, fl := range f.byBlock {
		switch {
		case !read[id]:
			delete(f.byBlock, id)
		case fl.n >= failureLimit && now.Before(fl.until):
			setAside++
		}
	}
	f.metrics.setAside.Set(float64(setAside))
}
