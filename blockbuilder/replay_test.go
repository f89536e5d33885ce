package blockbuilder

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

func TestPlanPartition(t *testing.T) {
	tests := []struct {
		name                 string
		askedStart, askedEnd int64
		committed, logStart  int64
		known                []int64
		wantStart, wantEnd   int64
		wantBounds           []int64
	}{
		{
			name:       "the whole log",
			askedStart: 0, askedEnd: 100, committed: 100,
			known:     []int64{0, 10, 10, 25, 40, 100},
			wantStart: 0, wantEnd: 100, wantBounds: []int64{10, 25, 40},
		},
		{
			name:       "moved to the bounds of the blocks holding the ends",
			askedStart: 12, askedEnd: 30, committed: 100,
			known:     []int64{0, 10, 10, 25, 25, 40, 40, 100},
			wantStart: 10, wantEnd: 40, wantBounds: []int64{25},
		},
		{
			name:       "a start on a bound stays",
			askedStart: 25, askedEnd: 40, committed: 100,
			known:     []int64{0, 25, 40, 100},
			wantStart: 25, wantEnd: 40,
		},
		{
			name:       "never past the builders' commit",
			askedStart: 0, askedEnd: 500, committed: 100,
			known:     []int64{0, 50, 50, 100},
			wantStart: 0, wantEnd: 100, wantBounds: []int64{50},
		},
		{
			name:       "the commit is a bound where no block is known",
			askedStart: 0, askedEnd: 80, committed: 100,
			wantStart: 0, wantEnd: 100,
		},
		{
			name:       "not before the log's start",
			askedStart: 0, askedEnd: 100, committed: 100, logStart: 30,
			known:     []int64{0, 20, 20, 50, 50, 100},
			wantStart: 30, wantEnd: 100, wantBounds: []int64{50},
		},
		{
			name:       "nothing past the commit",
			askedStart: 120, askedEnd: 150, committed: 100,
			known:     []int64{0, 100},
			wantStart: 100, wantEnd: 100,
		},
		{
			name:       "an empty range asked",
			askedStart: 12, askedEnd: 12, committed: 100,
			known:     []int64{0, 10, 10, 25},
			wantStart: 12, wantEnd: 12,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := planPartition(PartitionReplay{Partition: 3, AskedStart: tt.askedStart, AskedEnd: tt.askedEnd, Committed: tt.committed},
				tt.logStart, tt.known, "builders")
			if pr.Start != tt.wantStart || pr.End != tt.wantEnd || !slices.Equal(pr.bounds, tt.wantBounds) {
				t.Fatalf("got [%d, %d) bounds %v, want [%d, %d) bounds %v; notes %q",
					pr.Start, pr.End, pr.bounds, tt.wantStart, tt.wantEnd, tt.wantBounds, pr.Notes)
			}
			if (pr.Start != tt.askedStart || pr.End != tt.askedEnd) && len(pr.Notes) == 0 {
				t.Errorf("range moved without a note")
			}
		})
	}

	pr := planPartition(PartitionReplay{Partition: 3, AskedStart: 0, AskedEnd: 100, Committed: -1}, 0, nil, "builders")
	if pr.End != pr.Start || len(pr.Notes) != 1 || !strings.Contains(pr.Notes[0], "group builders") {
		t.Fatalf("a partition the builders never committed: [%d, %d), notes %q", pr.Start, pr.End, pr.Notes)
	}
}

// progressLog records what a replay reports.
type progressLog struct {
	mu     sync.Mutex
	next   map[int32]int64
	bytes  int64
	done   map[int32]bool
	blocks []BlockOutcome
}

func newProgressLog() *progressLog {
	return &progressLog{next: make(map[int32]int64), done: make(map[int32]bool)}
}

func (p *progressLog) Read(_ int32, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes += bytes
}

func (p *progressLog) Replayed(partition int32, next int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if next < p.next[partition] {
		panic(fmt.Sprintf("partition %d replayed up to %d, then %d", partition, p.next[partition], next))
	}
	p.next[partition] = next
}

func (p *progressLog) Block(o BlockOutcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocks = append(p.blocks, o)
}

func (p *progressLog) Done(partition int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[partition] = true
}

