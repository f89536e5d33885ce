package traceql

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/spanlog/spanlog/schema"
)

// treeNumbers are what span:childCount and the nested-set intrinsics read,
// computed from a trace's parent links (see tree.number).
type treeNumbers struct {
	childCount []int32
	// kids lists the children of each span, and then the roots, in start
	// order: those of span i are kids[first[i]:first[i+1]], the roots
	// kids[first[n]:first[n+1]].
	first, kids []int32
	// left, right and parent are the nested set: numbers 1, 2, ... given
	// in a depth-first walk from each root, left on the way down and
	// right on the way up, so that a span's descendants are the spans
	// numbered between its own two; parent is the parent's left, -1 for
	// a root. Spans no root reaches keep 0 in all three, as in Tempo.
	left, right, parent []int32
	// next is the walk's position in each span's children.
	next, stack []int32
}

// number computes the child counts and the nested set of a trace whose
// parent links build has set. Siblings are numbered in the order they
// start (then of span ID), so that the numbers do not depend on the order
// of the trace's rows. The walk iterates, with a stack as deep as the
// trace, and passes every span at most once.
func (t *tree) number(trace []schema.SpanRow) {
	n := len(t.parent)
	nums := &t.numbers
	nums.childCount = resizeInt32(nums.childCount, n)
	nums.first = resizeInt32(nums.first, n+2)
	nums.kids = resizeInt32(nums.kids, n)
	nums.left = resizeInt32(nums.left, n)
	nums.right = resizeInt32(nums.right, n)
	nums.parent = resizeInt32(nums.parent, n)
	nums.next = resizeInt32(nums.next, n+1)

	// group is the span whose children i is one of, or n for a root.
	group := func(i int) int32 {
		if p := t.parent[i]; p != noParent {
			return p
		}
		return int32(n)
	}
	for i := range n {
		if g := group(i); g >= 0 {
			nums.first[g+1]++
		}
	}
	for g := range n + 1 {
		nums.first[g+1] += nums.first[g]
	}
	copy(nums.next, nums.first[:n+1])
	for i := range n {
		if g := group(i); g >= 0 {
			nums.kids[nums.next[g]] = int32(i)
			nums.next[g]++
		}
	}
	byStart := func(a, b int32) int {
		if c := cmp.Compare(trace[a].StartUnixNano, trace[b].StartUnixNano); c != 0 {
			return c
		}
		return bytes.Compare(trace[a].SpanID[:], trace[b].SpanID[:])
	}
	for g := range n + 1 {
		kids := nums.kids[nums.first[g]:nums.first[g+1]]
		slices.SortFunc(kids, byStart)
		if g < n {
			nums.childCount[g] = int32(len(kids))
		}
	}

	copy(nums.next, nums.first[:n+1])
	bound := int32(1)
	stack := nums.stack[:0]
	for _, root := range nums.kids[nums.first[n]:nums.first[n+1]] {
		nums.left[root], nums.parent[root] = bound, -1
		bound++
		stack = append(stack, root)
		for len(stack) > 0 {
			top := stack[len(stack)-1]
			if nums.next[top] < nums.first[top+1] {
				child := nums.kids[nums.next[top]]
				nums.next[top]++
				nums.left[child], nums.parent[child] = bound, nums.left[top]
				bound++
				stack = append(stack, child)
				continue
			}
			nums.right[top] = bound
			bound++
			stack = stack[:len(stack)-1]
		}
	}
	nums.stack = stack
}

// numbered returns the value of a tree-level intrinsic on span i.
func (t *tree) numbered(in Intrinsic, i int) int64 {
	switch in {
	case IntrinsicChildCount:
		return int64(t.numbers.childCount[i])
	case IntrinsicNestedSetLeft:
		return int64(t.numbers.left[i])
	case IntrinsicNestedSetRight:
		return int64(t.numbers.right[i])
	}
	return int64(t.numbers.parent[i])
}

// resizeInt32 returns s, or a bigger slice, cleared, of length n.
func resizeInt32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	s = s[:n]
	clear(s)
	return s
}
