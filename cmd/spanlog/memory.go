package main

import (
	"math"
	"runtime"
	"runtime/debug"
)

// setMemoryLimit sets the runtime's soft memory limit when c has one, and
// returns the limit in force, math.MaxInt64 for none.
func (c ServerConfig) setMemoryLimit() int64 {
	if c.MemoryLimitBytes > 0 {
		debug.SetMemoryLimit(c.MemoryLimitBytes)
	}
	return debug.SetMemoryLimit(-1)
}

// hasMemoryLimit reports whether limit, as setMemoryLimit returns it, is one.
func hasMemoryLimit(limit int64) bool { return limit < math.MaxInt64 }

// setGOMAXPROCS sets how many threads run Go code at once when c says,
// and returns the number in force.
func (c ServerConfig) setGOMAXPROCS() int {
	if c.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(c.GOMAXPROCS)
	}
	return runtime.GOMAXPROCS(0)
}
