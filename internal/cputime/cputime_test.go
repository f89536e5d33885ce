package cputime

import (
	"testing"
	"time"
)

func TestProcessCountsWorkDone(t *testing.T) {
	before := Of(t)
	// Spin until the clock shows the CPU was used: a counter that never
	// moved would keep this loop going until the test's timeout.
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for Of(t)-before < 5*time.Millisecond {
		for i := range 100_000 {
			x += i
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time moved %v in 10 s of spinning, want at least 5ms", Of(t)-before)
		}
	}
	_ = x
}
