//go:build linux

package threadprio

import (
	"runtime"
	"syscall"
)

// lower locks the goroutine to its thread and sets the thread's nice
// value: on Linux a thread's priority is its own, named by its ID. When
// the kernel refuses, the thread is let go of unchanged.
func lower(n Nice) {
	runtime.LockOSThread()
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), int(n)); err != nil {
		runtime.UnlockOSThread()
	}
}
