package main

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/promtest"
)

// testRoundsInFlight is the tests' bound of rounds in flight, the default.
const testRoundsInFlight = 4

// heldSyncs is a groupCommit's sync whose rounds the test ends one by
// one: each round tells its partitions on started and returns what is
// sent on its release.
type heldSyncs struct {
	started chan heldRound

	mu            sync.Mutex
	running, most int
}

type heldRound struct {
	partitions []int32
	release    chan error
}

func newHeldSyncs() *heldSyncs {
	return &heldSyncs{started: make(chan heldRound)}
}

func (h *heldSyncs) sync(partitions map[int32]struct{}) error {
	h.mu.Lock()
	h.running++
	h.most = max(h.most, h.running)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.running--
		h.mu.Unlock()
	}()
	r := heldRound{partitions: slices.Sorted(maps.Keys(partitions)), release: make(chan error)}
	h.started <- r
	return <-r.release
}

// mostRunning is the most rounds that ran at once.
func (h *heldSyncs) mostRunning() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.most
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
	awaitRounds(t, g, "partitions in the next round", func() bool {
		if g.next == nil {
			return false
		}
		for _, p := range partitions {
			if _, ok := g.next.partitions[p]; !ok {
				return false
			}
		}
		return true
	})
}

// awaitSynced waits until the round started that holds partition has had
// its fsyncs return: it is marked synced, or released.
func awaitSynced(t *testing.T, g *groupCommit, partition int32) {
	t.Helper()
	awaitRounds(t, g, "fsyncs returned", func() bool {
		for _, r := range g.inFlight {
			if _, ok := r.partitions[partition]; ok {
				return r.synced
			}
		}
		return true
	})
}

// awaitRounds waits until cond, called with g.mu held, holds.
func awaitRounds(t *testing.T, g *groupCommit, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		ok := cond()
		g.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10s", what)
		}
	}
}

// unreleased returns the partitions of the rounds in flight, oldest
// first.
func unreleased(g *groupCommit) [][]int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var rounds [][]int32
	for _, r := range g.inFlight {
		rounds = append(rounds, slices.Sorted(maps.Keys(r.partitions)))
	}
	return rounds
}

func expectRound(t *testing.T, h *heldSyncs, want ...int32) heldRound {
	t.Helper()
	select {
	case r := <-h.started:
		if !slices.Equal(r.partitions, want) {
			t.Fatalf("round syncs partitions %v, want %v", r.partitions, want)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("no round of partitions %v started within 10s", want)
		return heldRound{}
	}
}

func expectReturn(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Sync did not return within 10s")
		return nil
	}
}

// A caller that comes while a round runs starts its own at once, rather
// than wait for that one to end; but it is released only once every
// round started before its own has ended too, as those may hold the only
// fsync of files its records are in, or a failure.
func TestGroupCommitRoundsOverlapReleasedInOrder(t *testing.T) {
	h := newHeldSyncs()
	reg := prometheus.NewRegistry()
	g := newGroupCommit(h.sync, testRoundsInFlight, (&logtest.Buffer{}).Logger(), reg)
	ctx := t.Context()

	first := startSync(ctx, g, 1, 2)
	a := expectRound(t, h, 1, 2)
	second := startSync(ctx, g, 2, 3)
	b := expectRound(t, h, 2, 3)
	if n := promtest.Value(t, reg, "spanlog_embedded_kafka_sync_rounds_in_flight"); n != 2 {
		t.Errorf("%v rounds in flight, want 2", n)
	}

	b.release <- nil
	awaitSynced(t, g, 3)
	if got := unreleased(g); len(got) != 2 {
		t.Fatalf("rounds in flight %v once the later one synced, want both", got)
	}
	select {
	case err := <-second:
		t.Fatalf("caller released (%v) before the round started before its own ended", err)
	default:
	}

	a.release <- nil
	for i, done := range []<-chan error{first, second} {
		if err := expectReturn(t, done); err != nil {
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
	if n := promtest.Value(t, reg, "spanlog_embedded_kafka_sync_requests_total"); n != 2 {
		t.Errorf("%v requests counted, want 2", n)
	}
	if n := promtest.Value(t, reg, "spanlog_embedded_kafka_sync_rounds_in_flight"); n != 0 {
		t.Errorf("%v rounds in flight after all ended, want 0", n)
	}
}

// With its bound of rounds in flight, callers join one round, which
// starts once the oldest is released and syncs what every one of them
// named, in one go. A bound of 1 runs one round at a time.
func TestGroupCommitBoundsRoundsInFlight(t *testing.T) {
	for _, bound := range []int{1, 2, testRoundsInFlight} {
		t.Run(strconv.Itoa(bound), func(t *testing.T) {
			h := newHeldSyncs()
			g := newGroupCommit(h.sync, bound, (&logtest.Buffer{}).Logger(), prometheus.NewRegistry())
			ctx := t.Context()

			var (
				callers []<-chan error
				rounds  []heldRound
			)
			for p := range int32(bound) {
				callers = append(callers, startSync(ctx, g, p))
				rounds = append(rounds, expectRound(t, h, p))
			}
			// Each caller names a partition of its own, so that the
			// next round holding them all means every caller joined it;
			// 11 is named twice.
			waiting := []<-chan error{startSync(ctx, g, 12), startSync(ctx, g, 11, 14), startSync(ctx, g, 13, 11)}
			// In the next round, not started: Sync starts a round before
			// it waits, under the lock awaitJoined takes.
			awaitJoined(t, g, 11, 12, 13, 14)

			if bound > 1 {
				// The last round ends first: no room yet, it waits for
				// the first.
				rounds[bound-1].release <- nil
				awaitSynced(t, g, int32(bound-1))
				awaitJoined(t, g, 11, 12, 13, 14)
			}
			rounds[0].release <- nil
			last := expectRound(t, h, 11, 12, 13, 14)
			if err := expectReturn(t, callers[0]); err != nil {
				t.Errorf("caller 0: %v", err)
			}
			for i := 1; i < bound-1; i++ {
				rounds[i].release <- nil
			}
			last.release <- nil
			for i, done := range slices.Concat(callers[1:], waiting) {
				if err := expectReturn(t, done); err != nil {
					t.Errorf("caller %d: %v", i+1, err)
				}
			}
			if n := h.mostRunning(); n != bound {
				t.Errorf("%d rounds ran at once, want %d", n, bound)
			}
		})
	}
}

// After a failed fsync, nothing synced later proves the earlier writes are
// on disk: every caller not released yet fails, whichever round failed,
// and every Sync after it, without a sync.
func TestGroupCommitFailureSticks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failing int
	}{
		{"first round fails", 0},
		{"last round fails", testRoundsInFlight - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHeldSyncs()
			logs := &logtest.Buffer{}
			g := newGroupCommit(h.sync, testRoundsInFlight, logs.Logger(), prometheus.NewRegistry())
			ctx := t.Context()

			var (
				callers []<-chan error
				rounds  []heldRound
			)
			for p := range int32(testRoundsInFlight) {
				callers = append(callers, startSync(ctx, g, p))
				rounds = append(rounds, expectRound(t, h, p))
			}
			// This one's round starts after the failure: it syncs
			// nothing (h.started has no receiver left, so a sync would
			// hang), and fails.
			callers = append(callers, startSync(ctx, g, 10))
			awaitJoined(t, g, 10)

			rounds[tc.failing].release <- errors.New("EIO")
			awaitSynced(t, g, int32(tc.failing))
			for i, r := range rounds {
				if i != tc.failing {
					r.release <- nil
				}
			}
			for i, done := range callers {
				if err := expectReturn(t, done); err == nil || !strings.Contains(err.Error(), "EIO") {
					t.Errorf("caller %d got %v, want the fsync's failure", i, err)
				}
			}
			if err := g.Sync(ctx, []int32{3}); err == nil || !strings.Contains(err.Error(), "EIO") {
				t.Errorf("Sync after a failed fsync got %v, want the fsync's failure", err)
			}
			if !strings.Contains(logs.String(), "could not be made durable") {
				t.Errorf("no error logged; logs:\n%s", logs)
			}
		})
	}
}

