//go:build unix

package main

import (
	"io/fs"
	"syscall"
)

// linked reports whether the open file info describes still has a name on
// disk: a segment a trim deleted while it was held has none.
func linked(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 0
}
