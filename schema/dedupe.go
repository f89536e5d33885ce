package schema

// DedupeRows drops every row whose trace and span ID an earlier row has, and
// returns the rows left, in their order, in rows' memory. The same span
// arrives more than once when records are replayed, or when a trace is read
// from both the live tail and blocks; the first copy wins.
func DedupeRows(rows []SpanRow) []SpanRow {
	type spanKey struct {
		trace [16]byte
		span  [8]byte
	}
	seen := make(map[spanKey]struct{}, len(rows))
	n := 0
	for i := range rows {
		k := spanKey{rows[i].TraceID, rows[i].SpanID}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		if n != i {
			rows[n] = rows[i]
		}
		n++
	}
	clear(rows[n:]) // release what the dropped rows point to
	return rows[:n]
}
