package blockbuilder

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// How a builder and its group's rebalances take turns.
//
// The builder consumes with BlockRebalanceOnPoll: from a poll until
// AllowRebalance, the group's callbacks that take partitions away wait. So
// no partition changes hands between the poll and the commit of the blocks
// cut from what it read, and no offset is committed for a partition the
// builder no longer owns. The builder allows rebalances once per turn of
// its loop, after the flush: a joiner gets its share, and a dead member's
// partitions move, within a turn of every member's loop (a poll waits at
// most idle-cut-delay). The pending blocks of a partition taken away are
// dropped uncommitted; its next owner rebuilds them from the committed
// offset, cutting the same ranges.
//
// A flush that cannot complete, say on an object storage outage, must not
// hold the group: while it does, no member of a classic group gets a
// partition, and once the rebalance timeout passes the group expels the
// builder. So a rebalance that waits on the builder ends the flush early:
// it starts no more block writes and retries no failed one, commits the
// partitions whose blocks are all written, and lets the rebalance run.
// Writes in flight finish, unless the rebalance has waited for half the
// rebalance timeout, when they are abandoned. The builder then resumes
// the blocks it still owns, without reading more of the log first.

// rebalanceSignal tells a flush that a rebalance waits on the builder.
type rebalanceSignal struct {
	mu      sync.Mutex
	waiting chan struct{} // closed once a rebalance waits
}

func newRebalanceSignal() *rebalanceSignal {
	return &rebalanceSignal{waiting: make(chan struct{})}
}

// raise is the group's OnPartitionsCallbackBlocked callback.
func (s *rebalanceSignal) raise(context.Context, *kgo.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.waiting:
	default:
		close(s.waiting)
	}
}

// wait returns a channel closed once a rebalance waits on the builder.
func (s *rebalanceSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// reset forgets the rebalance that waited, as the builder lets it run.
func (s *rebalanceSignal) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.waiting:
		s.waiting = make(chan struct{})
	default:
	}
}

// waiting reports whether rebalance, from rebalanceSignal.wait, is closed.
func waiting(rebalance <-chan struct{}) bool {
	select {
	case <-rebalance:
		return true
	default:
		return false
	}
}

// limitHold abandons the flush of ctx once it has held a waiting rebalance
// for half the rebalance timeout, leaving the other half for the revoke
// and the rejoin, so that the group never has to expel the builder.
func (b *Builder) limitHold(ctx context.Context, abandon context.CancelFunc, rebalance <-chan struct{}) {
	select {
	case <-ctx.Done():
		return
	case <-rebalance:
	}
	hold := b.cfg.RebalanceTimeout / 2
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		b.metrics.flushesAbandoned.Inc()
		b.logger.Warn("abandoning a block flush that holds the group's rebalance; the partitions' next owners write its blocks again",
			"held", hold)
		abandon()
	}
}

// dropPartitions forgets the pending blocks of partitions the group took
// away. They were not committed, so their new owner rebuilds them. A
// partition paused for MaxBufferedBytes is resumed, as a pause would
// outlive the assignment.
func (b *Builder) dropPartitions(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var resume []int32
	for _, p := range lost[b.kafka.Topic] {
		delete(b.parts, p)
		delete(b.durable, p)
		delete(b.owned, p)
		if b.paused[p] {
			delete(b.paused, p)
			resume = append(resume, p)
		}
		b.metrics.lag.Forget(p)
	}
	b.metrics.pausedPartitions.Set(float64(len(b.paused)))
	if len(resume) > 0 {
		cl.ResumeFetchPartitions(map[string][]int32{b.kafka.Topic: resume})
	}
}
