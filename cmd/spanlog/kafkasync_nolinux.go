//go:build !linux

package main

import "os"

// syncData makes what was written to f durable; here with fsync.
func syncData(f *os.File) error { return f.Sync() }
