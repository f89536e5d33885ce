package live

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/schema"
)

// Tail holds the records of the log that blocks do not cover yet, so a
// trace is queryable from the moment Kafka acked it. It holds the
// partitions this querier owns: alone, every partition; with several
// queriers, those the queriers' consumer group assigned it. Records leave it
// once the blocklist holds a block of their tenant covering their offset,
// so the live tail and the blocks together cover the log without a gap.
//
// It holds at most maxBytes. When block-builders fall behind, records stay
// longer, and past the bound the oldest (by their Kafka timestamp) are
// evicted: recent spans are the ones looked for. A partition's records are
// evicted in offset order, so the tail still holds every record of a tenant
// from where its evictions ended; what lies below is missing from answers,
// which say so (Partial.Evicted), until blocks cover it.
//
// It holds each record compressed, as it came from Kafka but for the
// compression, indexed by tenant and trace ID: a query decodes the
// records it reads each time it reads them (see Slice), and a lookup by
// ID only those holding the ID. Beside each record it holds the summary
// of each of its traces and an index of what span filters test of its
// spans (index.go), so that a search reads the summaries and judges its
// filter from the indexes, decoding nothing.
type Tail struct {
	mu       sync.Mutex
	maxBytes int64
	parts    map[int32]*livePartition
	progress chan struct{} // closed and replaced whenever a partition advances
	records  int
	bytes    int64 // the cost of the records held; see recordCost
	// evictions counts the records evicted over the bound, evictedBytes
	// their cost.
	evictions, evictedBytes int64
	// decoded counts the records slices decoded.
	decoded atomic.Int64
	// scratch holds *[]byte buffers records are compressed into before
	// they are copied at their size.
	scratch sync.Pool
	// keys numbers the attribute keys of the records' indexes. builder
	// builds them, one record at a time: one goroutine consumes the
	// log, and a builder kept from record to record knows the keys and
	// their order.
	keys    *keyTable
	builder struct {
		sync.Mutex
		*indexBuilder
	}
}

type livePartition struct {
	id      int32
	start   int64 // where the tail began: blocks hold every record below
	next    int64 // every offset below is consumed
	tenants map[string]*liveTenant
	trimmed map[string]int64 // per tenant, where Trim last cut
	// evicted gives, per tenant, the offset below which records of the
	// tenant were evicted; it goes once known blocks cover it.
	evicted map[string]int64
	// order holds the partition's records of every tenant in offset
	// order, the next to evict first. Trimmed records stay in it, marked
	// gone, until they reach its front or make up half of it.
	order []*liveRecord
	gone  int
}

// liveTenant is one tenant's records of one partition, in offset order.
type liveTenant struct {
	records []*liveRecord
	byTrace map[pcommon.TraceID][]*liveRecord
}

type liveRecord struct {
	tenant string
	offset int64
	time   int64 // the record's Kafka timestamp, unix nanoseconds
	// held is the record's value in s2's block format. OTLP protobuf
	// repeats attribute keys and resources from span to span, and
	// compresses 3 to 5 times.
	held []byte
	// traces summarizes the record's spans of each trace, in trace ID
	// order, so that a search that needs only the traces' summaries
	// decodes nothing (see Slice.Summaries).
	traces []schema.TraceSummary
	// index holds what span filters test of each span, so that a search
	// judges the record's spans without decoding it (see index.go).
	index []byte
	gone  bool // trimmed: held by order alone, without its value
}

// Memory a record costs beside its value and its index: the record itself
// and its place in the lists, and per trace its summary (with its root's name) and its
// entry in the trace index. Measured by
// TestLiveTailMemoryStaysWithinItsBound.
const (
	liveRecordOverhead = 176
	liveTraceOverhead  = 384
)

// recordCost is what a record counts against the bound: its compressed
// value and its index as allocated (the allocator rounds sizes up) and
// what holding it costs.
func recordCost(held, index []byte, traces int) int64 {
	return int64(cap(held)) + int64(cap(index)) + liveRecordOverhead + int64(traces)*liveTraceOverhead
}

func (r *liveRecord) cost() int64 { return recordCost(r.held, r.index, len(r.traces)) }

// NewTail returns an empty live tail of at most maxBytes owning the
// given partitions from the given offsets: everything below them is in
// blocks.
func NewTail(maxBytes int64, start map[int32]int64) *Tail {
	t := &Tail{maxBytes: maxBytes, parts: make(map[int32]*livePartition), progress: make(chan struct{}), keys: newKeyTable()}
	t.builder.indexBuilder = newIndexBuilder(t.keys)
	for p, off := range start {
		t.Own(p, off)
	}
	return t
}

// Own starts holding partition from offset start, dropping what it held of
// the partition before.
func (t *Tail) Own(partition int32, start int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropLocked(partition)
	t.parts[partition] = &livePartition{
		id: partition, start: start, next: start,
		tenants: make(map[string]*liveTenant),
		trimmed: make(map[string]int64),
		evicted: make(map[string]int64),
	}
	t.notifyLocked()
}