// replay runs a replay of spec with the settings of the builders of
// group, and checks that its progress reached every partition's end.
func (f *fixture) replay(group string, spec ReplaySpec) (*ReplayPlan, ReplayStats, *progressLog) {
	f.t.Helper()
	r, err := NewReplayer(f.config(group), f.kafka, "default", f.bucket, blocklist.DefaultConfig(), f.logs.Logger())
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan, err := r.Plan(ctx, spec)
	if err != nil {
		f.t.Fatal(err)
	}
	progress := newProgressLog()
	stats, err := r.Run(ctx, plan, progress)
	if err != nil {
		f.t.Fatalf("replay: %v", err)
	}
	for _, pr := range plan.Partitions {
		if !progress.done[pr.Partition] || pr.End > pr.Start && progress.next[pr.Partition] != pr.End {
			f.t.Fatalf("partition %d replayed [%d, %d); progress says read to %d, done %v",
				pr.Partition, pr.Start, pr.End, progress.next[pr.Partition], progress.done[pr.Partition])
		}
	}
	if stats.Records == 0 && plan.Records() > 0 || progress.bytes != stats.Bytes {
		f.t.Fatalf("replay stats %+v, progress bytes %d, plan of %d offsets", stats, progress.bytes, plan.Records())
	}
	return plan, stats, progress
}

// dataObjects returns the data object of each block in metas.
func (f *fixture) dataObjects(metas map[uuid.UUID]*schema.BlockMeta) map[uuid.UUID]string {
	f.t.Helper()
	out := make(map[uuid.UUID]string)
	for id, m := range metas {
		b, err := objstore.ReadAll(context.Background(), f.bucket, block.DataName(m.Tenant, id))
		if err != nil {
			f.t.Fatal(err)
		}
		out[id] = string(b)
	}
	return out
}

// deleteBlocks deletes the blocks of metas for which drop holds.
func (f *fixture) deleteBlocks(metas map[uuid.UUID]*schema.BlockMeta, drop func(*schema.BlockMeta) bool) int {
	f.t.Helper()
	n := 0
	for id, m := range metas {
		if !drop(m) {
			continue
		}
		for _, name := range []string{block.MetaName(m.Tenant, id), block.DataName(m.Tenant, id)} {
			if err := f.bucket.Delete(context.Background(), name); err != nil {
				f.t.Fatal(err)
			}
		}
		n++
	}
	return n
}

// produceBacklog writes records of two tenants over several one-second
// cycles of the past to every partition, and returns the spans written.
func (f *fixture) produceBacklog() int {
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := range 36 {
		f.produce([]string{"t1", "t2"}[i%2], int32(i%partitions), 3, base.Add(time.Duration(i)*200*time.Millisecond))
	}
	return 36 * 3
}

// Blocks lost from the bucket are rebuilt by a replay exactly as the
// builders wrote them, and a second replay writes the same blocks again,
// byte for byte: nothing is added, nothing doubled.
func TestReplayTwiceWritesTheSameBlocks(t *testing.T) {
	f := newFixture(t)
	spans := f.produceBacklog()
	stop := f.start("builders")
	f.waitCommitted("builders")
	stop()
	committed := f.committed("builders")
	built := f.checkEverySpanOnce(spans)
	builtData := f.dataObjects(built)
	if len(built) < 2*partitions*2 {
		t.Fatalf("only %d blocks; the test needs several cycles per partition", len(built))
	}
	f.deleteBlocks(built, func(*schema.BlockMeta) bool { return true })

	plan, first, progress := f.replay("builders", ReplaySpec{})
	if first.Written != len(built) || first.Replaced+first.Skipped+first.Failed != 0 {
		t.Fatalf("first replay: %+v, want %d blocks written", first, len(built))
	}
	for _, pr := range plan.Partitions {
		if pr.Start != 0 || pr.End != committed[pr.Partition] {
			t.Errorf("partition %d replayed [%d, %d), want up to the commit %d", pr.Partition, pr.Start, pr.End, committed[pr.Partition])
		}
	}
	if len(progress.blocks) != len(built) {
		t.Errorf("progress told of %d blocks, want %d", len(progress.blocks), len(built))
	}
	rebuilt := f.checkEverySpanOnce(spans)
	if !maps.Equal(f.dataObjects(rebuilt), builtData) {
		t.Fatalf("the replay rebuilt blocks %v, not the builders' %v", slices.Collect(maps.Keys(rebuilt)), slices.Collect(maps.Keys(built)))
	}

	_, second, _ := f.replay("builders", ReplaySpec{})
	if second.Replaced != len(built) || second.Written+second.Skipped+second.Failed != 0 {
		t.Fatalf("second replay: %+v, want the %d blocks replaced", second, len(built))
	}
	again := f.checkEverySpanOnce(spans)
	if !maps.Equal(f.dataObjects(again), builtData) {
		t.Fatal("the second replay wrote other blocks")
	}
	if c := f.committed("builders"); !maps.Equal(c, committed) {
		t.Fatalf("the replay moved the builders' commits: %v, were %v", c, committed)
	}
}

