package generator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/klauspost/compress/s2"
)

// A partition's state is saved as one object: a header, then each
// tenant's entries, in a binary layout of varints, compressed with s2.

// stateMagic starts every state object, with the layout's version.
const stateMagic = "spanlog-metrics-generator-state\x00\x01"

var errCorruptState = errors.New("corrupt metrics-generator state")

// fingerprint identifies what the entries of a state mean: the label
// names and buckets of each kind. State saved under another fingerprint
// keeps its offset but not its entries.
func (d *deriver) fingerprint() uint64 {
	h := fnv.New64a()
	var b []byte
	for k, spec := range d.specs {
		if spec == nil {
			continue
		}
		b = append(b[:0], byte(k))
		for _, l := range spec.labels {
			b = binary.AppendUvarint(b, uint64(len(l)))
			b = append(b, l...)
		}
		for _, x := range spec.buckets {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		h.Write(b)
	}
	return h.Sum64()
}

// encodeState returns p as a state object.
func encodeState(p *partitionState, fingerprint uint64) []byte {
	b := append([]byte(nil), stateMagic...)
	b = binary.AppendUvarint(b, fingerprint)
	b = binary.AppendVarint(b, p.offset)
	b = binary.AppendVarint(b, p.logTime)
	b = binary.AppendVarint(b, p.sweptAt)
	b = binary.AppendVarint(b, p.expiredAt)
	b = binary.AppendUvarint(b, uint64(len(p.tenants)))
	for id, t := range p.tenants {
		b = appendString(b, id)
		b = binary.AppendUvarint(b, uint64(len(t.entries)))
		for _, e := range t.entries {
			b = appendEntry(b, e)
		}
		pending := t.edges.pending()
		b = binary.AppendUvarint(b, uint64(len(pending)))
		for _, h := range pending {
			b = appendHalf(b, h)
		}
	}
	return s2.Encode(nil, b)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendHalf(b []byte, h *half) []byte {
	b = append(b, h.key[:]...)
	var flags byte
	if h.client {
		flags |= 1
	}
	if h.failed {
		flags |= 2
	}
	b = append(b, flags)
	b = appendString(b, h.service)
	b = appendString(b, h.conn)
	b = appendString(b, h.peer)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(h.seconds))
	return binary.AppendVarint(b, h.arrived)
}

func appendEntry(b []byte, e *entry) []byte {
	b = append(b, byte(e.kind))
	b = binary.AppendUvarint(b, uint64(len(e.labels)))
	for _, l := range e.labels {
		b = appendString(b, l)
	}
	b = binary.AppendUvarint(b, e.count)
	b = binary.AppendUvarint(b, e.failed)
	b = binary.AppendVarint(b, e.lastSeen)
	b = binary.AppendUvarint(b, uint64(len(e.hists)))
	for i := range e.hists {
		h := &e.hists[i]
		b = binary.AppendUvarint(b, uint64(len(h.counts)))
		for _, c := range h.counts {
			b = binary.AppendUvarint(b, c)
		}
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(h.sum))
		if h.exemplar.set {
			b = append(b, 1)
			b = append(b, h.exemplar.traceID[:]...)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(h.exemplar.value))
		} else {
			b = append(b, 0)
		}
	}
	return b
}

// decodeState reads a state object of partition. A state saved under
// another fingerprint than d's comes back with its offset and log time
// only, and compatible false.
func (d *deriver) decodeState(obj []byte, partition int32) (p *partitionState, compatible bool, err error) {
	raw, err := s2.Decode(nil, obj)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", errCorruptState, err)
	}
	r := &stateReader{b: raw}
	if string(r.bytes(len(stateMagic))) != stateMagic {
		return nil, false, fmt.Errorf("%w: unknown layout", errCorruptState)
	}
	fp := r.uvarint()
	p = newPartitionState(partition, r.varint())
	p.logTime = r.varint()
	p.sweptAt = r.varint()
	p.expiredAt = r.varint()
	if fp != d.fingerprint() {
		if r.err != nil {
			return nil, false, r.err
		}
		return p, false, nil
	}
	for range r.count() {
		t := p.tenant(r.string())
		for range r.count() {
			e := r.entry()
			if r.err != nil {
				break
			}
			if err := d.checkEntry(e); err != nil {
				return nil, false, err
			}
			t.entries[string(appendKey(nil, e.kind, e.labels))] = e
			t.active += d.cost(e.kind)
		}
		for range r.count() {
			h := r.half()
			if r.err != nil {
				break
			}
			t.edges.add(h)
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%w: %d bytes past the end", errCorruptState, len(r.b))
	}
	if r.err != nil {
		return nil, false, r.err
	}
	p.saved = true
	return p, true, nil
}

// stateReader reads what encodeState wrote; the first error sticks and
// every read after it returns zero values.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated", errCorruptState)
	}
	r.b = nil
}

func (r *stateReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length, which cannot exceed the bytes left.
func (r *stateReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *stateReader) bytes(n int) []byte {
	if n > len(r.b) {
		r.fail()
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *stateReader) byte() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *stateReader) string() string { return string(r.bytes(r.count())) }

func (r *stateReader) float() float64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

func (r *stateReader) half() *half {
	h := &half{}
	copy(h.key[:], r.bytes(len(h.key)))
	flags := r.byte()
	h.client, h.failed = flags&1 != 0, flags&2 != 0
	h.service = r.string()
	h.conn = r.string()
	h.peer = r.string()
	h.seconds = r.float()
	h.arrived = r.varint()
	return h
}

func (r *stateReader) entry() *entry {
	k := kind(r.byte())
	labels := make([]string, r.count())
	for i := range labels {
		labels[i] = r.string()
	}
	count, failed, lastSeen := r.uvarint(), r.uvarint(), r.varint()
	e := newEntry(r.count())
	e.kind, e.labels, e.count, e.failed, e.lastSeen = k, labels, count, failed, lastSeen
	for i := range e.hists {
		h := &e.hists[i]
		h.counts = make([]uint64, r.count())
		for j := range h.counts {
			h.counts[j] = r.uvarint()
		}
		h.sum = r.float()
		if r.byte() == 1 {
			copy(h.exemplar.traceID[:], r.bytes(16))
			h.exemplar.value = r.float()
			h.exemplar.set = true
		}
	}
	return e
}

// checkEntry refuses an entry the deriver could not have made.
func (d *deriver) checkEntry(e *entry) error {
	if int(e.kind) >= len(d.specs) || d.specs[e.kind] == nil {
		return fmt.Errorf("%w: entry of unknown kind %d", errCorruptState, e.kind)
	}
	spec := d.specs[e.kind]
	if len(e.labels) != len(spec.labels) || len(e.hists) != spec.histograms() {
		return fmt.Errorf("%w: entry of kind %d does not fit its kind", errCorruptState, e.kind)
	}
	for _, h := range e.hists {
		if len(h.counts) != 0 && len(h.counts) != len(spec.buckets)+1 {
			return fmt.Errorf("%w: histogram of %d buckets, want %d", errCorruptState, len(h.counts), len(spec.buckets)+1)
		}
	}
	return nil
}
