package querier

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/tenant"
)

// A span is searchable within live-tail-fetch-max-wait of its ack, however
// far the log is from live-tail-fetch-min-bytes of new records.
func TestLiveTailShowsSpansWithinItsFetchWait(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LiveTailFetchMinBytes = maxLiveTailFetchMinBytes // never reached here
	cfg.LiveTailFetchMaxWait = 200 * time.Millisecond
	q := startQuerierWithin(t, newTestBucket(t), cfg, tenant.DefaultConfig(), querytest.NoLimits(t))
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 3 {
		q.produce(t, querytest.TraceSpans(randomID(rng), i, 0, 1))
		acked := time.Now()
		for len(search(t, q, "{}", 10).Traces) <= i {
			// franz-go's own default wait is 5s; the margin is for a
			// loaded machine.
			if time.Since(acked) > cfg.LiveTailFetchMaxWait+2*time.Second {
				t.Fatalf("span %d not searchable %s after its ack, with a fetch wait of %s", i, time.Since(acked), cfg.LiveTailFetchMaxWait)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
