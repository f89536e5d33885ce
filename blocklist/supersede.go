package blocklist

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/schema"
)

// hides reports whether readers that know blocks a and b read a only: a
// supersedes b (it holds every span of b's ranges). Two blocks covering
// the same offsets supersede each other; then the one with the lower ID
// stays, so that every reader, and the compactor that deletes the other,
// make the same choice.
func hides(a, b *schema.BlockMeta) bool {
	if !a.Supersedes(b) {
		return false
	}
	return !b.Supersedes(a) || bytes.Compare(a.BlockID[:], b.BlockID[:]) < 0
}

// supersession returns, for each block of metas that another one hides,
// one block that hides it. A block-builder's blocks of a tenant never
// overlap, so the blocks hidden are a compaction's inputs (until they are
// deleted) and the leftovers of a replay that cut a partition otherwise.
//
// It sorts the blocks' ranges by partition, then start, then end
// descending, and tracks for each range the furthest end of those before
// it. A range of block b can only lie within a range that comes before it
// and reaches its end, and the walk back from b's range stops at the first
// range behind which nothing reaches that far: blocks that overlap no
// other cost one step each.
func supersession(metas map[uuid.UUID]*schema.BlockMeta) map[uuid.UUID]*schema.BlockMeta {
	type span struct {
		r schema.OffsetRange
		m *schema.BlockMeta
	}
	var spans []span
	for _, m := range metas {
		for _, r := range m.KafkaRanges {
			spans = append(spans, span{r, m})
		}
	}
	slices.SortFunc(spans, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.r.Partition, b.r.Partition), cmp.Compare(a.r.Start, b.r.Start), cmp.Compare(b.r.End, a.r.End))
	})
	// reach[i] is the furthest end of spans[:i+1] in spans[i]'s partition.
	reach := make([]int64, len(spans))
	for i, s := range spans {
		reach[i] = s.r.End
		if i > 0 && spans[i-1].r.Partition == s.r.Partition {
			reach[i] = max(reach[i], reach[i-1])
		}
	}
	out := make(map[uuid.UUID]*schema.BlockMeta)
	for _, m := range metas {
		if len(m.KafkaRanges) == 0 {
			continue
		}
		// Any range of m must lie within a range of a block hiding it.
		r := m.KafkaRanges[0]
		after, _ := slices.BinarySearchFunc(spans, r, func(s span, r schema.OffsetRange) int {
			if c := cmp.Compare(s.r.Partition, r.Partition); c != 0 {
				return c
			}
			if s.r.Start <= r.Start {
				return -1
			}
			return 1
		})
		for i := after - 1; i >= 0 && spans[i].r.Partition == r.Partition && reach[i] >= r.End; i-- {
			if s := spans[i]; s.m != m && s.r.End >= r.End && hides(s.m, m) {
				out[m.BlockID] = s.m
				break
			}
		}
	}
	return out
}