// Disown drops partitions: another querier holds them now.
func (t *Tail) Disown(partitions []int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range partitions {
		t.dropLocked(p)
	}
	t.notifyLocked()
}

func (t *Tail) dropLocked(partition int32) {
	p := t.parts[partition]
	if p == nil {
		return
	}
	for _, lt := range p.tenants {
		for _, r := range lt.records {
			t.records--
			t.bytes -= r.cost()
		}
	}
	delete(t.parts, partition)
}

// Owned returns the partitions the live tail holds and where each began.
func (t *Tail) Owned() map[int32]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[int32]int64, len(t.parts))
	for id, p := range t.parts {
		out[id] = p.start
	}
	return out
}

// Add appends a consumed record holding spans of tenant, value being its
// encoding, rows its spans decoded (schema.RowDecoder) and ts its Kafka
// timestamp. It keeps value compressed, in a buffer of its own, with the
// summaries of its traces and the index of its spans, so that neither
// rows nor the fetch buffer value points into is held. Records of a partition must be added in offset order;
// those of a partition not owned, or below what was consumed, are
// ignored. Older records are evicted to make room within the bound; a
// record larger than the bound on its own is evicted at once.
func (t *Tail) Add(tenant string, partition int32, offset int64, ts time.Time, value []byte, rows []schema.SpanRow) {
	t.addHeld(tenant, partition, offset, ts, t.compress(value), rows)
}

// addHeld is Add given the value compressed as compress would, in a buffer
// the tail keeps as it is: it may be shared with the block-builder of the
// same process (tracelog.Packer), and neither modifies it.
func (t *Tail) addHeld(tenant string, partition int32, offset int64, ts time.Time, held []byte, rows []schema.SpanRow) {
	traces, index, keys := t.describe(rows)
	rec := &liveRecord{tenant: tenant, offset: offset, time: ts.UnixNano(), held: held, traces: traces, index: index}
	cost := rec.cost()
	t.mu.Lock()
	defer t.mu.Unlock()
	// The keys stay numbered, whether the record stays or not.
	t.bytes += keys
	p := t.parts[partition]
	if p == nil || offset < p.next {
		return
	}
	defer t.advanceLocked(p, offset+1)
	if cost > t.maxBytes {
		p.evicted[tenant] = offset + 1
		t.evictions++
		t.evictedBytes += cost
		return
	}
	for t.bytes+cost > t.maxBytes && t.evictOldestLocked() {
	}
	lt := p.tenants[tenant]
	if lt == nil {
		lt = &liveTenant{byTrace: make(map[pcommon.TraceID][]*liveRecord)}
		p.tenants[tenant] = lt
	}
	lt.records = append(lt.records, rec)
	for _, sum := range rec.traces {
		id := pcommon.TraceID(sum.ID)
		lt.byTrace[id] = append(lt.byTrace[id], rec)
	}
	p.order = append(p.order, rec)
	t.records++
	t.bytes += cost
}

// compress returns value in s2's block format, in a buffer of its size.
// s2 rather than zstd: a search decodes every record it reads, and s2
// decodes at over a gigabyte a second, adding about a tenth to decoding
// the protobuf, for 20 to 30% more bytes held than zstd's fastest level.
func (t *Tail) compress(value []byte) []byte {
	buf, _ := t.scratch.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	enc := s2.Encode(*buf, value)
	held := bytes.Clone(enc)
	*buf = enc[:0]
	t.scratch.Put(buf)
	return held
}

// describe returns the summaries of the traces of rows, one record's, the
// index of their spans, and what the tail's key table grew by.
func (t *Tail) describe(rows []schema.SpanRow) ([]schema.TraceSummary, []byte, int64) {
	t.builder.Lock()
	defer t.builder.Unlock()
	return t.builder.build(rows)
}

// evictOldestLocked evicts the record with the oldest timestamp among the
// first record of each partition, and reports whether there was one.
func (t *Tail) evictOldestLocked() bool {
	var (
		oldest *livePartition
		rec    *liveRecord
	)
	for _, p := range t.parts {
		for len(p.order) > 0 && p.order[0].gone {
			p.order[0] = nil
			p.order = p.order[1:]
			p.gone--
		}
		if len(p.order) == 0 {
			continue
		}
		// Ties go to the lowest partition, so that the choice does not
		// depend on the map's order.
		if r := p.order[0]; rec == nil || r.time < rec.time || r.time == rec.time && p.id < oldest.id {
			oldest, rec = p, r
		}
	}
	if rec == nil {
		return false
	}
	oldest.order[0] = nil
	oldest.order = oldest.order[1:]
	// No record of its tenant below it is left: it is the first.
	lt := oldest.tenants[rec.tenant]
	lt.records[0] = nil
	lt.records = lt.records[1:]
	t.forgetLocked(oldest, lt, rec)
	oldest.evicted[rec.tenant] = rec.offset + 1
	t.evictions++
	t.evictedBytes += rec.cost()
	t.records--
	t.bytes -= rec.cost()
	rec.held, rec.traces, rec.index = nil, nil, nil
	return true
}

