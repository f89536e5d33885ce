package blockbuilder

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/promtest"
)

// protocols are the group protocols every rebalance test runs under, with
// the kfake options that give the consumer protocol heartbeats as quick
// as the classic one's (the broker sets them there).
var protocols = []struct {
	name  string
	kafka []kfake.Opt
}{
	{GroupProtocolClassic, nil},
	{GroupProtocolConsumer, []kfake.Opt{kfake.BrokerConfigs(map[string]string{
		"group.consumer.heartbeat.interval.ms": "500",
		"group.consumer.session.timeout.ms":    "6000",
	})}},
}

// members returns who owns which partitions, as the group itself says.
func (f *fixture) members(group string) kafkatest.Assignment {
	f.t.Helper()
	m, err := kafkatest.Members(context.Background(), f.cl, group, f.kafka.Topic)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// waitMembers waits until group has n members that split every partition
// between them, each owning at least one, and returns them.
func (f *fixture) waitMembers(group string, n int, within time.Duration) kafkatest.Assignment {
	f.t.Helper()
	var last kafkatest.Assignment
	waitUntil(f.t, within, func() bool {
		last = f.members(group)
		return last.Splits(n, partitions)
	}, func() string { return "group members " + last.String() })
	return last
}

// waitCommitsPast waits until group committed past before on every
// partition.
func (f *fixture) waitCommitsPast(group string, before map[int32]int64, within time.Duration) {
	f.t.Helper()
	var last map[int32]int64
	waitUntil(f.t, within, func() bool {
		last = f.committed(group)
		for p := range int32(partitions) {
			if last[p] <= before[p] {
				return false
			}
		}
		return true
	}, func() string { return "commits past the earlier ones" })
}

// load writes a record of two spans to every partition every few
// milliseconds, stamped now, until the returned stop is called.
func (f *fixture) load() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			for p := range int32(partitions) {
				if err := f.tryProduce("t1", p, 2, time.Now()); err != nil {
					f.t.Errorf("load: %v", err)
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return func() { cancel(); wg.Wait() }
}

func waitUntil(t *testing.T, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A builder that joins a group whose member is busy gets its share of the
// partitions and commits; one that stops hands its partitions over at once,
// long before its session would time out. Nothing is lost or stored twice.
func TestBuildersRebalanceWhileTheyRun(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			f := newFixture(t, proto.kafka...)
			opts := func(c *Config) {
				c.GroupProtocol = proto.name
				c.SessionTimeout = 6 * time.Second
			}
			stopLoad := f.load()
			defer stopLoad()
			stopA := f.start("builders", opts)
			f.waitMembers("builders", 1, 30*time.Second)
			f.waitCommitsPast("builders", nil, 30*time.Second)

			// B joins while A is busy: a rebalance must complete
			// while A runs, well before any timeout could expel A.
			f.start("builders", opts)
			f.waitMembers("builders", 2, 20*time.Second)
			f.waitCommitsPast("builders", f.committed("builders"), 20*time.Second)

			// A stops: it leaves the group, which gives B everything
			// without waiting out A's session.
			stopA()
			if m := f.members("builders"); len(m) != 1 {
				t.Fatalf("right after a builder stopped, the group has members %s", m)
			}
			f.waitMembers("builders", 1, 20*time.Second)
			f.waitCommitsPast("builders", f.committed("builders"), 20*time.Second)

			stopLoad()
			f.waitCommitted("builders")
			f.checkEverySpanOnce(int(f.records.Load()) * 2)
		})
	}
}

// A flush that object storage holds up gives way to a rebalance: the
// joiner gets partitions while the outage lasts, the busy member is not
// expelled, nothing is committed until the blocks are stored, and once
// storage is back every span is stored once.
func TestStuckFlushGivesWayToARebalance(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fail starts the outage: uploads fail, or hang until
		// abandoned.
		fail, recover func(*flakyBucket)
		abandoned     bool
	}{
		{"failing uploads", func(b *flakyBucket) { b.failing.Store(true) }, func(b *flakyBucket) { b.failing.Store(false) }, false},
		{"hanging uploads", func(b *flakyBucket) { b.setHanging(true) }, func(b *flakyBucket) { b.setHanging(false) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			opts := func(c *Config) {
				c.SessionTimeout = 6 * time.Second
				// A hanging write is abandoned after half of it.
				c.RebalanceTimeout = 8 * time.Second
				// Every partition's upload in flight at once, so that
				// hanging ones show as several attempts.
				c.FlushConcurrency = partitions
			}
			now := time.Now()
			for i := range 3 * partitions {
				f.produce("t1", int32(i%partitions), 2, now)
			}
			tc.fail(f.bucket)
			f.start("builders", opts)
			a := f.waitMembers("builders", 1, 30*time.Second)
			attempts := f.bucket.attempts.Load()
			waitUntil(t, 30*time.Second, func() bool { return f.bucket.attempts.Load() > attempts+2 },
				func() string { return "the builder to try writing blocks" })

			reg := f.reg
			f.start("builders", opts)
			b := f.waitMembers("builders", 2, 20*time.Second)
			for id := range a {
				if _, ok := b[id]; !ok {
					t.Fatalf("the busy builder %s was expelled from the group: members %s", id, b)
				}
			}
			if c := f.committed("builders"); len(c) != 0 {
				t.Fatalf("offsets %v committed while no block could be stored", c)
			}
			if n := promtest.Value(t, reg, "spanlog_block_builder_flushes_abandoned_total"); (n > 0) != tc.abandoned {
				t.Errorf("%v flushes abandoned; want some: %v", n, tc.abandoned)
			}

			tc.recover(f.bucket)
			f.waitCommitted("builders")
			f.checkEverySpanOnce(3 * partitions * 2)
		})
	}
}
