package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/loadgen"
)

// TestQueriersScaleOut runs three querier processes sharing the partitions'
// live tails through their consumer group. Every querier answers for every
// trace, whichever querier consumes its partition; after one querier is
// killed, the group moves its partitions and the others still answer for
// every trace; and once block-builders put everything into blocks, the
// answers stay the same.
func TestQueriersScaleOut(t *testing.T) {
	c := newCluster(t, "-storage.local.path="+t.TempDir())
	_, otlp := c.startDistributor(t)
	queriers := make([]*process, 3)
	for i := range queriers {
		queriers[i] = c.start(t, fmt.Sprintf("querier-%d", i), "querier")
	}
	waitFor(t, 30*time.Second, "the group to give every querier partitions", func() bool {
		for _, q := range queriers {
			if metric(t, q.http, "spanlog_querier_live_partitions") == 0 {
				return false
			}
		}
		return true
	})

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
	check(queriers, "live tails over three queriers")

	queriers[2].kill()
	check(queriers[:2], "after a querier was killed")
	waitFor(t, 30*time.Second, "the two queriers to own every partition", func() bool {
		return metric(t, queriers[0].http, "spanlog_querier_live_partitions")+metric(t, queriers[1].http, "spanlog_querier_live_partitions") == 4
	})

	c.start(t, "block-builder", "block-builder")
	c.start(t, "compactor", "compactor")
	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, queriers[0].http, "spanlog_querier_live_records") == 0 &&
			metric(t, queriers[1].http, "spanlog_querier_live_records") == 0
	})
	check(queriers[:2], "from blocks")
}

// sendFor runs the load generator for d and fails the test if any request
// failed or nothing was acked.
func sendFor(t *testing.T, cfg loadgen.Config, d time.Duration) *loadgen.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Acked) == 0 || res.FailedRequests > 0 {
		t.Fatalf("acked %d traces, %d requests failed: %v", len(res.Acked), res.FailedRequests, res.Errors)
	}
	return res
}
