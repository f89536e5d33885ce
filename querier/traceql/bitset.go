package traceql

import "math/bits"

// bitset is a set of span indexes within one trace. Spanset operators work
// on bitsets so that combining and testing membership cost a few word
// operations and no allocation.
type bitset []uint64

func wordsFor(n int) int { return (n + 63) / 64 }

// resize returns b, or a bigger bitset, cleared, of words words.
func resize(b bitset, words int) bitset {
	if cap(b) < words {
		return make(bitset, words)
	}
	b = b[:words]
	clear(b)
	return b
}

func (b bitset) add(i int)      { b[i>>6] |= 1 << (uint(i) & 63) }
func (b bitset) has(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

func (b bitset) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// union sets b to x ∪ y.
func (b bitset) union(x, y bitset) {
	for i := range b {
		b[i] = x[i] | y[i]
	}
}

// complement sets b to within \ b: the members of within that b lacks.
func (b bitset) complement(within bitset) {
	for i := range b {
		b[i] = within[i] &^ b[i]
	}
}

// next returns the smallest member that is at least from, or -1; iterate
// with for i := b.next(0); i >= 0; i = b.next(i + 1).
func (b bitset) next(from int) int {
	w := from >> 6
	if w >= len(b) {
		return -1
	}
	word := b[w] >> (uint(from) & 63)
	if word != 0 {
		return from + bits.TrailingZeros64(word)
	}
	for w++; w < len(b); w++ {
		if b[w] != 0 {
			return w<<6 + bits.TrailingZeros64(b[w])
		}
	}
	return -1
}
