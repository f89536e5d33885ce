package tracelog

import (
	"bytes"
	"hash/maphash"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Packer compresses the values of records for the readers that hold them
// until blocks do, the block-builder and the live tail, in s2's block
// format. With both in one process (-target=all), each record would be
// compressed twice and held twice: the Packer lets the second reader of a
// record take the first one's copy instead. The copy is shared, and
// neither reader may modify it.
//
// A record is known by its partition, leader epoch and offset, which no
// other record of the topic shares, and checked by its length and a hash
// of its value (seeded per process), so that a copy is never taken for a
// value it was not made from.
//
// A copy waits for its second reader at most maxAge of records coming
// in, and the copies waiting take at most maxBytes: past either, the
// older half goes, and their second reader compresses its own. The age is
// checked as copies come, so when the log goes quiet what waits stays,
// within both bounds, until the next record. A waiting copy is most often
// one the first reader still holds, as both hold records for a block's
// cycle or more, so the bound is mostly not memory of its own; it is when
// one reader alone reads a partition (the other's group gave it to
// another process), or drops what it read.
type Packer struct {
	seed     maphash.Seed
	maxBytes int64
	maxAge   time.Duration
	now      func() time.Time
	// compressed counts the values compressed, shared those a second
	// reader took.
	compressed, shared prometheus.Counter

	mu sync.Mutex
	// Copies wait in two generations: new ones go in fresh; once fresh
	// holds half the bytes, or is half the age, allowed, stale (the
	// older half) is dropped and fresh takes its place.
	fresh, stale packGeneration
}

type packGeneration struct {
	copies map[packKey]packed
	bytes  int64
	start  time.Time
}

type packKey struct {
	partition, epoch int32
	offset           int64
}

type packed struct {
	size  int
	sum   uint64
	value []byte // compressed
}

// NewPacker returns a Packer for two readers of the same topic in one
// process, whose copies wait for their second reader at most maxAge and
// take at most maxBytes. Its counters are registered with reg.
func NewPacker(maxBytes int64, maxAge time.Duration, reg prometheus.Registerer) *Packer {
	p := &Packer{
		seed: maphash.MakeSeed(), maxBytes: maxBytes, maxAge: maxAge, now: time.Now,
		compressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_record_values_compressed_total",
			Help: "Record values the block-builder and the live tail of this process compressed to hold.",
		}),
		shared: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_record_values_shared_total",
			Help: "Record values the block-builder or the live tail took compressed from the other instead of compressing them.",
		}),
	}
	reg.MustRegister(p.compressed, p.shared)
	return p
}

// Pack returns r's value compressed in s2's block format, compressing
// through scratch, which it returns grown. The value returned is shared
// with another reader when p is not nil: it must not be modified. A nil
// Packer compresses every value anew.
func (p *Packer) Pack(r *kgo.Record, scratch []byte) (value, grown []byte) {
	if p == nil {
		return compress(r.Value, scratch)
	}
	key := packKey{partition: r.Partition, epoch: r.LeaderEpoch, offset: r.Offset}
	sum := maphash.Bytes(p.seed, r.Value)
	if v, ok := p.take(key, len(r.Value), sum); ok {
		p.shared.Inc()
		return v, scratch
	}
	value, scratch = compress(r.Value, scratch)
	p.compressed.Inc()
	p.put(key, packed{size: len(r.Value), sum: sum, value: value})
	return value, scratch
}

// compress returns value compressed into a buffer of its own size, and
// scratch grown. s2 wants a buffer of the worst case to compress without
// allocating.
func compress(value, scratch []byte) ([]byte, []byte) {
	scratch = s2.Encode(scratch[:cap(scratch)], value)
	return bytes.Clone(scratch), scratch
}

// take returns the copy of the record key names, made from a value of
// size bytes hashing to sum, and forgets it: the second reader took it.
func (p *Packer) take(key packKey, size int, sum uint64) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range []*packGeneration{&p.fresh, &p.stale} {
		c, ok := g.copies[key]
		if !ok {
			continue
		}
		delete(g.copies, key)
		g.bytes -= int64(cap(c.value))
		if c.size == size && c.sum == sum {
			return c.value, true
		}
	}
	return nil, false
}

// put keeps c for the record key names, for its second reader.
func (p *Packer) put(key packKey, c packed) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fresh.bytes+int64(cap(c.value)) > p.maxBytes/2 || now.Sub(p.fresh.start) > p.maxAge/2 {
		p.stale = p.fresh
		p.fresh = packGeneration{}
	}
	if p.fresh.copies == nil {
		p.fresh = packGeneration{copies: make(map[packKey]packed), start: now}
	}
	if old, ok := p.fresh.copies[key]; ok {
		p.fresh.bytes -= int64(cap(old.value))
	}
	p.fresh.copies[key] = c
	p.fresh.bytes += int64(cap(c.value))
}

// waiting returns how many copies wait for their second reader, and their
// bytes.
func (p *Packer) waiting() (int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.fresh.copies) + len(p.stale.copies), p.fresh.bytes + p.stale.bytes
}
