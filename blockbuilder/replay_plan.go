package blockbuilder

import (
	"context"
	"fmt"
	"slices"

	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// Where a replay reads, per partition (see replay.go for why).
//
// It starts where a block of the partition starts or ends: the offset
// asked for is moved down to the nearest such bound, so that the block
// holding it is rebuilt whole, under the ID it has. It ends at the
// block-builders' committed offset at most, and at the end of the block
// holding the last offset asked for: below the commit every block is
// written, so a replayed block never leaves the live tails a hole, and
// above it the builders are the ones to write blocks. Within the range the
// replay cuts where the builders' rule cuts, and at every bound of a known
// block too, so that no replayed block straddles one.

// ReplaySpec says what a replay rebuilds.
type ReplaySpec struct {
	// Tenant limits the replay to one tenant's blocks; empty replays
	// every tenant's. Blocks are cut over every tenant's records alike.
	Tenant string
	// Partitions to replay; empty replays every partition of the log.
	Partitions []int32
	// From is where the replay starts; the zero Position is the log's start.
	From tracelog.Position
	// To is where it ends; the zero Position is the builders' committed
	// offset, past which it never goes.
	To tracelog.Position
	// OnlyMissing writes only blocks that do not exist yet; by default a
	// block that exists under the same ID is written again.
	OnlyMissing bool
}

// ReplayPlan is what a replay reads of each partition.
type ReplayPlan struct {
	Spec       ReplaySpec
	Partitions []PartitionReplay // by partition
}

// Records returns the offsets the plan reads, over its partitions.
func (p *ReplayPlan) Records() int64 {
	var n int64
	for _, pr := range p.Partitions {
		n += pr.End - pr.Start
	}
	return n
}

// PartitionReplay is what a replay reads of one partition: the offsets
// [Start, End), none when End is Start.
type PartitionReplay struct {
	Partition  int32
	Start, End int64
	// AskedStart and AskedEnd are the offsets the spec named, before
	// they were moved to the bounds of blocks and within the log and the
	// builders' commit.
	AskedStart, AskedEnd int64
	// Committed is the builders' committed offset; -1 when they
	// committed nothing of the partition.
	Committed int64
	// Notes say why Start and End are not what was asked.
	Notes []string
	// bounds are the offsets in (Start, End) where a known block of the
	// partition starts or ends, sorted.
	bounds []int64
}

// planPartition places pr's range, given its AskedStart, AskedEnd and
// Committed, within the log, which starts at logStart, and the bounds of
// the partition's known blocks, in any order.
func planPartition(pr PartitionReplay, logStart int64, known []int64, group string) PartitionReplay {
	pr.Start, pr.End = pr.AskedStart, pr.AskedStart
	if pr.Committed < 0 {
		pr.Notes = append(pr.Notes, fmt.Sprintf("the block-builders (group %s) have committed nothing of partition %d: all of it is theirs to build", group, pr.Partition))
		return pr
	}
	if pr.AskedEnd <= pr.AskedStart {
		pr.Notes = append(pr.Notes, "nothing to replay")
		return pr
	}
	bounds := slices.Sorted(slices.Values(append(slices.Clone(known), pr.Committed)))
	bounds = slices.Compact(bounds)

	start := pr.AskedStart
	// The last bound at or below the start.
	if i, found := slices.BinarySearch(bounds, start); !found && i > 0 {
		start = bounds[i-1]
		pr.Notes = append(pr.Notes, fmt.Sprintf("starts at %d, where the block holding offset %d starts", start, pr.AskedStart))
	}
	if start < logStart {
		pr.Notes = append(pr.Notes, fmt.Sprintf("starts at %d, the log's start: retention deleted the records before it", logStart))
		start = logStart
	}
	end := pr.AskedEnd
	if end > pr.Committed {
		end = pr.Committed
		pr.Notes = append(pr.Notes, fmt.Sprintf("ends at %d, the builders' committed offset: the records after it are theirs to build", end))
	} else if i, found := slices.BinarySearch(bounds, end); !found {
		// bounds holds Committed, above end: i is in range.
		end = bounds[i]
		pr.Notes = append(pr.Notes, fmt.Sprintf("ends at %d, where the block holding offset %d ends", end, pr.AskedEnd-1))
	}
	if end <= start {
		pr.Start, pr.End = start, start
		pr.Notes = append(pr.Notes, "nothing to replay")
		return pr
	}
	pr.Start, pr.End = start, end
	lo, _ := slices.BinarySearch(bounds, start+1)
	hi, _ := slices.BinarySearch(bounds, end)
	pr.bounds = bounds[lo:hi]
	return pr
}

// crosses reports whether a block starting at start must end before
// offset: a known block starts or ends in (start, offset].
func (pr *PartitionReplay) crosses(start, offset int64) bool {
	i, _ := slices.BinarySearch(pr.bounds, start+1)
	return i < len(pr.bounds) && pr.bounds[i] <= offset
}

// Plan resolves spec against the log, the builders' commits and the
// blocks in the bucket.
func (r *Replayer) Plan(ctx context.Context, spec ReplaySpec) (*ReplayPlan, error) {
	topic := r.kafka.Topic
	n, err := tracelog.Partitions(ctx, r.cl, topic)
	if err != nil {
		return nil, err
	}
	parts := slices.Clone(spec.Partitions)
	if len(parts) == 0 {
		for p := range n {
			parts = append(parts, p)
		}
	}
	slices.Sort(parts)
	parts = slices.Compact(parts)
	for _, p := range parts {
		if p < 0 || p >= n {
			return nil, fmt.Errorf("partition %d does not exist: topic %s has partitions 0 to %d", p, topic, n-1)
		}
	}
	starts, err := tracelog.StartOffsets(ctx, r.cl, topic)
	if err != nil {
		return nil, err
	}
	committed, err := tracelog.CommittedOffsets(ctx, r.cl, r.b.cfg.ConsumerGroup, topic)
	if err != nil {
		return nil, err
	}
	from := starts
	if !spec.From.IsZero() {
		if from, err = spec.From.Resolve(ctx, r.cl, topic); err != nil {
			return nil, err
		}
	}
	to := committed
	if !spec.To.IsZero() {
		if to, err = spec.To.Resolve(ctx, r.cl, topic); err != nil {
			return nil, err
		}
	}
	// Listed after the commits were read: every block below them is
	// written, and the listing finds it.
	if err := r.refresh(ctx, spec.Tenant); err != nil {
		return nil, err
	}
	known := r.bounds(spec.Tenant)
	plan := &ReplayPlan{Spec: spec}
	for _, p := range parts {
		pr := PartitionReplay{Partition: p, AskedStart: from[p], AskedEnd: to[p], Committed: -1}
		if c, ok := committed[p]; ok {
			pr.Committed = c
			if spec.To.IsZero() {
				pr.AskedEnd = c
			}
		}
		if pr.AskedEnd < pr.AskedStart {
			return nil, fmt.Errorf("partition %d: the replay would end at offset %d, before it starts at %d", p, pr.AskedEnd, pr.AskedStart)
		}
		plan.Partitions = append(plan.Partitions, planPartition(pr, starts[p], known[p], r.b.cfg.ConsumerGroup))
	}
	return plan, nil
}

// bounds returns, per partition, where the known blocks of tenant (of
// every tenant, when empty) start and end.
func (r *Replayer) bounds(tenant string) map[int32][]int64 {
	tenants := []string{tenant}
	if tenant == "" {
		tenants = r.blocks.Tenants()
	}
	out := make(map[int32][]int64)
	for _, t := range tenants {
		for _, m := range r.blocks.Known(t) {
			for _, rng := range m.KafkaRanges {
				out[rng.Partition] = append(out[rng.Partition], rng.Start, rng.End)
			}
		}
	}
	return out
}

// skip says why the replay leaves tenant's block of rng unwritten, or ""
// when it writes it; replaces says that the block exists already, under
// the same ID, and is written again.
func (r *Replayer) skip(tenant string, rng schema.OffsetRange, onlyMissing bool) (why string, replaces bool) {
	ranges := []schema.OffsetRange{rng}
	block := &schema.BlockMeta{Tenant: tenant, BlockID: schema.BlockID(tenant, ranges), KafkaRanges: ranges}
	for _, m := range r.blocks.Known(tenant) {
		switch {
		case m.BlockID == block.BlockID && m.CompactionLevel > 0:
			// A merge of blocks that the builders cut where the replay
			// does not (idle cuts) has the ID of the replay's one block:
			// the level-0 block is never written over it.
			return fmt.Sprintf("merged block %s (level %d) has its ID and holds it", m.BlockID, m.CompactionLevel), false
		case m.BlockID == block.BlockID && onlyMissing:
			return "it exists", false
		case m.BlockID == block.BlockID:
			replaces = true
		case m.Supersedes(block):
			return fmt.Sprintf("block %s (level %d) holds it", m.BlockID, m.CompactionLevel), false
		}
	}
	return "", replaces
}
