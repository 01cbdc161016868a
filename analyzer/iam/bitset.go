package iam

import "math/bits"

// bitset is a set of dense catalog action ids.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int)      { b[i>>6] |= 1 << (uint(i) & 63) }
func (b bitset) has(i int) bool { return i >= 0 && i>>6 < len(b) && b[i>>6]&(1<<(uint(i)&63)) != 0 }

func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}

func (b bitset) andNot(o bitset) {
	for i := range b {
		b[i] &^= o[i]
	}
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func (b bitset) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// split computes in = b ∩ o and out = b \ o into fresh sets and reports
// whether each is non-empty.
func (b bitset) split(o bitset) (in, out bitset, anyIn, anyOut bool) {
	in, out = make(bitset, len(b)), make(bitset, len(b))
	for i := range b {
		x, y := b[i]&o[i], b[i]&^o[i]
		in[i], out[i] = x, y
		anyIn = anyIn || x != 0
		anyOut = anyOut || y != 0
	}
	return in, out, anyIn, anyOut
}

// overlap reports whether b has elements in o and elements outside it,
// without allocating: split only pays when both hold.
func (b bitset) overlap(o bitset) (anyIn, anyOut bool) {
	for i := range b {
		anyIn = anyIn || b[i]&o[i] != 0
		anyOut = anyOut || b[i]&^o[i] != 0
		if anyIn && anyOut {
			return true, true
		}
	}
	return anyIn, anyOut
}

// subsetOf reports whether every element of b is in o.
func (b bitset) subsetOf(o bitset) bool {
	for i := range b {
		if b[i]&^o[i] != 0 {
			return false
		}
	}
	return true
}

// each calls f for every element in increasing order.
func (b bitset) each(f func(int)) {
	for wi, w := range b {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			f(wi<<6 | t)
			w &= w - 1
		}
	}
}

func (b bitset) clone() bitset { return append(bitset(nil), b...) }
