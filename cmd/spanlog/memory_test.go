package main

import (
	"runtime"
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

func TestGOMAXPROCSIsSetOnlyWhenConfigured(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(3) // as the GOMAXPROCS environment variable would
	if got := (ServerConfig{}).setGOMAXPROCS(); got != 3 {
		t.Errorf("none configured: gomaxprocs %d, want the environment's 3", got)
	}
	if got := (ServerConfig{GOMAXPROCS: 5}).setGOMAXPROCS(); got != 5 {
		t.Errorf("gomaxprocs %d, want 5", got)
	}
	if got := runtime.GOMAXPROCS(0); got != 5 {
		t.Errorf("runtime's gomaxprocs %d, want 5", got)
	}
}
