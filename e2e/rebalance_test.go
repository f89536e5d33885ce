package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/tracelog"
)

// logTopic and logPartitions are the trace log the cluster's processes
// create (see fastCycles).
const (
	logTopic      = "spanlog-traces"
	logPartitions = 4
)

// groups reads consumer groups and the log as an operator would, through
// Kafka's own view (kadm), not through the processes' logs or metrics.
type groups struct {
	cl *kgo.Client
}

func newGroups(t *testing.T, c *cluster) *groups {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &groups{cl: cl}
}

// members returns who owns which partitions of the log in group.
func (g *groups) members(t *testing.T, group string) kafkatest.Assignment {
	t.Helper()
	m, err := kafkatest.Members(context.Background(), g.cl, group, logTopic)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitMembers waits until group has exactly n members splitting every
// partition between them, each owning at least one, and returns them.
func (g *groups) waitMembers(t *testing.T, group string, n int, within time.Duration) kafkatest.Assignment {
	t.Helper()
	var last kafkatest.Assignment
	start := time.Now()
	waitForWhat(t, within, func() bool {
		last = g.members(t, group)
		return last.Splits(n, logPartitions)
	}, func() string {
		return fmt.Sprintf("%d members of %s owning every partition; members %s", n, group, last)
	})
	t.Logf("%s: %d members after %v: %s", group, n, time.Since(start).Round(time.Millisecond), last)
	return last
}

// committed returns group's committed offsets.
func (g *groups) committed(t *testing.T, group string) map[int32]int64 {
	t.Helper()
	c, err := tracelog.CommittedOffsets(context.Background(), g.cl, group, logTopic)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitCommitsPast waits until group committed past before on each of
// partitions.
func (g *groups) waitCommitsPast(t *testing.T, group string, before map[int32]int64, partitions []int32, within time.Duration) {
	t.Helper()
	var last map[int32]int64
	waitForWhat(t, within, func() bool {
		last = g.committed(t, group)
		for _, p := range partitions {
			if last[p] <= before[p] {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("commits of %s on partitions %v past %v; committed %v", group, partitions, before, last)
	})
}

// allPartitions lists the log's partitions.
func allPartitions() []int32 {
	out := make([]int32, logPartitions)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// TestBlockBuildersRebalance changes the block-builder fleet under
// continuous OTLP load, as a spot fleet does, and reads the group's own
// view of who owns and commits what:
//   - a second builder joins and gets its share, and both commit;
//   - one is killed with SIGKILL: within its session timeout the other owns
//     every partition and commits past the killed one's last commits;
//   - a third joins, and one is stopped with SIGTERM: it leaves the group at
//     once, and the other takes every partition.
//
// Every acked span is then read back through a querier exactly once.
func TestBlockBuildersRebalance(t *testing.T) {
	const group = "spanlog-block-builder"
	sessionTimeout := 6 * time.Second
	c := newCluster(t, "-storage.local.path="+t.TempDir(),
		fmt.Sprintf("-block-builder.session-timeout=%v", sessionTimeout))
	g := newGroups(t, c)
	_, otlp := c.startDistributor(t)
	querier := c.start(t, "querier", "querier")

	cfg := loadgen.DefaultConfig()
	cfg.Endpoint, cfg.Rate, cfg.Workers, cfg.BatchTraces = otlp, 40, 2, 4
	load := startLoad(t, cfg, 0)

	a := c.start(t, "block-builder-a", "block-builder")
	g.waitMembers(t, group, 1, 30*time.Second)
	g.waitCommitsPast(t, group, nil, allPartitions(), 30*time.Second)

	// B joins a busy group: within a few seconds both own partitions, and
	// every partition's commits move on, so both commit.
	b := c.start(t, "block-builder-b", "block-builder")
	split := g.waitMembers(t, group, 2, 20*time.Second)
	g.waitCommitsPast(t, group, g.committed(t, group), allPartitions(), 30*time.Second)

	// A dies without leaving. The group keeps A's member until its
	// session times out; then B owns everything, and commits past where A
	// left A's partitions.
	a.kill()
	lastOfA := g.committed(t, group)
	killedAt := time.Now()
	survivor := g.waitMembers(t, group, 1, sessionTimeout+20*time.Second)
	t.Logf("after SIGKILL, partitions moved in %v (session timeout %v)", time.Since(killedAt).Round(time.Millisecond), sessionTimeout)
	var partitionsOfA []int32
	for id, ps := range split {
		if _, ok := survivor[id]; !ok {
			partitionsOfA = ps
		}
	}
	if len(partitionsOfA) == 0 {
		t.Fatalf("no member left the group after SIGKILL: before %s, after %s", split, survivor)
	}
	g.waitCommitsPast(t, group, lastOfA, partitionsOfA, 30*time.Second)

	// C joins; then B stops with SIGTERM and leaves the group as it
	// exits, so C takes everything without waiting out B's session.
	c.start(t, "block-builder-c", "block-builder")
	g.waitMembers(t, group, 2, 20*time.Second)
	b.stop(t)
	if m := g.members(t, group); len(m) != 1 {
		t.Fatalf("right after a builder exited on SIGTERM, the group has members %s", m)
	}
	g.waitMembers(t, group, 1, 20*time.Second)
	g.waitCommitsPast(t, group, g.committed(t, group), allPartitions(), 30*time.Second)

	load.stop()
	res := load.wait(t)
	waitDrained(t, c)
	counts := checkAcked(t, querier.http, res.Acked)
	t.Logf("acked=%d found=%d duplicates=%d missing=%d", res.AckedSpans, counts.found, counts.duplicates, counts.missing)
	if counts.missing > 0 || counts.duplicates > 0 || counts.found != int(res.AckedSpans) {
		t.Fatalf("acked spans lost or duplicated: acked=%d %+v", res.AckedSpans, counts)
	}
}