// A caller that gives up returns at once; its round runs on, and the
// rounds after it are released when it ends.
func TestGroupCommitCallerGivesUp(t *testing.T) {
	h := newHeldSyncs()
	reg := prometheus.NewRegistry()
	g := newGroupCommit(h.sync, testRoundsInFlight, (&logtest.Buffer{}).Logger(), reg)

	ctx, cancel := context.WithCancelCause(t.Context())
	leaving := startSync(ctx, g, 1)
	a := expectRound(t, h, 1)
	staying := startSync(t.Context(), g, 2)
	b := expectRound(t, h, 2)
	gone := errors.New("client gone")
	cancel(gone)
	if err := expectReturn(t, leaving); !errors.Is(err, gone) {
		t.Errorf("caller that gave up got %v, want its context's cause", err)
	}
	b.release <- nil
	a.release <- nil
	if err := expectReturn(t, staying); err != nil {
		t.Errorf("caller that stayed: %v", err)
	}
	if n := promtest.Value(t, reg, "spanlog_embedded_kafka_sync_rounds_in_flight"); n != 0 {
		t.Errorf("%v rounds in flight after all ended, want 0", n)
	}
}

// Many callers, some giving up, rounds that end in any order: a caller
// that gets nil was in a round whose fsyncs returned, no more than
// testRoundsInFlight run at once, and once every round is released no
// goroutine is left. Run it with -race.
func TestGroupCommitManyCallers(t *testing.T) {
	before := goleak.IgnoreCurrent()
	var (
		mu      sync.Mutex
		synced  = make(map[int32]bool)
		running int
		most    int
	)
	syncFiles := func(partitions map[int32]struct{}) error {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		mu.Lock()
		running--
		for p := range partitions {
			synced[p] = true
		}
		mu.Unlock()
		return nil
	}
	g := newGroupCommit(syncFiles, testRoundsInFlight, (&logtest.Buffer{}).Logger(), prometheus.NewRegistry())

	const callers, calls = 16, 100
	var wg sync.WaitGroup
	for c := range int32(callers) {
		wg.Go(func() {
			for i := range int32(calls) {
				// Each call names a partition of its own, to find the
				// round that synced it.
				p := c*calls + i
				ctx, cancel := context.WithCancel(t.Context())
				if i%7 == 0 {
					time.AfterFunc(time.Duration(rand.IntN(300))*time.Microsecond, cancel)
				}
				err := g.Sync(ctx, []int32{p})
				cancel()
				switch {
				case errors.Is(err, context.Canceled):
				case err != nil:
					t.Errorf("call %d: %v", p, err)
				default:
					mu.Lock()
					ok := synced[p]
					mu.Unlock()
					if !ok {
						t.Errorf("call %d released before its partition was synced", p)
					}
				}
			}
		})
	}
	wg.Wait()
	awaitRounds(t, g, "release of every round", func() bool { return len(g.inFlight) == 0 && g.next == nil })
	mu.Lock()
	defer mu.Unlock()
	if most > testRoundsInFlight {
		t.Errorf("%d rounds ran at once, want at most %d", most, testRoundsInFlight)
	}
	goleak.VerifyNone(t, before)
}