// A partition the builders cut idle, where a block ends before its cycle
// does, is replayed into the same blocks: the replay cuts at the known
// blocks' bounds. Replaying from within a block rebuilds the whole block.
func TestReplayCutsWhereKnownBlocksEnd(t *testing.T) {
	f := newFixture(t)
	past := time.Now().Add(-time.Minute).Truncate(time.Second)
	at := func(i int) time.Time { return past.Add(time.Duration(i) * time.Millisecond) }
	// All of one cycle long over: the builders' rule alone makes one
	// block of them all, but a caught-up builder cuts what it read idle.
	f.produce("t1", 0, 2, at(0))
	f.produce("t1", 0, 2, at(1))
	stop := f.start("builders") // reads both at once: [0, 2)
	f.waitCommitted("builders")
	f.produce("t1", 0, 2, at(2)) // [2, 3)
	f.waitCommitted("builders")
	stop()
	f.produce("t1", 0, 2, at(3))
	f.produce("t1", 0, 2, at(4))
	f.start("builders") // [3, 5)
	f.waitCommitted("builders")
	built := f.checkEverySpanOnce(5 * 2)
	var ranges []schema.OffsetRange
	for _, m := range built {
		ranges = append(ranges, m.KafkaRanges...)
	}
	slices.SortFunc(ranges, func(a, b schema.OffsetRange) int { return cmp.Compare(a.Start, b.Start) })
	if want := []schema.OffsetRange{{Start: 0, End: 2}, {Start: 2, End: 3}, {Start: 3, End: 5}}; !slices.Equal(ranges, want) {
		t.Fatalf("builders wrote blocks of %v, want %v", ranges, want)
	}

	plan, stats, _ := f.replay("builders", ReplaySpec{Partitions: []int32{0}, From: tracelog.AtOffset(1)})
	if stats.Replaced != 3 || stats.Written != 0 {
		t.Fatalf("replay: %+v, want the 3 blocks replaced and none added", stats)
	}
	if pr := plan.Partitions[0]; pr.Start != 0 || pr.End != 5 {
		t.Fatalf("replayed [%d, %d), want [0, 5): the block holding offset 1 starts at 0 (%q)", pr.Start, pr.End, pr.Notes)
	}
	after := f.checkEverySpanOnce(5 * 2)
	if !maps.Equal(idsOf(after), idsOf(built)) {
		t.Fatalf("blocks after the replay %v, want %v", idsOf(after), idsOf(built))
	}
}

func idsOf(metas map[uuid.UUID]*schema.BlockMeta) map[uuid.UUID]bool {
	out := make(map[uuid.UUID]bool)
	for id := range metas {
		out[id] = true
	}
	return out
}

