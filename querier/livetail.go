package querier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// LiveTail holds the records of the log that blocks do not cover yet, so a
// trace is queryable from the moment Kafka acked it. It holds the
// partitions this querier owns: alone, every partition; with several
// queriers, those the queriers' consumer group assigned it. Records leave it
// once the blocklist holds a block of their tenant covering their offset,
// so the live tail and the blocks together cover the log without a gap.
type LiveTail struct {
	mu       sync.Mutex
	parts    map[int32]*livePartition
	progress chan struct{} // closed and replaced whenever a partition advances
	records  int
	bytes    int64
}

type livePartition struct {
	start   int64 // where the tail began: blocks hold every record below
	next    int64 // every offset below is consumed
	tenants map[string]*liveTenant
	trimmed map[string]int64 // per tenant, where Trim last cut
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

// errNotOwned is returned for a partition the live tail does not hold.
var errNotOwned = errors.New("partition not owned by this querier")

// NewLiveTail returns an empty live tail owning the given partitions from
// the given offsets: everything below them is in blocks.
func NewLiveTail(start map[int32]int64) *LiveTail {
	t := &LiveTail{parts: make(map[int32]*livePartition), progress: make(chan struct{})}
	for p, off := range start {
		t.Own(p, off)
	}
	return t
}

// Own starts holding partition from offset start, dropping what it held of
// the partition before.
func (t *LiveTail) Own(partition int32, start int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropLocked(partition)
	t.parts[partition] = &livePartition{
		start: start, next: start,
		tenants: make(map[string]*liveTenant),
		trimmed: make(map[string]int64),
	}
	t.notifyLocked()
}

// Disown drops partitions: another querier holds them now.
func (t *LiveTail) Disown(partitions []int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range partitions {
		t.dropLocked(p)
	}
	t.notifyLocked()
}

func (t *LiveTail) dropLocked(partition int32) {
	p := t.parts[partition]
	if p == nil {
		return
	}
	for _, lt := range p.tenants {
		for _, r := range lt.records {
			t.records--
			t.bytes -= int64(len(r.value))
		}
	}
	delete(t.parts, partition)
}

// Owned returns the partitions the live tail holds and where each began.
func (t *LiveTail) Owned() map[int32]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[int32]int64, len(t.parts))
	for id, p := range t.parts {
		out[id] = p.start
	}
	return out
}

// Add appends a consumed record holding td's spans of tenant. Records of a
// partition must be added in offset order; those of a partition not owned,
// or below what was consumed, are ignored.
func (t *LiveTail) Add(tenant string, partition int32, offset int64, value []byte, td ptrace.Traces) {
	rec := &liveRecord{offset: offset, value: value, traceIDs: traceIDs(td)}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[partition]
	if p == nil || offset < p.next {
		return
	}
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
	if p := t.parts[partition]; p != nil {
		t.advanceLocked(p, next)
	}
}

func (t *LiveTail) advanceLocked(p *livePartition, next int64) {
	if next > p.next {
		p.next = next
		t.notifyLocked()
	}
}

func (t *LiveTail) notifyLocked() {
	close(t.progress)
	t.progress = make(chan struct{})
}

// WaitFor waits until partition is consumed up to offset end, or ctx ends.
// It fails with errNotOwned if the live tail does not hold the partition,
// or stops holding it while waiting.
func (t *LiveTail) WaitFor(ctx context.Context, partition int32, end int64) error {
	for {
		t.mu.Lock()
		p, progress := t.parts[partition], t.progress
		done := p != nil && p.next >= end
		t.mu.Unlock()
		if p == nil {
			return errNotOwned
		}
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

// liveSlice is what live tails hold of some tenants' records in some
// partitions.
type liveSlice struct {
	// Traces holds each tenant's spans, possibly with duplicates.
	Traces map[string][]ptrace.Traces
	// Candidates holds each tenant's search candidates, when they were
	// asked for instead of spans.
	Candidates map[string][]candidate
	// Tags holds the tags collected from every tenant's spans, when they
	// were asked for instead of spans; nil otherwise.
	Tags *tagSet
	// From gives, per tenant and partition, the offset from which the
	// slice holds every record of the tenant, as long as the blocklist
	// knows every block of the tenant in the partition ending up to it.
	From map[string]map[int32]int64
}

func newLiveSlice() liveSlice {
	return liveSlice{
		Traces:     make(map[string][]ptrace.Traces),
		Candidates: make(map[string][]candidate),
		From:       make(map[string]map[int32]int64),
	}
}

func (s liveSlice) setFrom(tenant string, partition int32, from int64) {
	if s.From[tenant] == nil {
		s.From[tenant] = make(map[int32]int64)
	}
	s.From[tenant][partition] = from
}

// Slice returns the spans of tenants in partitions, only those of ids
// when ids is not empty. covered is the blocklist's CoveredEnd, which must
// know every block below each partition's start. It fails with errNotOwned
// if a partition is not held. Records are picked under the lock and
// decoded outside it.
func (t *LiveTail) Slice(tenants []string, partitions []int32, ids []pcommon.TraceID, covered func(string, int32) int64) (liveSlice, error) {
	out := newLiveSlice()
	values := make(map[string][][]byte)
	t.mu.Lock()
	for _, pid := range partitions {
		p := t.parts[pid]
		if p == nil {
			t.mu.Unlock()
			return out, fmt.Errorf("%w: %d", errNotOwned, pid)
		}
		for _, tenant := range tenants {
			// The tail holds every record of tenant from start, and
			// from where Trim last cut; below the blocks' end there
			// is no record of tenant outside a block.
			out.setFrom(tenant, pid, min(max(p.start, p.trimmed[tenant]), covered(tenant, pid)))
			lt := p.tenants[tenant]
			if lt == nil {
				continue
			}
			if len(ids) == 0 {
				for _, r := range lt.records {
					values[tenant] = append(values[tenant], r.value)
				}
				continue
			}
			seen := make(map[*liveRecord]bool)
			for _, id := range ids {
				for _, r := range lt.byTrace[id] {
					if !seen[r] {
						seen[r] = true
						values[tenant] = append(values[tenant], r.value)
					}
				}
			}
		}
	}
	t.mu.Unlock()

	var u ptrace.ProtoUnmarshaler
	for tenant, vs := range values {
		for _, v := range vs {
			td, err := u.UnmarshalTraces(v)
			if err != nil {
				return out, err // Add only holds records that decoded
			}
			if len(ids) > 0 {
				td = filterTraces(td, ids)
			}
			out.Traces[tenant] = append(out.Traces[tenant], td)
		}
	}
	return out, nil
}

// Trim drops the records that blocks now cover: those of tenant in
// partition below covered(tenant, partition).
func (t *LiveTail) Trim(covered func(tenant string, partition int32) int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for pid, p := range t.parts {
		for tenant, lt := range p.tenants {
			end := covered(tenant, pid)
			p.trimmed[tenant] = max(p.trimmed[tenant], end)
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
