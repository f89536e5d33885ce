package compactor

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// TestRunLeavesNoGoroutines checks that once Run returns, after owning
// partitions and indexing their blocks, no goroutine
// started since the compactor was created is left.
func TestRunLeavesNoGoroutines(t *testing.T) {
	kafka := kafkatest.New(t).Log(t, 2)
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, bkt, blockSpec{tenant: "t1", partition: 0, start: 0, end: 5}, blockSpec{tenant: "t1", partition: 0, start: 5, end: 9})
	commit(t, kafka, map[int32]int64{0: 9})
	before := goleak.IgnoreCurrent()

	c := runCompactor(t, testConfig(), kafka, noLimits(t), bkt)
	waitIndexes(t, bkt, func(*schema.TenantIndex) bool { return true }, "t1")
	c.stop()
	goleak.VerifyNone(t, append(kafkatest.IgnoreBroker(), before)...)
}
