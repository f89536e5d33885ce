package querier

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
)

// LiveTail holds the records of the log that blocks do not cover yet, so a
// trace is queryable from the moment Kafka acked it. Records leave it once
// the blocklist holds a block of their tenant covering their offset, so the
// live tail and the blocks together cover the log without a gap.
type LiveTail struct {
	mu       sync.Mutex
	parts    map[int32]*livePartition
	progress chan struct{} // closed and replaced whenever a partition advances
	records  int
	bytes    int64
}

type livePartition struct {
	next    int64 // every offset below is consumed
	tenants map[string]*liveTenant
}

// liveTenant is one tenant's records of one partition, in offset order.
type liveTenant struct {
	records []*liveRecord
	byTrace map[pcommon.TraceID][]*liveRecord
}

type liveRecord struct {
	offset   int64
	value    []byte
	traceIDs []pcommon.TraceID
}

// NewLiveTail returns an empty live tail whose partitions start at the given
// offsets: everything below them is in blocks.
func NewLiveTail(start map[int32]int64) *LiveTail {
	t := &LiveTail{parts: make(map[int32]*livePartition), progress: make(chan struct{})}
	for p, off := range start {
		t.parts[p] = &livePartition{next: off, tenants: make(map[string]*liveTenant)}
	}
	return t
}

// Add appends a consumed record holding td's spans of tenant. Records of a
// partition must be added in offset order.
func (t *LiveTail) Add(tenant string, partition int32, offset int64, value []byte, td ptrace.Traces) {
	rec := &liveRecord{offset: offset, value: value, traceIDs: traceIDs(td)}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.partition(partition)
	lt := p.tenants[tenant]
	if lt == nil {
		lt = &liveTenant{byTrace: make(map[pcommon.TraceID][]*liveRecord)}
		p.tenants[tenant] = lt
	}
	lt.records = append(lt.records, rec)
	for _, id := range rec.traceIDs {
		lt.byTrace[id] = append(lt.byTrace[id], rec)
	}
	t.records++
	t.bytes += int64(len(value))
	t.advanceLocked(p, offset+1)
}

// Advance records that partition was consumed up to next even where no
// record of a tenant was added (a skipped record).
func (t *LiveTail) Advance(partition int32, next int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.advanceLocked(t.partition(partition), next)
}

func (t *LiveTail) partition(id int32) *livePartition {
	p := t.parts[id]
	if p == nil {
		p = &livePartition{tenants: make(map[string]*liveTenant)}
		t.parts[id] = p
	}
	return p
}

func (t *LiveTail) advanceLocked(p *livePartition, next int64) {
	if next > p.next {
		p.next = next
		close(t.progress)
		t.progress = make(chan struct{})
	}
}

// WaitFor waits until partition is consumed up to offset end, or ctx ends.
func (t *LiveTail) WaitFor(ctx context.Context, partition int32, end int64) error {
	for {
		t.mu.Lock()
		p, progress := t.parts[partition], t.progress
		done := p != nil && p.next >= end
		t.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-progress:
		}
	}
}

// Find returns the spans of trace id of tenant held by the live tail, as
// one Traces per record (possibly with duplicates across records).
func (t *LiveTail) Find(tenant string, id pcommon.TraceID) ([]ptrace.Traces, error) {
	var out []ptrace.Traces
	err := t.decode(tenant, func(lt *liveTenant) []*liveRecord { return lt.byTrace[id] }, func(td ptrace.Traces) {
		out = append(out, filterTrace(td, id))
	})
	return out, err
}

// decode calls fn with the spans of each of tenant's records that pick
// selects. The records are picked under the lock and decoded outside it.
func (t *LiveTail) decode(tenant string, pick func(*liveTenant) []*liveRecord, fn func(ptrace.Traces)) error {
	var values [][]byte
	t.mu.Lock()
	for _, p := range t.parts {
		if lt := p.tenants[tenant]; lt != nil {
			for _, r := range pick(lt) {
				values = append(values, r.value)
			}
		}
	}
	t.mu.Unlock()

	var u ptrace.ProtoUnmarshaler
	for _, v := range values {
		td, err := u.UnmarshalTraces(v)
		if err != nil {
			return err // Add only holds records that decoded
		}
		fn(td)
	}
	return nil
}

// Trim drops the records that blocks now cover: those of tenant in
// partition below covered(tenant, partition).
func (t *LiveTail) Trim(covered func(tenant string, partition int32) int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for pid, p := range t.parts {
		for tenant, lt := range p.tenants {
			end := covered(tenant, pid)
			n, _ := slices.BinarySearchFunc(lt.records, end, func(r *liveRecord, off int64) int {
				switch {
				case r.offset < off:
					return -1
				case r.offset > off:
					return 1
				}
				return 0
			})
			if n == 0 {
				continue
			}
			for _, r := range lt.records[:n] {
				for _, id := range r.traceIDs {
					rest := slices.DeleteFunc(lt.byTrace[id], func(x *liveRecord) bool { return x == r })
					if len(rest) == 0 {
						delete(lt.byTrace, id)
					} else {
						lt.byTrace[id] = rest
					}
				}
				t.records--
				t.bytes -= int64(len(r.value))
			}
			lt.records = slices.Delete(lt.records, 0, n)
			if len(lt.records) == 0 {
				delete(p.tenants, tenant)
			}
		}
	}
}

// Size returns how many records and bytes the live tail holds.
func (t *LiveTail) Size() (records int, size int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.records, t.bytes
}

// traceIDs lists the distinct trace IDs in td.
func traceIDs(td ptrace.Traces) []pcommon.TraceID {
	var ids []pcommon.TraceID
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				ids = append(ids, s.TraceID())
			}
		}
	}
	slices.SortFunc(ids, func(a, b pcommon.TraceID) int { return bytes.Compare(a[:], b[:]) })
	return slices.Clip(slices.Compact(ids))
}

// filterTrace keeps only the spans of trace id, dropping emptied scopes and
// resources.
func filterTrace(td ptrace.Traces, id pcommon.TraceID) ptrace.Traces {
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(s ptrace.Span) bool { return s.TraceID() != id })
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
	return td
}

// Rows returns the rows of every span of tenant the live tail holds.
func (t *LiveTail) Rows(tenant string) ([]schema.SpanRow, error) {
	var rows []schema.SpanRow
	err := t.decode(tenant, func(lt *liveTenant) []*liveRecord { return lt.records }, func(td ptrace.Traces) {
		rows = schema.AppendRows(rows, td)
	})
	return rows, err
}
