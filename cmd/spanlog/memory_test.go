package main

import (
	"runtime/debug"
	"testing"
)

func TestMemoryLimitIsSetOnlyWhenConfigured(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	debug.SetMemoryLimit(3 << 30) // as GOMEMLIMIT would
	if got := (ServerConfig{}).setMemoryLimit(); got != 3<<30 {
		t.Errorf("no limit configured: limit %d, want GOMEMLIMIT's %d", got, 3<<30)
	}
	if got := (ServerConfig{MemoryLimitBytes: 512 << 20}).setMemoryLimit(); got != 512<<20 {
		t.Errorf("limit %d, want %d", got, 512<<20)
	}
	if got := debug.SetMemoryLimit(-1); got != 512<<20 {
		t.Errorf("runtime's limit %d, want %d", got, 512<<20)
	}
}
