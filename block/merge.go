package block

import (
	"container/heap"
	"context"

	"github.com/spanlog/spanlog/schema"
)

// mergeRows is about how many decoded rows a merge holds across its
// inputs: each input decodes a batch of its share of them, between
// minMergeBatch and readBatch rows. Fewer rows per batch cost more
// calls into the Parquet reader; more cost memory with every input.
const (
	mergeRows     = 8 << 10
	minMergeBatch = 32
)

// mergeReadBufferSize is the read buffer of each column of a block a merge
// reads. The row group is in memory already (prefetched), so the buffer
// saves no request; it only needs to hold a page header.
const mergeReadBufferSize = 512

// merge reads the rows of several blocks as one sequence in block order,
// a trace at a time: the k-way merge of their cursors.
type merge struct {
	cursors []*rowCursor
	// heads are the cursors' current rows, nil once one is done.
	heads []*schema.SpanRow
	// order is a heap of the indexes of the cursors with a current row,
	// smallest row first; of equal rows, the earlier cursor's.
	order mergeHeap
}

func newMerge(readers []*Reader) *merge {
	batch := min(readBatch, max(minMergeBatch, mergeRows/max(1, len(readers))))
	m := &merge{heads: make([]*schema.SpanRow, len(readers))}
	m.order.m = m
	for _, r := range readers {
		m.cursors = append(m.cursors, r.rows(batch))
	}
	return m
}

// nextTrace appends to dst the rows of the next trace, of every input, in
// block order, duplicates included, and returns it; empty after the last.
// The rows are copies the merge does not reuse.
func (m *merge) nextTrace(ctx context.Context, dst []schema.SpanRow) ([]schema.SpanRow, error) {
	if m.order.idx == nil {
		// The first call reads each cursor's first row: its first row
		// group, which the cursors fetch in parallel.
		if err := inParallel(len(m.cursors), func(i int) error { return m.advance(ctx, i) }); err != nil {
			return dst, err
		}
		m.order.idx = make([]int, 0, len(m.cursors))
		for i := range m.cursors {
			if m.heads[i] != nil {
				m.order.idx = append(m.order.idx, i)
			}
		}
		heap.Init(&m.order)
	}
	if len(m.order.idx) == 0 {
		return dst, nil
	}
	trace := m.heads[m.order.idx[0]].TraceID
	for len(m.order.idx) > 0 {
		i := m.order.idx[0]
		if m.heads[i].TraceID != trace {
			break
		}
		dst = append(dst, *m.heads[i])
		if err := m.advance(ctx, i); err != nil {
			return dst, err
		}
		if m.heads[i] == nil {
			heap.Pop(&m.order)
		} else {
			heap.Fix(&m.order, 0)
		}
	}
	return dst, nil
}

// advance moves cursor i to its next row.
func (m *merge) advance(ctx context.Context, i int) error {
	row, err := m.cursors[i].next(ctx)
	m.heads[i] = row
	return err
}

func (m *merge) close() {
	for _, c := range m.cursors {
		c.close()
	}
}

// mergeHeap implements heap.Interface over the merge's cursors.
type mergeHeap struct {
	m   *merge
	idx []int
}

func (h *mergeHeap) Len() int { return len(h.idx) }
func (h *mergeHeap) Less(a, b int) bool {
	i, j := h.idx[a], h.idx[b]
	if c := schema.CompareRows(h.m.heads[i], h.m.heads[j]); c != 0 {
		return c < 0
	}
	return i < j
}
func (h *mergeHeap) Swap(a, b int) { h.idx[a], h.idx[b] = h.idx[b], h.idx[a] }
func (h *mergeHeap) Push(x any)    { h.idx = append(h.idx, x.(int)) }
func (h *mergeHeap) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}
