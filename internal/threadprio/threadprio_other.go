//go:build !linux

package threadprio

// lower does nothing: elsewhere than on Linux, a process's threads share
// its priority.
func lower(Nice) {}
