package blockbuilder

import (
	"time"
)

// pending is one partition's block while it is being filled: the records
// taken so far and the ones that already belong to the next block.
//
// Where a block ends depends only on the log, never on when the builder
// happened to read it: the first record's timestamp fixes the cycle, and
// the block ends before the first record stamped in a later cycle (or
// before the record that would push it past the byte limit). A builder
// that replays from the same committed offset therefore cuts the same
// range and writes the same block ID, overwriting instead of duplicating.
// The one exception is a partition gone quiet, cut by wall clock once it
// is caught up; a replay cuts it the same way unless a record stamped in
// the old cycle arrived after the cut, which only delays its block.
type pending struct {
	start, next int64 // offsets [start, next) taken into the block
	epoch       int32 // leader epoch of the last record taken, for the commit
	cycleEnd    time.Time
	bytes       int64     // of the records' values as in the log
	records     []*record // taken, in offset order
	carry       []*record // fetched after the cut: the next block's
	// held is the memory the records and the carried ones take.
	held int64
	cut  bool
	// unwritten holds, once the block is cut and split by tenant, the
	// records of each tenant block not written yet: a flush that gave way
	// to a rebalance resumes with them. They are decoded only when a
	// flush slot writes them. Nil until split.
	unwritten map[string][]*record
}

func newPending(first *record, cycle time.Duration) *pending {
	return &pending{
		start:    first.offset,
		next:     first.offset,
		cycleEnd: first.timestamp.Truncate(cycle).Add(cycle),
	}
}

// offer takes r into the block, or decides the block is complete and keeps
// r for the next one.
func (p *pending) offer(r *record, maxBytes int64) {
	p.held += r.heldBytes()
	if !p.cut && len(p.records) > 0 &&
		(!r.timestamp.Before(p.cycleEnd) || p.bytes+r.size > maxBytes) {
		p.cut = true
	}
	if p.cut {
		p.carry = append(p.carry, r)
		return
	}
	p.records = append(p.records, r)
	p.next = r.offset + 1
	p.epoch = r.epoch
	p.bytes += r.size
}

// cutIfIdle cuts a block whose cycle ended more than delay ago when the
// builder has read everything below highWatermark, so that a partition
// that stops receiving records still gets its last block written.
func (p *pending) cutIfIdle(now time.Time, delay time.Duration, highWatermark int64) {
	if !p.cut && len(p.records) > 0 && p.next >= highWatermark && !now.Before(p.cycleEnd.Add(delay)) {
		p.cut = true
	}
}

// successor returns the pending block that continues after p was written:
// it starts at p.next and is offered p's carried records.
func (p *pending) successor(cycle time.Duration, maxBytes int64) *pending {
	if len(p.carry) == 0 {
		return nil
	}
	// The successor starts at its first record, as a builder replaying
	// from the committed offset p.next would (offsets in between, such as
	// transaction markers, hold no spans).
	s := newPending(p.carry[0], cycle)
	for _, r := range p.carry {
		s.offer(r, maxBytes)
	}
	return s
}
