package schema

import (
	"hash/maphash"
	"strings"
)

// Interner hands out one string for byte strings that repeat (attribute
// keys, span and service names, short values), so that what holds them
// holds each once. Its zero value is ready to use; it is not safe for
// concurrent use.
type Interner struct {
	slots *[internSlots]string
	seed  maphash.Seed
}

// Bounds of an Interner's memory.
const (
	// internSlots is how many strings an Interner holds: a string takes
	// the slot of its hash, replacing the one there, so a stream of
	// unique values costs a fixed table, and repeated ones stay found.
	internSlots = 1 << 12
	// internMaxLen is the longest string interned: keys, names and short
	// values repeat, long ones (URLs, messages) mostly do not.
	internMaxLen = 48
)

func (in *Interner) init() {
	if in.slots == nil {
		in.slots = new([internSlots]string)
		in.seed = maphash.MakeSeed()
	}
}

// Bytes returns b as a string of its own, interned when short.
func (in *Interner) Bytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > internMaxLen {
		return string(b)
	}
	in.init()
	slot := &in.slots[maphash.Bytes(in.seed, b)%internSlots]
	if *slot != string(b) {
		*slot = string(b)
	}
	return *slot
}

// String returns s as a string of its own, not sharing the memory s
// points to, interned when short.
func (in *Interner) String(s string) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > internMaxLen {
		return strings.Clone(s)
	}
	in.init()
	slot := &in.slots[maphash.String(in.seed, s)%internSlots]
	if *slot != s {
		*slot = strings.Clone(s)
	}
	return *slot
}
