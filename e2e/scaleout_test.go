package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/loadgen"
)

// TestQueriersScaleOut runs querier processes sharing the partitions'
// live tails through their consumer group, and changes the fleet as a spot
// fleet does: a querier joins, one is killed with SIGKILL, one stops with
// SIGTERM. Who owns what is read from the group itself. After each change,
// every remaining querier answers for every trace, whichever querier
// consumes its partition; and once block-builders put everything into
// blocks, the answers stay the same.
func TestQueriersScaleOut(t *testing.T) {
	const group = "spanlog-queriers"
	c := newCluster(t, "-storage.local.path="+t.TempDir())
	g := newGroups(t, c)
	_, otlp := c.startDistributor(t)
	queriers := []*process{
		c.start(t, "querier-0", "querier"),
		c.start(t, "querier-1", "querier"),
	}
	g.waitMembers(t, group, 2, 30*time.Second)

	// No block-builder yet: every span is in the live tails.
	cfg := loadgen.DefaultConfig()
	cfg.Endpoint, cfg.Rate, cfg.Workers, cfg.BatchTraces = otlp, 50, 2, 5
	sent := sendFor(t, cfg, time.Second)

	check := func(qs []*process, when string) {
		t.Helper()
		for _, q := range qs {
			for id, spans := range sent.Acked {
				status, td := getTrace(t, q.http, id.String(), "v2")
				if status != http.StatusOK || td.SpanCount() != len(spans) {
					t.Fatalf("%s: %s: trace %s: status %d, %d spans, want %d", when, q.name, id, status, td.SpanCount(), len(spans))
				}
			}
			found := search(t, q.http, "{}")
			if len(found) != len(sent.Acked) {
				t.Fatalf("%s: %s: search found %d traces, want %d", when, q.name, len(found), len(sent.Acked))
			}
			for id := range sent.Acked {
				if !slices.Contains(found, id.String()) {
					t.Fatalf("%s: %s: search missed trace %s", when, q.name, id)
				}
			}
		}
	}
	check(queriers, "live tails over two queriers")

	queriers = append(queriers, c.start(t, "querier-2", "querier"))
	g.waitMembers(t, group, 3, 30*time.Second)
	check(queriers, "after a querier joined")

	queriers[0].kill()
	queriers = queriers[1:]
	check(queriers, "right after a querier was killed")
	g.waitMembers(t, group, 2, 30*time.Second)
	check(queriers, "after the killed querier's partitions moved")

	// A querier told to stop leaves the group as it exits: its partitions
	// move at once, not after its session times out.
	queriers[0].stop(t)
	queriers = queriers[1:]
	if m := g.members(t, group); len(m) != 1 {
		t.Fatalf("right after a querier exited on SIGTERM, the group has members %s", m)
	}
	check(queriers, "after a querier stopped")
	g.waitMembers(t, group, 1, 30*time.Second)

	c.start(t, "block-builder", "block-builder")
	c.start(t, "compactor", "compactor")
	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, queriers[0].http, "spanlog_querier_live_records") == 0
	})
	check(queriers, "from blocks")
}
