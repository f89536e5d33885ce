package blockbuilder

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

// TestRunLeavesNoGoroutines checks that once Run returns, after building
// and committing blocks, no goroutine started since the builder was
// created is left: its Kafka client, lag reporter and flushes are gone.
func TestRunLeavesNoGoroutines(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	for p := range int32(partitions) {
		f.produce("t1", p, 3, now)
	}
	// The fixture's client opens its connections on first use, and keeps
	// them until the test ends: they are used once before the snapshot.
	f.committed("builders")
	before := goleak.IgnoreCurrent()

	stop := f.start("builders")
	f.waitCommitted("builders")
	stop()
	goleak.VerifyNone(t, append(kafkatest.IgnoreBroker(), before)...)
}
