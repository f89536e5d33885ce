package compactor

import (
	"context"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// How compactors split the work, without a ring or token files.
//
// Compactors join a consumer group of their own over the trace log's
// partitions and consume nothing: the group is only the directory of who
// holds what. The holder of partition p compacts and deletes the blocks of
// p, every tenant's; the holder of a tenant's home partition also writes
// the tenant's index and removes its leftovers, and the holder of
// partition 0 removes the bucket's abandoned uploads.
//
// Work on a partition runs under its claim. When the group takes the
// partition away, the revoke callback ends the claim and waits until the
// work under it has stopped before it returns, and the group gives the
// partition to another compactor only after that: two live compactors
// never work on one partition's blocks at once. A compactor killed midway
// holds its partitions until the session timeout, and leaves nothing a
// reader can see: a block exists once its meta is written, which a merge
// does last, under an ID that doing the merge again (the partition's next
// holder will) gives again.

// ownership is this compactor's share of the partitions.
type ownership struct {
	logger *slog.Logger

	mu     sync.Mutex
	claims map[int32]*claim
}

// claim is the hold on one partition, from its assignment to its revoke.
type claim struct {
	ctx    context.Context // ends when the partition is taken away
	cancel context.CancelFunc
	work   sync.WaitGroup // work in progress under the claim
}

func newOwnership(logger *slog.Logger) *ownership {
	return &ownership{logger: logger, claims: make(map[int32]*claim)}
}

// assigned is the group's OnPartitionsAssigned callback.
func (o *ownership) assigned(topic string) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, p := range assigned[topic] {
			if o.claims[p] == nil {
				ctx, cancel := context.WithCancel(context.Background())
				o.claims[p] = &claim{ctx: ctx, cancel: cancel}
			}
		}
		if len(assigned[topic]) > 0 {
			o.logger.Info("compactor partitions assigned", "partitions", assigned[topic], "owned", o.ownedLocked())
		}
	}
}

// revoked is the group's OnPartitionsRevoked and OnPartitionsLost
// callback: it ends the claims of the partitions taken away, and returns
// once nothing works under them any more.
func (o *ownership) revoked(topic string) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
		var ended []*claim
		o.mu.Lock()
		for _, p := range revoked[topic] {
			if c := o.claims[p]; c != nil {
				delete(o.claims, p)
				c.cancel()
				ended = append(ended, c)
			}
		}
		o.mu.Unlock()
		for _, c := range ended {
			c.work.Wait()
		}
		if len(ended) > 0 {
			o.logger.Info("compactor partitions revoked; work on them stopped", "partitions", revoked[topic])
		}
	}
}

// owned returns the partitions held now, sorted.
func (o *ownership) owned() []int32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ownedLocked()
}

func (o *ownership) ownedLocked() []int32 {
	return slices.Sorted(maps.Keys(o.claims))
}

// hold starts work on partition p under ctx: it returns a context that
// also ends when p is taken away, and done, to call when the work has
// stopped. ok is false, and there must be no work, if p is not held.
func (o *ownership) hold(ctx context.Context, p int32) (work context.Context, done func(), ok bool) {
	o.mu.Lock()
	c := o.claims[p]
	if c == nil {
		o.mu.Unlock()
		return nil, nil, false
	}
	// Counted before the lock is let go: a revoke that takes the claim
	// after waits for this work.
	c.work.Add(1)
	o.mu.Unlock()
	work, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	return work, func() {
		stop()
		cancel()
		c.work.Done()
	}, true
}

// homePartition is the partition whose holder writes tenant's index and
// removes its leftovers: one compactor per tenant, whatever partitions
// the tenant's blocks are in.
func homePartition(tenant string, partitions int32) int32 {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	return int32(h.Sum32() % uint32(partitions))
}
