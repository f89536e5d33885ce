package generator

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

// TestRunLeavesNoGoroutines checks that once Run returns, after deriving
// and saving series, no goroutine started since the generator was created
// is left: its Kafka clients and uploads are gone.
func TestRunLeavesNoGoroutines(t *testing.T) {
	f := newFixture(t)
	f.produce("before", 1) // the fixture's client connects before the snapshot; read by no generator
	before := goleak.IgnoreCurrent()

	r := f.start("gen")
	r.waitOwned(t, testPartitions)
	f.produce("t1", 20)
	f.waitCounts(r, "t1")
	r.stop()
	goleak.VerifyNone(t, append(kafkatest.IgnoreBroker(), before)...)
}
