package compactor

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// closedWindowSpecs returns n consecutive blocks of tenant in partition
// p, from first, whose spans ended in a compaction window that is over;
// every block holds a span of trace 99 too, split across them all.
func closedWindowSpecs(tenant string, p int32, first int64, n int) []blockSpec {
	ended := time.Now().Add(-3 * time.Hour).Truncate(time.Hour).Add(time.Minute)
	var out []blockSpec
	for i := range int64(n) {
		start := first + 10*i
		out = append(out, blockSpec{tenant: tenant, partition: p, start: start, end: start + 10, ended: ended.Add(time.Duration(i) * time.Second), traces: []byte{byte(i), 99}})
	}
	return out
}

// TestCompactionMergesAndDeletesTheInputs: a tenant's blocks of a
// partition are merged, level by level, into one block per partition
// holding each span once; the inputs are deleted, meta and data, once
// the grace has passed; nothing else is left in the bucket.
func TestCompactionMergesAndDeletesTheInputs(t *testing.T) {
	for name, newBucket := range backends(t) {
		t.Run(name, func(t *testing.T) {
			log := kafkatest.New(t).Log(t, 2)
			bkt := newBucket(t)
			var inputs []*schema.BlockMeta
			inputs = append(inputs, writeBlocks(t, bkt, closedWindowSpecs("t1", 0, 0, 6)...)...)
			inputs = append(inputs, writeBlocks(t, bkt, closedWindowSpecs("t1", 1, 100, 3)...)...)
			commit(t, log, map[int32]int64{0: 60, 1: 130})
			before := spans(t, bkt, inputs)

			c := runCompactor(t, testConfig(), log, noLimits(t), bkt)
			// Partition 0: four and two blocks, then those two; partition
			// 1: its three.
			var read []*schema.BlockMeta
			await(t, 30*time.Second, "one block per partition, and the inputs deleted", func() bool {
				read = readMetas(t, bkt, "t1")
				_, exist := view(t, bkt, "t1")
				return len(read) == 2 && len(exist) == 2
			})
			levels := map[int32]int{}
			for _, m := range read {
				levels[m.KafkaRanges[0].Partition] = m.CompactionLevel
				for _, r := range m.KafkaRanges {
					if r.Partition != m.KafkaRanges[0].Partition {
						t.Errorf("block %s mixes partitions: %v", m.BlockID, m.KafkaRanges)
					}
				}
			}
			if !maps.Equal(levels, map[int32]int{0: 2, 1: 1}) {
				t.Errorf("levels per partition %v, want 2 for partition 0 and 1 for partition 1", levels)
			}
			after := spans(t, bkt, read)
			for k, n := range after {
				if n != 1 {
					t.Errorf("span %x/%x is in the compacted blocks %d times", k.trace, k.span, n)
				}
			}
			if len(after) != len(before) {
				t.Errorf("compacted blocks hold %d spans, the inputs %d", len(after), len(before))
			}
			for k := range before {
				if after[k] == 0 {
					t.Errorf("span %x/%x lost", k.trace, k.span)
				}
			}
			// The two blocks' meta and data, and the tenant's index; the
			// 9 inputs and the 2 blocks of level 1 deleted.
			await(t, 10*time.Second, "only the blocks and the index in the bucket", func() bool {
				return len(objects(t, bkt, "")) == 5 &&
					promtest.Value(t, c.reg, "spanlog_compactor_blocks_deleted_total", "reason", "compacted") == 11
			})
			for _, name := range objects(t, bkt, "") {
				if !strings.HasSuffix(name, "/meta.json") && !strings.HasSuffix(name, "/data.parquet") && name != "t1/index.json.gz" {
					t.Errorf("object %s left in the bucket", name)
				}
			}
			if n := promtest.Value(t, c.reg, "spanlog_compactor_compactions_total"); n != 4 {
				t.Errorf("%v compactions, want 4", n)
			}
		})
	}
}

// TestABadBlockHoldsUpNoOther: a block whose data cannot be read fails
// the jobs it is in; they shrink until it is set aside, and every other
// block of the window ends in one block. A block whose meta cannot be
// used is not seen at all. Readers read the bad block as before.
func TestABadBlockHoldsUpNoOther(t *testing.T) {
	ctx := context.Background()
	log := kafkatest.New(t).Log(t, 1)
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blocks := writeBlocks(t, bkt, closedWindowSpecs("t1", 0, 0, 8)...)
	bad := blocks[3]
	if err := bkt.Upload(ctx, block.DataName("t1", bad.BlockID), strings.NewReader("not parquet")); err != nil {
		t.Fatal(err)
	}
	if err := bkt.Upload(ctx, block.MetaName("t1", uuid.New()), strings.NewReader("{not a meta")); err != nil {
		t.Fatal(err)
	}
	commit(t, log, map[int32]int64{0: 80})

	c := runCompactor(t, testConfig(), log, noLimits(t), bkt)
	var read []uuid.UUID
	await(t, 30*time.Second, "the others merged into one block", func() bool {
		var exist []uuid.UUID
		read, exist = view(t, bkt, "t1")
		return len(read) == 2 && len(exist) == 2
	})
	if !slices.Contains(read, bad.BlockID) {
		t.Error("the bad block is no longer read")
	}
	if !slices.ContainsFunc(strings.Split(c.logs.String(), "\n"), func(line string) bool {
		return strings.Contains(line, "block set aside") && strings.Contains(line, bad.BlockID.String())
	}) {
		t.Error("the bad block was never set aside")
	}
	if n := promtest.Value(t, c.reg, "spanlog_compactor_compaction_failures_total"); n < failureLimit {
		t.Errorf("%v compactions failed, want at least %d", n, failureLimit)
	}
}
