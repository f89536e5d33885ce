package tracelog

import (
	"math/bits"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReaderPools returns the option that makes a reader's client decompress
// fetched record batches into, and decode their records into, memory it
// reuses from batch to batch instead of allocating: each reader
// decompresses every batch of the partitions it reads, and without reuse
// the batches are most of what the readers allocate, so they set how
// often the garbage collector runs.
//
// A reader given it must call Recycle on every record it polled once it
// is done with it, and keep nothing that points into the record (its
// value, key or headers) past that: the memory goes to the next batch.
// A record it never recycles is only not reused. The memory pooled is
// what the client holds of fetched batches while they are being read,
// and what is idle goes at the garbage collector's next cycles (it is
// kept in sync.Pools).
func ReaderPools() kgo.Opt {
	return kgo.WithPools(newReaderPool())
}

// Recycle gives every record of fetches back to its client's pools (see
// ReaderPools).
func Recycle(fetches kgo.Fetches) {
	fetches.EachRecord(func(r *kgo.Record) { r.Recycle() })
}

// readerPool is the memory ReaderPools lends a client: buffers batches
// are decompressed into and slices their records are decoded into, each
// kept by size class.
type readerPool struct {
	bytes   [byteClasses]sync.Pool   // of *[]byte
	records [recordClasses]sync.Pool // of *[]kgo.Record
}

func newReaderPool() *readerPool { return &readerPool{} }

// Byte buffers come in classes of 4 KiB, then 8 per doubling of size,
// so that a buffer is at most an eighth larger than the batch decompressed
// into it: the client zeroes a buffer's whole capacity before giving it
// back. Batches over the largest class are not pooled.
const (
	minBytesShift = 12 // 4 KiB
	maxBytesShift = 27 // 128 MiB
	byteSteps     = 8
	byteClasses   = 1 + (maxBytesShift-minBytesShift)*byteSteps
)

// byteClassUp returns the class of the smallest buffers that hold n bytes,
// and their size; ok is false when n is over the largest class.
func byteClassUp(n int) (class, size int, ok bool) {
	if n <= 1<<minBytesShift {
		return 0, 1 << minBytesShift, true
	}
	e := bits.Len(uint(n - 1)) // 1<<(e-1) < n <= 1<<e
	if e > maxBytesShift {
		return 0, 0, false
	}
	step := 1 << (e - 1) / byteSteps
	s := (n - 1<<(e-1) + step - 1) / step // 1..byteSteps
	return (e-1-minBytesShift)*byteSteps + s, 1<<(e-1) + s*step, true
}

// byteClassDown returns the class of the largest buffers a buffer of
// capacity c can serve as; ok is false when c is below the smallest class
// or over the largest.
func byteClassDown(c int) (class int, ok bool) {
	if c < 1<<minBytesShift {
		return 0, false
	}
	e := bits.Len(uint(c)) - 1 // 1<<e <= c < 1<<(e+1)
	if e >= maxBytesShift {
		return byteClasses - 1, e == maxBytesShift
	}
	step := 1 << e / byteSteps
	return (e-minBytesShift)*byteSteps + (c-1<<e)/step, true
}

// GetDecompressBytes returns a buffer for a batch's records: of their size
// when the codec's header says it (snappy), else of a guess.
func (p *readerPool) GetDecompressBytes(compressed []byte, codec kgo.CompressionCodecType) []byte {
	n := 4 * len(compressed)
	if codec == kgo.CodecSnappy {
		if l, err := s2.DecodedLen(compressed); err == nil {
			n = l
		}
	}
	class, size, ok := byteClassUp(n)
	if !ok {
		return nil // the codec allocates
	}
	if buf, _ := p.bytes[class].Get().(*[]byte); buf != nil {
		return *buf
	}
	return make([]byte, 0, size)
}

// PutDecompressBytes keeps buf, which the client zeroed, for a later batch.
func (p *readerPool) PutDecompressBytes(buf []byte) {
	if class, ok := byteClassDown(cap(buf)); ok {
		p.bytes[class].Put(&buf)
	}
}

// Record slices come in classes of powers of two, up to recordClasses.
const recordClasses = 17 // 64 Ki records

// GetRecords returns a slice for a batch of n records.
func (p *readerPool) GetRecords(n int) []kgo.Record {
	class := bits.Len(uint(max(n, 1) - 1))
	if class >= recordClasses {
		return nil // the client allocates
	}
	if recs, _ := p.records[class].Get().(*[]kgo.Record); recs != nil {
		return *recs
	}
	return make([]kgo.Record, 0, 1<<class)
}

// PutRecords keeps recs for a later batch. Their records were recycled,
// which zeroes them, or were never handed out.
func (p *readerPool) PutRecords(recs []kgo.Record) {
	class := bits.Len(uint(cap(recs))) - 1
	if class >= 0 && class < recordClasses {
		recs = recs[:0]
		p.records[class].Put(&recs)
	}
}