// forgetLocked removes r from lt's trace index, and lt from p once it holds
// nothing.
func (t *Tail) forgetLocked(p *livePartition, lt *liveTenant, r *liveRecord) {
	lt.unindex(r)
	if len(lt.records) == 0 {
		delete(p.tenants, r.tenant)
	}
}

// unindex removes r from lt's trace index.
func (lt *liveTenant) unindex(r *liveRecord) {
	for _, sum := range r.traces {
		id := pcommon.TraceID(sum.ID)
		rest := slices.DeleteFunc(lt.byTrace[id], func(x *liveRecord) bool { return x == r })
		if len(rest) == 0 {
			delete(lt.byTrace, id)
		} else {
			lt.byTrace[id] = rest
		}
	}
}

// Advance records that partition was consumed up to next even where no
// record of a tenant was added (a skipped record).
func (t *Tail) Advance(partition int32, next int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.parts[partition]; p != nil {
		t.advanceLocked(p, next)
	}
}

func (t *Tail) advanceLocked(p *livePartition, next int64) {
	if next > p.next {
		p.next = next
		t.notifyLocked()
	}
}

func (t *Tail) notifyLocked() {
	close(t.progress)
	t.progress = make(chan struct{})
}

// WaitFor waits until partition is consumed up to offset end, or ctx ends.
// It fails with ErrNotOwned if the live tail does not hold the partition,
// or stops holding it while waiting.
func (t *Tail) WaitFor(ctx context.Context, partition int32, end int64) error {
	for {
		t.mu.Lock()
		p, progress := t.parts[partition], t.progress
		done := p != nil && p.next >= end
		t.mu.Unlock()
		if p == nil {
			return ErrNotOwned
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

// Slice returns the records of tenants in partitions, only those holding
// ids when ids is not empty, for the caller to decode (see Slice). covered
// is the blocklist's CoveredEnd, which must know every block below each
// partition's start. The Partial says whether records were evicted that
// covered does not reach. It fails with ErrNotOwned if a partition is not
// held.
func (t *Tail) Slice(tenants []string, partitions []int32, ids []pcommon.TraceID, covered func(string, int32) int64) (Slice, Partial, error) {
	out := newSlice(ids, &t.decoded, t.keys)
	var partial Partial
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, pid := range partitions {
		p := t.parts[pid]
		if p == nil {
			return out, partial, fmt.Errorf("%w: %d", ErrNotOwned, pid)
		}
		for _, tenant := range tenants {
			// The tail holds every record of tenant from start, from
			// where Trim last cut and from where evictions ended;
			// below the blocks' end there is no record of tenant
			// outside a block.
			end := covered(tenant, pid)
			out.setFrom(tenant, pid, min(max(p.start, p.trimmed[tenant], p.evicted[tenant]), end))
			partial.Evicted = partial.Evicted || p.evicted[tenant] > end
			lt := p.tenants[tenant]
			if lt == nil {
				continue
			}
			if len(ids) == 0 {
				for _, r := range lt.records {
					out.add(tenant, r)
				}
				continue
			}
			seen := make(map[*liveRecord]bool)
			for _, id := range ids {
				for _, r := range lt.byTrace[id] {
					if !seen[r] {
						seen[r] = true
						out.add(tenant, r)
					}
				}
			}
		}
	}
	return out, partial, nil
}

// Trim drops the records that blocks now cover: those of tenant in
// partition below covered(tenant, partition). Evictions that blocks now
// cover are forgotten: answers no longer miss them.
func (t *Tail) Trim(covered func(tenant string, partition int32) int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for pid, p := range t.parts {
		for tenant, ev := range p.evicted {
			if covered(tenant, pid) >= ev {
				delete(p.evicted, tenant)
			}
		}
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
				lt.unindex(r)
				t.records--
				t.bytes -= r.cost()
				r.gone, r.held, r.traces, r.index = true, nil, nil, nil
				p.gone++
			}
			lt.records = slices.Delete(lt.records, 0, n)
			if len(lt.records) == 0 {
				delete(p.tenants, tenant)
			}
		}
		p.compactOrder()
	}
}

// compactOrder drops the trimmed records from order once they are half of
// it, so that it stays within twice the records held.
func (p *livePartition) compactOrder() {
	if p.gone > 0 && 2*p.gone >= len(p.order) {
		p.order = slices.DeleteFunc(p.order, func(r *liveRecord) bool { return r.gone })
		p.gone = 0
	}
}

// Size returns how many records and bytes the live tail holds. Bytes are
// their compressed values and what holding them costs beside.
func (t *Tail) Size() (records int, size int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.records, t.bytes
}

// Decoded returns how many records the tail's slices decoded.
func (t *Tail) Decoded() int64 { return t.decoded.Load() }

// Evictions returns how many records were evicted over the bound, and
// what they cost; and how many tenants' partitions miss evicted records
// that no known block holds: answers that read them are partial.
func (t *Tail) Evictions() (records, size int64, gaps int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.parts {
		gaps += len(p.evicted)
	}
	return t.evictions, t.evictedBytes, gaps
}
