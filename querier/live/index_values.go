package live

import (
	"hash/maphash"
	"math/rand/v2"
)

// valueTable finds the values a column of the record being built holds
// already, by their hash: a value is hashed once, whether it is found or
// added, and a string is compared with its copy in the column's values,
// so that the table holds no pointer (the collector skips it) and nothing
// of the record's memory. Slots of another record than the one being
// built are free: the table is emptied by counting, not zeroed.
type valueTable struct {
	slots []valueSlot // a power of two of them, or none
	used  int         // slots of this record
	gen   uint32      // this record's number; slots of another are free
	seed  maphash.Seed
	// mix is the seed of numbers' hashes: maphash's call costs as much
	// as the rest of finding a number.
	mix uint64
}

type valueSlot struct {
	hash uint64 // where the value is looked for
	// value is a number (an int, or a double's bits) or, for a string,
	// where the column's values hold its bytes: their offset in the
	// high 32 bits, their length in the low.
	value uint64
	gen   uint32
	vid   uint32
	tag   byte
}

// minValueSlots is the slots of a table that holds any.
const minValueSlots = 16

// reset empties the table for the next record.
func (t *valueTable) reset() {
	t.used = 0
	t.gen++
	if t.gen == 0 {
		// After 2³² records, slots of the first would pass for this
		// one's.
		clear(t.slots)
		t.gen = 1
	}
}

// findString returns the ID of s among the values, which hold a string
// value's bytes where findString placed them, or else adds s with ID vid at
// at, where the caller puts its bytes, and returns vid and false.
func (t *valueTable) findString(s string, values []byte, vid uint64, at int) (uint64, bool) {
	t.grow()
	h := maphash.String(t.seed, s)
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.gen != t.gen {
			*sl = valueSlot{hash: h, value: uint64(at)<<32 | uint64(len(s)), gen: t.gen, vid: uint32(vid), tag: tagString}
			t.used++
			return vid, false
		}
		if sl.hash == h && sl.tag == tagString && uint32(sl.value) == uint32(len(s)) {
			if off := int(sl.value >> 32); string(values[off:off+len(s)]) == s {
				return uint64(sl.vid), true
			}
		}
	}
}

// findNumber returns the ID of n, an int or a double's bits as tag says, or
// else adds it with ID vid and returns vid and false.
func (t *valueTable) findNumber(tag byte, n, vid uint64) (uint64, bool) {
	t.grow()
	h := mixNumber(n ^ t.mix)
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.gen != t.gen {
			*sl = valueSlot{hash: h, value: n, gen: t.gen, vid: uint32(vid), tag: tag}
			t.used++
			return vid, false
		}
		if sl.value == n && sl.tag == tag {
			return uint64(sl.vid), true
		}
	}
}

// grow makes room for one more value, keeping at least half the slots
// free so that a search ends soon.
func (t *valueTable) grow() {
	if 2*(t.used+1) <= len(t.slots) {
		return
	}
	if t.slots == nil {
		t.seed, t.mix = maphash.MakeSeed(), rand.Uint64()
		if t.gen == 0 {
			t.gen = 1
		}
	}
	old := t.slots
	t.slots = make([]valueSlot, max(minValueSlots, 2*len(old)))
	mask := len(t.slots) - 1
	for _, sl := range old {
		if sl.gen != t.gen {
			continue
		}
		i := int(sl.hash) & mask
		for t.slots[i].gen == t.gen {
			i = (i + 1) & mask
		}
		t.slots[i] = sl
	}
}

// mixNumber spreads n's bits over all of the result's (MurmurHash3's
// finalizer), so that numbers alike, seeded alike, take slots apart.
func mixNumber(n uint64) uint64 {
	n ^= n >> 33
	n *= 0xff51afd7ed558ccd
	n ^= n >> 33
	n *= 0xc4ceb9fe1a85ec53
	n ^= n >> 33
	return n
}
