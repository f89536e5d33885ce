package e2e

import (
	"testing"
	"time"
)

// TestEveryTargetStopsCleanly sends SIGTERM to every role, each its own
// process: each must exit 0 within the grace, and nothing acked is lost.
func TestEveryTargetStopsCleanly(t *testing.T) {
	c := newCluster(t, "-storage.local.path="+t.TempDir())
	dist, otlp := c.startDistributor(t)
	builder := c.start(t, "block-builder", "block-builder")
	querier := c.start(t, "querier", "querier")
	compactor := c.start(t, "compactor", "compactor")
	generator := c.start(t, "metrics-generator", "metrics-generator")

	sent := sendTraces(t, "grpc", otlp, "shutdown", 20)
	checkAll(t, querier.http, sent, "before SIGTERM")

	for _, p := range []*process{dist, builder, querier, compactor, generator} {
		p.stop(t)
	}

	builder = builder.restart(t)
	querier = querier.restart(t)
	checkAll(t, querier.http, sent, "after every role restarted")
	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, builder.http, "spanlog_block_builder_blocks_flushed_total") > 0 &&
			metric(t, querier.http, "spanlog_querier_live_records") == 0
	})
	checkAll(t, querier.http, sent, "from blocks")
}
