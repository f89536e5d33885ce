//go:build linux

package main

import (
	"os"
	"syscall"
)

// syncData makes what was written to f durable: its bytes and the
// metadata needed to read them back (its size), not its times, which is
// all a segment appended to needs. Rounds of fdatasync took 2.35 to
// 2.50 ms on this machine's ext4 against 2.48 to 2.51 for fsync
// (docs/benchmarks.md, *Block format v3, session 14*).
func syncData(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fdatasync(int(fd)); serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
