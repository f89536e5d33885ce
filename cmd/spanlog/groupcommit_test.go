package main

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/promtest"
)

// heldSyncs is a groupCommit's sync that tells each round's partitions on
// started and returns what release sends it.
type heldSyncs struct {
	started chan []int32
	release chan error
}

func newHeldSyncs() *heldSyncs {
	return &heldSyncs{started: make(chan []int32), release: make(chan error)}
}

func (h *heldSyncs) sync(partitions map[int32]struct{}) error {
	h.started <- slices.Sorted(maps.Keys(partitions))
	return <-h.release
}

// startSync calls g.Sync in a goroutine; the channel gets its result.
func startSync(ctx context.Context, g *groupCommit, partitions ...int32) <-chan error {
	done := make(chan error, 1)
	go func() { done <- g.Sync(ctx, partitions) }()
	return done
}

// awaitJoined waits until the round that starts next holds partitions.
func awaitJoined(t *testing.T, g *groupCommit, partitions ...int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		joined := g.next != nil
		for _, p := range partitions {
			if joined {
				_, joined = g.next.partitions[p]
			}
		}
		g.mu.Unlock()
		if joined {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions %v not in the next round after 10s", partitions)
		}
	}
}

func expectRound(t *testing.T, h *heldSyncs, want ...int32) {
	t.Helper()
	select {
	case got := <-h.started:
		if !slices.Equal(got, want) {
			t.Fatalf("round syncs partitions %v, want %v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no round of partitions %v started within 10s", want)
	}
}

// A write is on disk only if an fsync started after it: a caller that
// comes while a round runs must not be released by that round, but by the
// next, which syncs what every caller that came meanwhile named, in one
// go.
func TestGroupCommitReleasesAfterARoundStartedAfterTheCall(t *testing.T) {
	h := newHeldSyncs()
	reg := prometheus.NewRegistry()
	g := newGroupCommit(h.sync, (&logtest.Buffer{}).Logger(), reg)
	ctx := t.Context()

	first := startSync(ctx, g, 1, 2)
	expectRound(t, h, 1, 2)
	// Written while the first round runs.
	later := []<-chan error{startSync(ctx, g, 2), startSync(ctx, g, 3), startSync(ctx, g, 5, 3)}
	awaitJoined(t, g, 2, 3, 5)
	h.release <- nil
	if err := <-first; err != nil {
		t.Fatalf("first caller: %v", err)
	}
	select {
	case err := <-later[0]:
		t.Fatalf("caller released (%v) by the round that started before it", err)
	case err := <-later[1]:
		t.Fatalf("caller released (%v) by the round that started before it", err)
	case err := <-later[2]:
		t.Fatalf("caller released (%v) by the round that started before it", err)
	case got := <-h.started:
		if want := []int32{2, 3, 5}; !slices.Equal(got, want) {
			t.Fatalf("second round syncs partitions %v, want %v", got, want)
		}
	}
	h.release <- nil
	for i, done := range later {
		if err := <-done; err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	var rounds dto.Metric
	if err := g.rounds.Write(&rounds); err != nil {
		t.Fatal(err)
	}
	if n := rounds.GetHistogram().GetSampleCount(); n != 2 {
		t.Errorf("%d rounds, want 2", n)
	}
	if n := promtest.Value(t, reg, "spanlog_embedded_kafka_sync_requests_total"); n != 4 {
		t.Errorf("%v requests counted, want 4", n)
	}
}

// After a failed fsync, nothing synced later proves the earlier writes are
// on disk: every caller fails, then and from then on, without a sync.
func TestGroupCommitFailureSticks(t *testing.T) {
	h := newHeldSyncs()
	logs := &logtest.Buffer{}
	g := newGroupCommit(h.sync, logs.Logger(), prometheus.NewRegistry())
	ctx := t.Context()

	first := startSync(ctx, g, 1)
	expectRound(t, h, 1)
	queued := startSync(ctx, g, 2)
	awaitJoined(t, g, 2)
	h.release <- errors.New("EIO")
	for _, done := range []<-chan error{first, queued} {
		if err := <-done; err == nil || !strings.Contains(err.Error(), "EIO") {
			t.Errorf("got %v, want the fsync's failure", err)
		}
	}
	// The failure sticks: h.started has no receiver, so a sync would hang.
	if err := g.Sync(ctx, []int32{3}); err == nil {
		t.Error("Sync after a failed fsync returned nil")
	}
	if !strings.Contains(logs.String(), "could not be made durable") {
		t.Errorf("no error logged; logs:\n%s", logs)
	}
}

// A caller that gives up returns at once; the round it started runs on
// for the others.
func TestGroupCommitCallerGivesUp(t *testing.T) {
	h := newHeldSyncs()
	g := newGroupCommit(h.sync, (&logtest.Buffer{}).Logger(), prometheus.NewRegistry())

	ctx, cancel := context.WithCancelCause(t.Context())
	leaving := startSync(ctx, g, 1)
	expectRound(t, h, 1)
	staying := startSync(t.Context(), g, 2)
	awaitJoined(t, g, 2)
	gone := errors.New("client gone")
	cancel(gone)
	if err := <-leaving; !errors.Is(err, gone) {
		t.Errorf("caller that gave up got %v, want its context's cause", err)
	}
	h.release <- nil
	expectRound(t, h, 2)
	h.release <- nil
	if err := <-staying; err != nil {
		t.Errorf("caller that stayed: %v", err)
	}
}
