//go:build !linux

package miniotest

import "os/exec"

// dieWithParent has no portable equivalent: elsewhere a server outlives a
// test binary that dies without running its cleanups.
func dieWithParent(*exec.Cmd) {}
