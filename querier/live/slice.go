package live

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
)

// Slice is what live tails hold of some tenants' records in some
// partitions. It holds the records as the tail does, compressed with the
// summaries of their traces and their indexes, and decodes them one at a
// time each time Decode reads them: reading a whole tail holds one record
// decoded at a time, not every span of the tail. Summaries decodes
// nothing, nor does Match but the records whose index cannot judge its
// tests.
type Slice struct {
	// From gives, per tenant and partition, the offset from which the
	// slice holds every record of the tenant, as long as the blocklist
	// knows every block of the tenant in the partition ending up to it.
	From map[string]map[int32]int64
	// records holds each tenant's records in the order the tail picked
	// them.
	records map[string][]sliceRecord
	// ids, when not empty, are the only traces the slice holds spans of.
	ids []pcommon.TraceID
	// decoded counts the records decoded, in the tail's count.
	decoded *atomic.Int64
	// keys names the attribute keys of the records' indexes.
	keys *keyTable
}

// sliceRecord is a record of a slice: its value, its traces' summaries
// and its index, which the tail never changes, only forgets.
type sliceRecord struct {
	held   []byte
	traces []schema.TraceSummary
	index  []byte
}

func newSlice(ids []pcommon.TraceID, decoded *atomic.Int64, keys *keyTable) Slice {
	return Slice{
		From:    make(map[string]map[int32]int64),
		records: make(map[string][]sliceRecord),
		ids:     ids,
		decoded: decoded,
		keys:    keys,
	}
}

func (s Slice) setFrom(tenant string, partition int32, from int64) {
	if s.From[tenant] == nil {
		s.From[tenant] = make(map[int32]int64)
	}
	s.From[tenant][partition] = from
}

func (s Slice) add(tenant string, r *liveRecord) {
	s.records[tenant] = append(s.records[tenant], sliceRecord{held: r.held, traces: r.traces, index: r.index})
}

// Tenants returns the tenants the slice holds spans of, in order.
func (s Slice) Tenants() []string {
	return slices.Sorted(maps.Keys(s.records))
}

// Decode calls fn with the spans of each of tenant's records in the
// slice, decoded for the call, only those of the slice's traces when it
// was taken for some. A span may come twice: Kafka may hold a record
// twice, and a producer may send a span again. fn may keep td.
func (s Slice) Decode(tenant string, fn func(td ptrace.Traces)) error {
	var (
		buf []byte // reused: the unmarshaler copies what it keeps
		u   ptrace.ProtoUnmarshaler
	)
	for i := range s.records[tenant] {
		td, err := s.decode(tenant, &s.records[tenant][i], &buf, &u)
		if err != nil {
			return err
		}
		fn(td)
	}
	return nil
}

// DecodeRows calls fn with the spans of each of tenant's records in the
// slice, decoded into rows (schema.RowDecoder), as Decode does with pdata's
// objects. The rows are fn's to read until it returns, not to keep: the
// slice they are in is reused; what they point to may be kept.
func (s Slice) DecodeRows(tenant string, fn func(rows []schema.SpanRow)) error {
	var (
		buf  []byte
		dec  schema.RowDecoder
		rows []schema.SpanRow
	)
	for i := range s.records[tenant] {
		value, err := s2.Decode(buf, s.records[tenant][i].held)
		if err != nil {
			return fmt.Errorf("decompress live record of tenant %s: %w", tenant, err)
		}
		buf = value
		clear(rows)
		rows, err = dec.Append(rows[:0], value)
		if err != nil {
			// Add only holds records that decoded.
			return fmt.Errorf("decode live record of tenant %s: %w", tenant, err)
		}
		s.decoded.Add(1)
		if len(s.ids) > 0 {
			rows = slices.DeleteFunc(rows, func(r schema.SpanRow) bool { return !slices.Contains(s.ids, pcommon.TraceID(r.TraceID)) })
		}
		fn(rows)
	}
	return nil
}

// decode returns the spans of record r of tenant, only those of the
// slice's traces when it was taken for some, decompressing into *buf.
func (s Slice) decode(tenant string, r *sliceRecord, buf *[]byte, u *ptrace.ProtoUnmarshaler) (ptrace.Traces, error) {
	value, err := s2.Decode(*buf, r.held)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("decompress live record of tenant %s: %w", tenant, err)
	}
	*buf = value
	td, err := u.UnmarshalTraces(value)
	if err != nil {
		// Add only holds records that decoded.
		return ptrace.Traces{}, fmt.Errorf("decode live record of tenant %s: %w", tenant, err)
	}
	s.decoded.Add(1)
	if len(s.ids) > 0 {
		td = filterTraces(td, s.ids)
	}
	return td, nil
}

// Match calls matched with the ID of each of tenant's traces in the
// slice that has a span passing every test (only of the slice's traces
// when it was taken for some), judged from the records' indexes without
// decoding them. A record whose spans the index cannot judge, as a test
// reads a value too long for it to hold, is decoded and passed to
// undecided instead, which judges its spans itself. An ID may be passed
// more than once.
func (s Slice) Match(tenant string, tests []SpanTest, matched func(pcommon.TraceID), undecided func(ptrace.Traces)) error {
	var (
		ix  = newIndexReader(s.keys, tests)
		buf []byte
		u   ptrace.ProtoUnmarshaler
	)
	for i := range s.records[tenant] {
		r := &s.records[tenant][i]
		ix.reset(r.index)
		decided := ix.match(func(trace int) {
			if id := pcommon.TraceID(r.traces[trace].ID); len(s.ids) == 0 || slices.Contains(s.ids, id) {
				matched(id)
			}
		})
		if decided {
			continue
		}
		td, err := s.decode(tenant, r, &buf, &u)
		if err != nil {
			return err
		}
		undecided(td)
	}
	return nil
}

// Summaries returns the summary of each of tenant's traces over its spans
// in every record of the slice (see schema.TraceSummary.Merge), in trace
// ID order: of the traces keep accepts, or every trace when keep is nil,
// only of the slice's traces when it was taken for some. It decodes no
// record.
func (s Slice) Summaries(tenant string, keep func(pcommon.TraceID) bool) []schema.TraceSummary {
	var all []schema.TraceSummary
	for _, r := range s.records[tenant] {
		for _, sum := range r.traces {
			id := pcommon.TraceID(sum.ID)
			if (len(s.ids) == 0 || slices.Contains(s.ids, id)) && (keep == nil || keep(id)) {
				all = append(all, sum)
			}
		}
	}
	slices.SortFunc(all, func(a, b schema.TraceSummary) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	out := all[:0]
	for _, sum := range all {
		if n := len(out); n > 0 && out[n-1].ID == sum.ID {
			out[n-1].Merge(&sum)
			continue
		}
		out = append(out, sum)
	}
	return out
}

// traces decodes every record of the slice, by tenant.
func (s Slice) traces() (map[string][]ptrace.Traces, error) {
	out := make(map[string][]ptrace.Traces, len(s.records))
	for tenant := range s.records {
		if err := s.Decode(tenant, func(td ptrace.Traces) { out[tenant] = append(out[tenant], td) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// filterTraces keeps only the spans of the traces ids, dropping emptied
// scopes and resources.
func filterTraces(td ptrace.Traces, ids []pcommon.TraceID) ptrace.Traces {
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(s ptrace.Span) bool { return !slices.Contains(ids, s.TraceID()) })
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
	return td
}
