package compactor

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// stallingBucket holds every upload of an object named stall (data or
// meta of a block not among known) until its context ends, and then
// fails it without writing: a compactor stopped there, or killed.
type stallingBucket struct {
	objstore.Bucket
	known   map[uuid.UUID]bool
	stall   string
	stalled chan string // the names held, as they are
}

func (b *stallingBucket) Upload(ctx context.Context, name string, r io.Reader) error {
	parts := strings.Split(name, "/")
	id, _ := uuid.Parse(parts[1])
	if len(parts) == 3 && parts[2] == b.stall && !b.known[id] {
		b.stalled <- name
		<-ctx.Done()
		return ctx.Err()
	}
	return b.Bucket.Upload(ctx, name, r)
}

// TestAStoppedCompactionLeavesNothingVisible: a compactor stopped in the
// middle of a job, while it uploads the merged block's data, or killed
// between the data and the meta, leaves the block without a meta: readers
// read the inputs, and only them. The next compactor does the job again,
// under the same block ID, and the end state is as if nothing happened.
func TestAStoppedCompactionLeavesNothingVisible(t *testing.T) {
	for name, newBucket := range backends(t) {
		for _, stall := range []string{"data.parquet", "meta.json"} {
			t.Run(name+"/"+stall, func(t *testing.T) {
				log := kafkatest.New(t).Log(t, 1)
				bkt := newBucket(t)
				inputs := writeBlocks(t, bkt, closedWindowSpecs("t1", 0, 0, 4)...)
				commit(t, log, map[int32]int64{0: 40})
				var ranges []schema.OffsetRange
				known := map[uuid.UUID]bool{}
				for _, m := range inputs {
					ranges = append(ranges, m.KafkaRanges...)
					known[m.BlockID] = true
				}
				merged := schema.BlockID("t1", schema.UnionRanges(ranges))
				before := spans(t, bkt, inputs)

				stalling := &stallingBucket{Bucket: bkt, known: known, stall: stall, stalled: make(chan string, 1)}
				first := runCompactor(t, testConfig(), log, noLimits(t), stalling)
				var held string
				select {
				case held = <-stalling.stalled:
				case <-time.After(30 * time.Second):
					t.Fatal("no compaction started")
				}
				if want := merged.String() + "/" + stall; !strings.HasSuffix(held, want) {
					t.Fatalf("upload of %s held, want the merged block's %s", held, want)
				}
				read, exist := view(t, bkt, "t1")
				if !slices.Equal(read, idsOf(inputs)) || !slices.Equal(exist, idsOf(inputs)) {
					t.Fatalf("during the compaction, readers see %v (of %v), want the inputs only", read, exist)
				}
				first.stop()
				read, exist = view(t, bkt, "t1")
				if !slices.Equal(read, idsOf(inputs)) || !slices.Equal(exist, idsOf(inputs)) {
					t.Fatalf("after the stop, readers see %v (of %v), want the inputs only", read, exist)
				}
				if _, err := bkt.Attributes(context.Background(), block.MetaName("t1", merged)); !objstore.IsNotExist(err) {
					t.Fatalf("the merged block's meta after the stop: %v, want none", err)
				}
				dataLeft := false
				if _, err := bkt.Attributes(context.Background(), block.DataName("t1", merged)); err == nil {
					dataLeft = true
				}
				if dataLeft != (stall == "meta.json") {
					t.Fatalf("the merged block's data is left: %v; want it only if the stop came after it", dataLeft)
				}

				runCompactor(t, testConfig(), log, noLimits(t), bkt)
				await(t, 30*time.Second, "the job done again and its inputs deleted", func() bool {
					read, exist := view(t, bkt, "t1")
					return slices.Equal(read, []uuid.UUID{merged}) && slices.Equal(exist, read)
				})
				after := spans(t, bkt, readMetas(t, bkt, "t1"))
				if len(after) != len(before) {
					t.Errorf("the merged block holds %d spans, the inputs %d", len(after), len(before))
				}
				for k, n := range after {
					if n != 1 || before[k] == 0 {
						t.Errorf("span %x/%x: %d times in the merged block, %d in the inputs", k.trace, k.span, n, before[k])
					}
				}
			})
		}
	}
}
