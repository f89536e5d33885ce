//go:build !unix

package cputime

import "time"

// Process returns false: the process's CPU time is not read here.
func Process() (d time.Duration, ok bool) { return 0, false }
