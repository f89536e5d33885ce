package blockbuilder

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/loadgen/workload"
)

// loadPartitions is the partitions the load generator's records are
// spread over, as the embedded default's log has.
const loadPartitions = 8

// loadgenRecords returns the records the distributor would write of the
// load generator's requests holding spans spans (workload.Records).
func loadgenRecords(tb testing.TB, spans int) []*kgo.Record {
	return workload.Records(tb, spans, loadPartitions)
}
