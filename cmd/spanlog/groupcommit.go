package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// groupCommit makes the embedded Kafka's log durable for many writers with
// few fsyncs. Each Sync call joins the next round, which has not started
// yet: the round fsyncs the union of the partitions its callers named, and
// releases them all. A round starts at once, unless maxInFlight rounds
// are in flight (started and not released); callers arriving meanwhile
// join it, and it starts when the oldest is released. So a caller waits
// for about one round when fewer are in flight, and however many callers
// wait, a round costs one fsync per file of the partitions named. The
// bound keeps the goroutines and fsyncs in flight few: the rounds sync
// the same files, and more of them at once queue on the disk and the
// cores rather than shorten the wait (EmbeddedKafkaConfig.SyncRoundsInFlight).
//
// Rounds are released in the order they started: a round's callers return
// only once it and every round started before it have ended. A round
// started later may end first, but its fsyncs prove nothing about the
// earlier rounds' files it did not sync, and a failure in an earlier
// round must reach its callers too.
//
// What it guarantees: a round starts after each of its callers called
// Sync, so it fsyncs every byte written to their partitions' files before
// they called, whatever the file (the kernel syncs a file's dirty pages,
// not one writer's). A caller that calls Sync after the broker
// acknowledged its records gets nil only once those records are on disk.
//
// A failed fsync fails every Sync after it, until a restart: the kernel may
// have dropped the pages it could not write and reports that once, so a
// later fsync that succeeds does not mean the earlier records are on disk,
// and a record acked after it could follow a hole that loading the log
// truncates at. That holds for the rounds still in flight when one fails,
// whichever started first: a round is released with nil only if no round
// had failed by then.
type groupCommit struct {
	// sync fsyncs the files of a round's partitions; rounds in flight
	// call it concurrently.
	sync   func(partitions map[int32]struct{}) error
	logger *slog.Logger

	mu sync.Mutex
	// maxInFlight bounds the rounds started and not yet released.
	maxInFlight int
	// next is the round callers join, nil until one does; it starts once
	// fewer than maxInFlight are in flight.
	next *syncRound
	// inFlight are the rounds started and not yet released, in the order
	// they started.
	inFlight []*syncRound
	// failed is the error of the first round that failed, after which
	// every Sync fails.
	failed error

	rounds         prometheus.Histogram
	requests       prometheus.Counter
	roundsInFlight prometheus.Gauge
}

// syncRound is one fsync of the files of the partitions its callers named.
type syncRound struct {
	partitions map[int32]struct{}
	// synced is set, under groupCommit.mu, once its fsyncs returned.
	synced bool
	done   chan struct{} // closed once err is set, on release
	err    error
}

// newGroupCommit returns a group commit that runs syncFiles for up to
// maxInFlight rounds at once; 1 runs one round at a time.
func newGroupCommit(syncFiles func(partitions map[int32]struct{}) error, maxInFlight int, logger *slog.Logger, reg prometheus.Registerer) *groupCommit {
	g := &groupCommit{
		sync:        syncFiles,
		maxInFlight: maxInFlight,
		logger:      logger,
		rounds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_embedded_kafka_sync_duration_seconds",
			Help:    "Time one group commit took to fsync the embedded Kafka's files of the partitions its writers wrote; its count is the rounds.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		requests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_embedded_kafka_sync_requests_total",
			Help: "Writes that waited for a group commit of the embedded Kafka's log; divided by the rounds, how many one fsync served.",
		}),
		roundsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spanlog_embedded_kafka_sync_rounds_in_flight",
			Help: fmt.Sprintf("Group commits of the embedded Kafka's log started and not yet released, at most %d; at %[1]d, writes wait for the oldest to be released before theirs starts.", maxInFlight),
		}),
	}
	reg.MustRegister(g.rounds, g.requests, g.roundsInFlight)
	return g
}

// Sync returns once the records the broker acknowledged on partitions
// before the call are on disk, or with the error of the round that was to
// sync them, or with ctx's cause when ctx ends first.
func (g *groupCommit) Sync(ctx context.Context, partitions []int32) error {
	if len(partitions) == 0 {
		return nil
	}
	g.requests.Inc()
	g.mu.Lock()
	if g.failed != nil {
		g.mu.Unlock()
		return g.failed
	}
	r := g.next
	if r == nil {
		r = &syncRound{partitions: make(map[int32]struct{}), done: make(chan struct{})}
		g.next = r
	}
	for _, p := range partitions {
		r.partitions[p] = struct{}{}
	}
	g.startNext()
	g.mu.Unlock()
	// A round runs on even if this caller gives up, for the others
	// waiting on it.
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// startNext starts the next round if it has callers and fewer than
// g.maxInFlight are in flight. g.mu must be held.
func (g *groupCommit) startNext() {
	if g.next == nil || len(g.inFlight) >= g.maxInFlight {
		return
	}
	r := g.next
	g.next = nil
	g.inFlight = append(g.inFlight, r)
	g.roundsInFlight.Set(float64(len(g.inFlight)))
	go g.run(r)
}

// run fsyncs r's partitions, then releases every round at the head of
// those in flight whose fsyncs returned, and starts the next round. After
// a failure it syncs nothing: its callers get the failure.
func (g *groupCommit) run(r *syncRound) {
	g.mu.Lock()
	failed := g.failed
	g.mu.Unlock()
	if failed == nil {
		start := time.Now()
		err := g.sync(r.partitions)
		g.rounds.Observe(time.Since(start).Seconds())
		if err != nil {
			err = fmt.Errorf("fsync the embedded kafka's log: %w; writes fail until spanlog restarts", err)
			g.logger.Error("the embedded kafka's log could not be made durable; every write fails until spanlog restarts", "err", err)
			g.mu.Lock()
			if g.failed == nil {
				g.failed = err
			}
			g.mu.Unlock()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r.synced = true
	released := 0
	for _, head := range g.inFlight {
		if !head.synced {
			break
		}
		released++
	}
	done := slices.Clone(g.inFlight[:released])
	g.inFlight = slices.Delete(g.inFlight, 0, released)
	// The gauge is set before any caller is released, so a caller that
	// reads it after its Sync returned sees its own round gone.
	g.roundsInFlight.Set(float64(len(g.inFlight)))
	for _, head := range done {
		head.err = g.failed
		close(head.done)
	}
	g.startNext()
}
