package compactor

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// exclusive records which compactor reads and writes each block's data,
// and every time two do at once.
type exclusive struct {
	mu         sync.Mutex
	holder     map[string]string // object: the compactor using it now
	violations []string
}

// use marks name used by who, until the returned func is called.
func (e *exclusive) use(who, name string) func() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if other, ok := e.holder[name]; ok && other != who {
		e.violations = append(e.violations, fmt.Sprintf("%s uses %s while %s does", who, name, other))
		return func() {}
	}
	e.holder[name] = who
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.holder, name)
	}
}

// sharedBucket is one compactor's view of a bucket whose data objects
// an exclusive tracks. Its opens of data wait until gate is closed; one
// whose context ends meanwhile takes a while to give up, as a read in
// flight on S3 does.
type sharedBucket struct {
	objstore.Bucket
	who  string
	ex   *exclusive
	gate <-chan struct{}
}

func (b *sharedBucket) Open(ctx context.Context, name string) (objstore.ReaderAt, error) {
	if !strings.HasSuffix(name, "/data.parquet") {
		return b.Bucket.Open(ctx, name)
	}
	release := b.ex.use(b.who, name)
	select {
	case <-b.gate:
	case <-ctx.Done():
		time.Sleep(2 * time.Second)
		release()
		return nil, ctx.Err()
	}
	r, err := b.Bucket.Open(ctx, name)
	if err != nil {
		release()
		return nil, err
	}
	return &releasingReader{ReaderAt: r, release: sync.OnceFunc(release)}, nil
}

func (b *sharedBucket) Upload(ctx context.Context, name string, r io.Reader) error {
	if strings.HasSuffix(name, "/data.parquet") {
		defer b.ex.use(b.who, name)()
	}
	return b.Bucket.Upload(ctx, name, r)
}

type releasingReader struct {
	objstore.ReaderAt
	release func()
}

func (r *releasingReader) Close() error {
	r.release()
	return r.ReaderAt.Close()
}

// TestTwoCompactorsShareThePartitions: a compactor that holds every
// partition, its jobs under way, is joined by another; the group splits
// the partitions, the jobs of those that move stop before the other
// compactor starts on them, and no block is ever read or written by both
// at once. Both compact, and every partition ends as one block holding
// each span once.
func TestTwoCompactorsShareThePartitions(t *testing.T) {
	for name, newBucket := range backends(t) {
		t.Run(name, func(t *testing.T) { twoCompactorsShareThePartitions(t, newBucket(t)) })
	}
}

func twoCompactorsShareThePartitions(t *testing.T, bkt objstore.Bucket) {
	log := kafkatest.New(t).Log(t, 4)
	var inputs []*schema.BlockMeta
	for p := range int32(4) {
		inputs = append(inputs, writeBlocks(t, bkt, closedWindowSpecs("t1", p, 0, 8)...)...)
	}
	before := spans(t, bkt, inputs)
	// The first job is of partition 2: the group gives a joiner the
	// partitions last in the order of the sticky balancer, 2 and 3 here.
	// The blocks of 0 and 1 wait for their builders' commits.
	commit(t, log, map[int32]int64{2: 80, 3: 80})

	ex := &exclusive{holder: map[string]string{}}
	gate := make(chan struct{})
	a := runCompactor(t, testConfig(), log, noLimits(t), &sharedBucket{Bucket: bkt, who: "a", ex: ex, gate: gate})
	await(t, 20*time.Second, "the first compactor to hold every partition and start a job", func() bool {
		return promtest.Value(t, a.reg, "spanlog_compactor_partitions") == 4 && strings.Contains(a.logs.String(), "compacting blocks")
	})
	open := make(chan struct{})
	close(open)
	b := runCompactor(t, testConfig(), log, noLimits(t), &sharedBucket{Bucket: bkt, who: "b", ex: ex, gate: open})
	await(t, 30*time.Second, "the group to split the partitions", func() bool {
		return promtest.Value(t, a.reg, "spanlog_compactor_partitions") == 2 && promtest.Value(t, b.reg, "spanlog_compactor_partitions") == 2
	})
	close(gate)
	commit(t, log, map[int32]int64{0: 80, 1: 80})

	await(t, 30*time.Second, "one block per partition", func() bool {
		read, exist := view(t, bkt, "t1")
		return len(read) == 4 && len(exist) == 4
	})
	ex.mu.Lock()
	if len(ex.violations) > 0 {
		t.Errorf("blocks used by both compactors at once: %q", ex.violations)
	}
	ex.mu.Unlock()
	for name, c := range map[string]*runningCompactor{"a": a, "b": b} {
		if promtest.Value(t, c.reg, "spanlog_compactor_compactions_total") == 0 {
			t.Errorf("compactor %s compacted nothing", name)
		}
	}
	if slices.Contains(b.own.owned(), 2) && !strings.Contains(a.logs.String(), "compaction stopped") {
		t.Error("partition 2 moved, and the first compactor's job of it did not stop")
	}
	after := spans(t, bkt, readMetas(t, bkt, "t1"))
	if len(after) != len(before) {
		t.Errorf("blocks hold %d spans, the inputs %d", len(after), len(before))
	}
	for k, n := range after {
		if n != 1 || before[k] == 0 {
			t.Errorf("span %x/%x: %d times in the blocks, %d in the inputs", k.trace, k.span, n, before[k])
		}
	}
}

// TestRevokeWaitsForTheWork: the revoke callback ends the work under the
// partitions it takes, and returns only once that work has stopped; work
// on a partition not held, or no longer held, never starts.
func TestRevokeWaitsForTheWork(t *testing.T) {
	own := newOwnership(discard())
	own.assigned("log")(context.Background(), nil, map[string][]int32{"log": {0, 1}})
	work, done, ok := own.hold(context.Background(), 0)
	if !ok {
		t.Fatal("no hold on an assigned partition")
	}
	other, otherDone, _ := own.hold(context.Background(), 1)
	defer otherDone()
	if _, _, ok := own.hold(context.Background(), 2); ok {
		t.Fatal("a hold on a partition not assigned")
	}

	revoked := make(chan struct{})
	go func() {
		own.revoked("log")(context.Background(), nil, map[string][]int32{"log": {0}})
		close(revoked)
	}()
	<-work.Done() // the revoke ends the work...
	select {
	case <-revoked:
		t.Fatal("the revoke returned while work on the partition was still running")
	case <-time.After(50 * time.Millisecond):
	}
	done() // ...and waits for it to stop
	<-revoked
	if _, _, ok := own.hold(context.Background(), 0); ok {
		t.Fatal("a hold on a revoked partition")
	}
	if other.Err() != nil {
		t.Fatal("the work on a partition kept was ended")
	}
	if got := own.owned(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("owned %v, want [1]", got)
	}
}
