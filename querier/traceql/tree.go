package traceql

import "github.com/spanlog/spanlog/schema"

// tree holds a trace's parent links for the structural operators. Its
// buffers are reused from trace to trace.
type tree struct {
	// parent is the index of each span's parent, or -1 for a root or a
	// span whose parent is not in the trace.
	parent []int32
	byID   map[[8]byte]int32
	// memo caches, per span, whether an ancestor is in the left-hand set of
	// the >> being evaluated, so that a deep trace is walked once.
	memo  []ancestry
	stack []int32
}

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
		p, ok := int32(-1), false
		if id := trace[i].ParentSpanID; id != ([8]byte{}) {
			if p, ok = t.byID[id]; !ok || p == int32(i) {
				p = -1
			}
		}
		t.parent = append(t.parent, p)
	}
}

// children sets out to the spans of rhs whose parent is in lhs.
func (t *tree) children(out, lhs, rhs bitset) {
	for i := rhs.next(0); i >= 0; i = rhs.next(i + 1) {
		if p := t.parent[i]; p >= 0 && lhs.has(int(p)) {
			out.add(i)
		}
	}
}

// descendants sets out to the spans of rhs with an ancestor in lhs.
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
