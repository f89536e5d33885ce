package block

import "go.opentelemetry.io/collector/pdata/pcommon"

// SplitTraces returns the trace IDs whose rows a row group boundary splits,
// so tests can check that they cover that case.
func (r *Reader) SplitTraces() []pcommon.TraceID {
	var ids []pcommon.TraceID
	for g := 1; g < len(r.groups); g++ {
		if r.groups[g-1].max == r.groups[g].min {
			ids = append(ids, r.groups[g].min)
		}
	}
	return ids
}

// RowGroups returns the number of row groups of the block.
func (r *Reader) RowGroups() int { return len(r.groups) }
