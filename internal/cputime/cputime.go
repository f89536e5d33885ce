// Package cputime reads the CPU time the process has used, user and
// system, so that the load generator and the benchmarks can report CPU
// per unit of work, which a busy machine inflates less than wall time.
package cputime

import (
	"testing"
	"time"
)

// Of returns the CPU time the process has used so far, failing tb where
// it cannot be read.
func Of(tb testing.TB) time.Duration {
	tb.Helper()
	d, ok := Process()
	if !ok {
		tb.Fatal("the process's CPU time cannot be read here")
	}
	return d
}
