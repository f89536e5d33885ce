package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// groupCommit makes the embedded Kafka's log durable for many writers with
// few fsyncs. Each Sync call joins the next round, which has not started
// yet: the round fsyncs the union of the partitions its callers named, and
// releases them all. One round runs at a time; callers arriving while it
// runs form the next one, which starts as soon as it ends. So a caller
// waits for at most the round in progress and its own, and however many
// callers wait, a round costs one fsync per file of the partitions named.
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
// truncates at.
type groupCommit struct {
	// sync fsyncs the files of a round's partitions.
	sync   func(partitions map[int32]struct{}) error
	logger *slog.Logger

	// turn holds a token while a round runs.
	turn chan struct{}

	mu sync.Mutex
	// next is the round callers join, nil until one does.
	next *syncRound
	// failed is the error of the first round that failed, after which
	// every Sync fails.
	failed error

	rounds   prometheus.Histogram
	requests prometheus.Counter
}

// syncRound is one fsync of the files of the partitions its callers named.
type syncRound struct {
	partitions map[int32]struct{}
	done       chan struct{} // closed once err is set
	err        error
}

func newGroupCommit(syncFiles func(partitions map[int32]struct{}) error, logger *slog.Logger, reg prometheus.Registerer) *groupCommit {
	g := &groupCommit{
		sync:   syncFiles,
		logger: logger,
		turn:   make(chan struct{}, 1),
		rounds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_embedded_kafka_sync_duration_seconds",
			Help:    "Time one group commit took to fsync the embedded Kafka's files of the partitions its writers wrote; its count is the rounds.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		requests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_embedded_kafka_sync_requests_total",
			Help: "Writes that waited for a group commit of the embedded Kafka's log; divided by the rounds, how many one fsync served.",
		}),
	}
	reg.MustRegister(g.rounds, g.requests)
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
	g.mu.Unlock()
	for {
		select {
		case <-r.done:
			return r.err
		case <-ctx.Done():
			return context.Cause(ctx)
		case g.turn <- struct{}{}:
			// No round runs: start r, unless another of its callers
			// did and it ended meanwhile.
			g.mu.Lock()
			start := g.next == r
			if start {
				g.next = nil
			}
			g.mu.Unlock()
			if !start {
				<-g.turn
				continue
			}
			// The round runs on even if this caller gives up, for the
			// others waiting on it; it releases the turn.
			go g.run(r)
		}
	}
}

// run fsyncs r's partitions, releases its callers and the turn. After a
// failure it syncs nothing: its callers get the failure.
func (g *groupCommit) run(r *syncRound) {
	g.mu.Lock()
	err := g.failed
	g.mu.Unlock()
	if err == nil {
		start := time.Now()
		err = g.sync(r.partitions)
		g.rounds.Observe(time.Since(start).Seconds())
		if err != nil {
			err = fmt.Errorf("fsync the embedded kafka's log: %w; writes fail until spanlog restarts", err)
			g.logger.Error("the embedded kafka's log could not be made durable; every write fails until spanlog restarts", "err", err)
			g.mu.Lock()
			g.failed = err
			g.mu.Unlock()
		}
	}
	r.err = err
	close(r.done)
	<-g.turn
}
