package traceql

import "github.com/spanlog/spanlog/schema"

// tree holds a trace's parent links for the structural operators. Its
// buffers are reused from trace to trace. Every operation on it iterates:
// a trace may be as deep as it has spans.
type tree struct {
	// parent is the index of each span's parent, or noParent for a root
	// (a span without a parent ID), or lostParent for a span whose parent
	// is not in the trace.
	parent []int32
	byID   map[[8]byte]int32
	// memo caches, per span, whether an ancestor is in the left-hand set of
	// the >> being evaluated, so that a deep trace is walked once.
	memo  []ancestry
	stack []int32
	// seen marks the spans an ancestor walk has passed, and count the
	// left-hand spans per parent for ~.
	seen  bitset
	count []int32
	// numbers are computed only for a query that reads them.
	numbers treeNumbers
}

const (
	noParent   = -1
	lostParent = -2
)

type ancestry uint8

const (
	ancestryUnknown ancestry = iota
	ancestryVisiting
	ancestryIn
	ancestryNotIn
)

func (t *tree) build(trace []schema.SpanRow) {
	if t.byID == nil {
		t.byID = make(map[[8]byte]int32, len(trace))
	}
	clear(t.byID)
	for i := range trace {
		t.byID[trace[i].SpanID] = int32(i)
	}
	t.parent = t.parent[:0]
	for i := range trace {
		p, ok := int32(noParent), false
		if id := trace[i].ParentSpanID; id != ([8]byte{}) {
			if p, ok = t.byID[id]; !ok || p == int32(i) {
				p = lostParent
			}
		}
		t.parent = append(t.parent, p)
	}
}

// relate adds to out the spans of to that stand in rel to a span of from.
func (t *tree) relate(rel relation, out, from, to bitset) {
	switch rel {
	case relChild:
		t.children(out, from, to)
	case relDescendant:
		t.descendants(out, from, to)
	case relParent:
		t.parents(out, from, to)
	case relAncestor:
		t.ancestors(out, from, to)
	case relSibling:
		t.siblings(out, from, to)
	}
}

// parents adds to out the spans of rhs that are the parent of a span of
// lhs.
func (t *tree) parents(out, lhs, rhs bitset) {
	for i := lhs.next(0); i >= 0; i = lhs.next(i + 1) {
		if p := t.parent[i]; p >= 0 && rhs.has(int(p)) {
			out.add(int(p))
		}
	}
}

// ancestors adds to out the spans of rhs that are an ancestor of a span of
// lhs. A walk up from a span stops at a span an earlier walk passed, whose
// ancestors that walk has seen, so every span is passed once; that also
// ends a walk around a cycle of parent links (corrupt data).
func (t *tree) ancestors(out, lhs, rhs bitset) {
	t.seen = resize(t.seen, len(lhs))
	for i := lhs.next(0); i >= 0; i = lhs.next(i + 1) {
		for p := t.parent[i]; p >= 0 && !t.seen.has(int(p)); p = t.parent[p] {
			t.seen.add(int(p))
			if rhs.has(int(p)) {
				out.add(int(p))
			}
		}
	}
}

// siblings adds to out the spans of rhs that share their parent with
// another span, of lhs. Roots are siblings of each other, as in Tempo,
// where they share the nested-set parent -1; a span whose parent is not in
// the trace has no siblings.
func (t *tree) siblings(out, lhs, rhs bitset) {
	n := len(t.parent)
	if cap(t.count) < n+1 {
		t.count = make([]int32, n+1)
	}
	t.count = t.count[:n+1]
	clear(t.count)
	group := func(i int) int32 {
		if p := t.parent[i]; p != noParent {
			return p
		}
		return int32(n)
	}
	for i := lhs.next(0); i >= 0; i = lhs.next(i + 1) {
		if g := group(i); g >= 0 {
			t.count[g]++
		}
	}
	for i := rhs.next(0); i >= 0; i = rhs.next(i + 1) {
		g := group(i)
		if g < 0 {
			continue
		}
		c := t.count[g]
		if lhs.has(i) {
			c-- // a span is not its own sibling
		}
		if c > 0 {
			out.add(i)
		}
	}
}

// children adds to out the spans of rhs whose parent is in lhs.
func (t *tree) children(out, lhs, rhs bitset) {
	for i := rhs.next(0); i >= 0; i = rhs.next(i + 1) {
		if p := t.parent[i]; p >= 0 && lhs.has(int(p)) {
			out.add(i)
		}
	}
}

// descendants adds to out the spans of rhs with an ancestor in lhs.
func (t *tree) descendants(out, lhs, rhs bitset) {
	if cap(t.memo) < len(t.parent) {
		t.memo = make([]ancestry, len(t.parent))
	}
	t.memo = t.memo[:len(t.parent)]
	clear(t.memo)
	for i := rhs.next(0); i >= 0; i = rhs.next(i + 1) {
		if t.hasAncestorIn(int32(i), lhs) {
			out.add(i)
		}
	}
}

// hasAncestorIn walks up from span i until it finds an ancestor in set, a
// span whose answer is known, or the top; every span on the way gets the
// same answer, since none of their parents below the stop was in set.
// Parent links that form a cycle (corrupt data) end the walk with no.
func (t *tree) hasAncestorIn(i int32, set bitset) bool {
	stack := t.stack[:0]
	found := false
	for j := i; ; {
		if m := t.memo[j]; m != ancestryUnknown {
			found = m == ancestryIn
			break
		}
		t.memo[j] = ancestryVisiting
		stack = append(stack, j)
		p := t.parent[j]
		if p < 0 {
			break
		}
		if set.has(int(p)) {
			found = true
			break
		}
		j = p
	}
	answer := ancestryNotIn
	if found {
		answer = ancestryIn
	}
	for _, j := range stack {
		t.memo[j] = answer
	}
	t.stack = stack
	return found
}