// A replay over blocks a compaction merged leaves the merged blocks as
// they are, even one whose ID the replay would give its own block, and
// what readers read holds every span once.
func TestReplayLeavesMergedBlocks(t *testing.T) {
	f := newFixture(t)
	f.start("builders")
	past := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := range 4 {
		f.produce("t1", 0, 2, past.Add(time.Duration(i)*time.Millisecond))
		f.waitCommitted("builders")
	}
	built := f.checkEverySpanOnce(4 * 2)
	byStart := make(map[int64]*schema.BlockMeta)
	for _, m := range built {
		byStart[m.KafkaRanges[0].Start] = m
	}
	ctx := context.Background()
	opts := f.config("builders").Block

	// All four merged into [0, 4), the inputs deleted: the replay cuts one
	// block of the cycle, [0, 4), under the merged block's ID.
	merged, err := block.Compact(ctx, f.bucket, slices.Collect(maps.Values(built)), opts)
	if err != nil {
		t.Fatal(err)
	}
	saved := f.objects(built)
	f.deleteBlocks(built, func(*schema.BlockMeta) bool { return true })
	_, stats, progress := f.replay("builders", ReplaySpec{})
	if stats.Skipped != 1 || stats.Written+stats.Replaced != 0 {
		t.Fatalf("replay over a merged block: %+v, want its one block skipped", stats)
	}
	if o := progress.blocks[0]; o.BlockID != merged.BlockID || !strings.Contains(o.Reason, "merged block") {
		t.Fatalf("skipped %+v, want the merged block's ID %s", o, merged.BlockID)
	}
	m, err := block.ReadMeta(ctx, f.bucket, "t1", merged.BlockID)
	if err != nil || m.CompactionLevel != 1 {
		t.Fatalf("merged block after the replay: %+v, %v", m, err)
	}
	f.checkEverySpanOnce(4 * 2)

	// [0, 2) merged, its inputs kept (as until the compactor deletes
	// them) and [2, 3), [3, 4) as built.
	f.deleteBlocks(map[uuid.UUID]*schema.BlockMeta{merged.BlockID: merged}, func(*schema.BlockMeta) bool { return true })
	f.upload(saved)
	half, err := block.Compact(ctx, f.bucket, []*schema.BlockMeta{byStart[0], byStart[1]}, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, stats, _ = f.replay("builders", ReplaySpec{})
	if stats.Skipped != 2 || stats.Replaced != 2 || stats.Written != 0 {
		t.Fatalf("replay over a merged half: %+v, want 2 skipped, 2 replaced", stats)
	}
	read := f.readable()
	if !read[half.BlockID] || !read[byStart[2].BlockID] || !read[byStart[3].BlockID] || len(read) != 3 {
		t.Fatalf("readers read %v; want the merged half and the two others", read)
	}
	f.checkReadOnce(4 * 2)
}

// objects returns the objects of the blocks of metas, by name.
func (f *fixture) objects(metas map[uuid.UUID]*schema.BlockMeta) map[string][]byte {
	f.t.Helper()
	out := make(map[string][]byte)
	for id, m := range metas {
		for _, name := range []string{block.DataName(m.Tenant, id), block.MetaName(m.Tenant, id)} {
			b, err := objstore.ReadAll(context.Background(), f.bucket, name)
			if err != nil {
				f.t.Fatal(err)
			}
			out[name] = b
		}
	}
	return out
}

// upload writes objects back, metas last.
func (f *fixture) upload(objects map[string][]byte) {
	f.t.Helper()
	isMeta := func(name string) int {
		if strings.HasSuffix(name, "/meta.json") {
			return 1
		}
		return 0
	}
	names := slices.SortedFunc(maps.Keys(objects), func(a, b string) int {
		return cmp.Or(cmp.Compare(isMeta(a), isMeta(b)), strings.Compare(a, b))
	})
	for _, name := range names {
		if err := f.bucket.Upload(context.Background(), name, bytes.NewReader(objects[name])); err != nil {
			f.t.Fatal(err)
		}
	}
}

// readable returns the blocks readers read: those no other supersedes.
func (f *fixture) readable() map[uuid.UUID]bool {
	f.t.Helper()
	bl, err := blocklist.New(blocklist.DefaultConfig(), f.bucket, blocklist.Options{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := bl.Poll(context.Background(), nil); err != nil {
		f.t.Fatal(err)
	}
	out := make(map[uuid.UUID]bool)
	for _, tenant := range bl.Tenants() {
		for _, m := range bl.Metas(tenant) {
			out[m.BlockID] = true
		}
	}
	return out
}

// checkReadOnce fails unless the blocks readers read hold want spans,
// each once.
func (f *fixture) checkReadOnce(want int) {
	f.t.Helper()
	read := f.readable()
	metas, _ := f.stored()
	spans := make(map[string]int)
	for id, m := range metas {
		if !read[id] {
			continue
		}
		r, err := block.Open(context.Background(), f.bucket, m)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := r.Scan(context.Background(), block.ScanOptions{Columns: block.SpanIDs}, func(row *schema.SpanRow) error {
			spans[fmt.Sprintf("%s/%x/%x", m.Tenant, row.TraceID, row.SpanID)]++
			return nil
		}); err != nil {
			f.t.Fatal(err)
		}
		r.Close()
	}
	if len(spans) != want {
		f.t.Fatalf("readers read %d distinct spans, want %d", len(spans), want)
	}
	for k, n := range spans {
		if n != 1 {
			f.t.Fatalf("readers read span %s %d times", k, n)
		}
	}
}

// A replay of one tenant rebuilds its blocks and touches no other's.
func TestReplayOneTenant(t *testing.T) {
	f := newFixture(t)
	spans := f.produceBacklog()
	stop := f.start("builders")
	f.waitCommitted("builders")
	stop()
	built := f.checkEverySpanOnce(spans)
	lost := f.deleteBlocks(built, func(m *schema.BlockMeta) bool { return m.Tenant == "t1" })

	_, stats, _ := f.replay("builders", ReplaySpec{Tenant: "t1"})
	if stats.Written != lost || stats.Replaced+stats.Skipped != 0 {
		t.Fatalf("replay of t1: %+v, want its %d blocks written and no other touched", stats, lost)
	}
	after := f.checkEverySpanOnce(spans)
	for id, m := range built {
		if a := after[id]; a == nil || m.Tenant == "t2" && !a.Created.Equal(m.Created) {
			t.Fatalf("block %s of %s after the replay: %+v", id, m.Tenant, a)
		}
	}
}

// A replay while the builders run takes nothing from their group: the
// member stays, its commits go on, and every span is stored once.
func TestReplayWhileBuildersRun(t *testing.T) {
	f := newFixture(t)
	f.start("builders")
	ctx := context.Background()
	members := func() []tracelog.GroupMember {
		m, err := tracelog.GroupMembers(ctx, f.cl, "builders", f.kafka.Topic)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	produced := 0
	produce := func(n int) {
		now := time.Now()
		for i := range n {
			f.produce([]string{"t1", "t2"}[i%2], int32(i%partitions), 2, now)
			produced += 2
		}
	}
	produce(30)
	f.waitCommitted("builders")
	before := members()
	if len(before) != 1 {
		t.Fatalf("builders' group: %+v", before)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			now := time.Now()
			for p := range int32(partitions) {
				if err := f.tryProduce("t1", p, 2, now); err != nil {
					t.Error(err)
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	_, stats, _ := f.replay("builders", ReplaySpec{})
	<-done
	produced += 20 * partitions * 2
	if stats.Replaced == 0 || stats.Failed != 0 {
		t.Fatalf("replay: %+v", stats)
	}
	f.waitCommitted("builders")
	if after := members(); len(after) != 1 || after[0].ID != before[0].ID {
		t.Fatalf("builders' group after the replay: %+v, was %+v", after, before)
	}
	f.checkEverySpanOnce(produced)
}

// Records deleted by retention between the plan and their reading make
// the replay fail, rather than cut a block that claims offsets it lacks
// and write it over the builders' whole one.
func TestReplayFailsOnRecordsDeletedUnderIt(t *testing.T) {
	f := newFixture(t)
	spans := f.produceBacklog()
	stop := f.start("builders")
	f.waitCommitted("builders")
	stop()
	built := f.checkEverySpanOnce(spans)

	r, err := NewReplayer(f.config("builders"), f.kafka, "default", f.bucket, blocklist.DefaultConfig(), f.logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	plan, err := r.Plan(ctx, ReplaySpec{Partitions: []int32{0}})
	if err != nil {
		t.Fatal(err)
	}
	var deletes kadm.Offsets
	deletes.Add(kadm.Offset{Topic: f.kafka.Topic, Partition: 0, At: 5})
	if _, err := kadm.NewClient(f.cl).DeleteRecords(ctx, deletes); err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(ctx, plan, newProgressLog())
	if !errors.Is(err, kerr.OffsetOutOfRange) || !strings.Contains(err.Error(), "retention deleted records") {
		t.Fatalf("replay of deleted records: %v", err)
	}
	if after := f.checkEverySpanOnce(spans); !maps.Equal(f.dataObjects(after), f.dataObjects(built)) {
		t.Fatal("the blocks changed")
	}
}
