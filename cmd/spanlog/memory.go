package main

import (
	"math"
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
