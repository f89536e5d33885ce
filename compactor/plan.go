package compactor

import (
	"cmp"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/schema"
)

// job is one compaction: blocks of one tenant and one partition merged
// into one block.
type job struct {
	tenant    string
	partition int32
	inputs    []*schema.BlockMeta
}

// inputBytes is what the job's inputs add up to.
func (j job) inputBytes() int64 {
	var n int64
	for _, m := range j.inputs {
		n += m.Size
	}
	return n
}

// planner decides which blocks to merge, after Tempo's model: blocks are
// grouped by time window and merged level by level, a bounded number of
// bounded size at a time.
type planner struct {
	window    time.Duration
	maxInputs int
	maxBytes  int64
	// maxInputsOf returns the most inputs a job holding block id may
	// have: fewer than maxInputs for a block whose jobs failed, 0 for one
	// set aside (see failures).
	maxInputsOf func(id uuid.UUID) int
}

// plan returns the jobs that merge blocks of tenant's partition p, given
// the blocks readers read there (neither superseded nor past retention)
// and the block-builders' committed offset of p. Inputs are chosen so:
//
//   - Only blocks whose offsets are all below committed. A block above
//     may still be replaced by a block-builder replaying its range, under
//     the same ID but perhaps cut otherwise; merging it could give a
//     block the ID a replay then overwrites.
//   - A block belongs to the window its last span ended in (MaxEnd), and
//     a job merges blocks of one window, so the merged block is no more
//     than a window late for retention.
//   - While a window still gets blocks (until one window after its end),
//     a job merges maxInputs blocks of one level into one of the next:
//     every span is rewritten about once per level, and there are few
//     levels. Once the window is over, any two or more blocks of it, of
//     any levels, are merged.
//   - Inputs are taken in the order of their offsets, so the merged
//     block's Kafka ranges coalesce, and add up to at most maxBytes; a
//     block of maxBytes or more is never an input.
func (pl planner) plan(tenant string, p int32, metas []*schema.BlockMeta, committed int64, now time.Time) []job {
	type key struct {
		window time.Time
		level  int
	}
	groups := make(map[key][]*schema.BlockMeta)
	for _, m := range metas {
		if !pl.eligible(m, p, committed) {
			continue
		}
		k := key{window: m.MaxEnd.Truncate(pl.window)}
		if open := now.Before(k.window.Add(2 * pl.window)); open {
			k.level = m.CompactionLevel
		} else {
			k.level = -1 // closed: levels mix
		}
		groups[k] = append(groups[k], m)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	// Oldest windows first: they are the ones done with.
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(a.window.Compare(b.window), cmp.Compare(a.level, b.level)) })
	var jobs []job
	for _, k := range keys {
		blocks := groups[k]
		slices.SortFunc(blocks, func(a, b *schema.BlockMeta) int {
			return cmp.Or(cmp.Compare(a.KafkaRanges[0].Start, b.KafkaRanges[0].Start), slices.Compare(a.BlockID[:], b.BlockID[:]))
		})
		for _, inputs := range pl.chunk(blocks, k.level >= 0) {
			jobs = append(jobs, job{tenant: tenant, partition: p, inputs: inputs})
		}
	}
	return jobs
}

// eligible reports whether m may be an input of a job of partition p.
func (pl planner) eligible(m *schema.BlockMeta, p int32, committed int64) bool {
	if len(m.KafkaRanges) == 0 || m.Size >= pl.maxBytes || pl.maxInputsOf(m.BlockID) < 2 {
		return false
	}
	for _, r := range m.KafkaRanges {
		if r.Partition != p || r.End > committed {
			return false
		}
	}
	return true
}

// chunk splits blocks, in order, into the inputs of jobs: runs that stop
// before the one that would pass maxBytes or a block's maxInputsOf. With
// full, only runs that one of those bounds stopped are jobs: a window
// still open waits for enough blocks; otherwise the last run is a job too.
// A run of one block is never a job.
func (pl planner) chunk(blocks []*schema.BlockMeta, full bool) [][]*schema.BlockMeta {
	var (
		out   [][]*schema.BlockMeta
		run   []*schema.BlockMeta
		bytes int64
		limit int
	)
	for _, m := range blocks {
		mLimit := min(pl.maxInputs, pl.maxInputsOf(m.BlockID))
		if len(run) > 0 && (bytes+m.Size > pl.maxBytes || len(run)+1 > min(limit, mLimit)) {
			if len(run) >= 2 {
				out = append(out, run)
			}
			run, bytes = nil, 0
		}
		if len(run) == 0 {
			limit = pl.maxInputs
		}
		run = append(run, m)
		bytes += m.Size
		limit = min(limit, mLimit)
		if len(run) == limit {
			out = append(out, run)
			run, bytes = nil, 0
		}
	}
	if !full && len(run) >= 2 {
		out = append(out, run)
	}
	return out
}
