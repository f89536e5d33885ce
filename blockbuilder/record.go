package blockbuilder

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// record is a record of the log as the builder holds it from its fetch
// until its block is written: its value compressed, its tenant read from
// its headers, and nothing of the fetch buffer it came in.
//
// OTLP protobuf repeats attribute keys and resources from span to span,
// and compresses 3 to 5 times. s2 compresses at several hundred megabytes
// a second, decompresses at over a gigabyte, and a block being written in
// parts decompresses each record once per part it holds spans of.
type record struct {
	partition int32
	epoch     int32 // leader epoch, for the commit
	offset    int64
	timestamp time.Time
	// size is the bytes of the value as in the log, which the cut of a
	// block by max-block-bytes counts: it depends on the log alone.
	size   int64
	tenant string
	// foreign says another writer than spanlog's distributor made it
	// (schema.Foreign).
	foreign bool
	// invalid says why no block can hold the record, from its headers;
	// such a record keeps no value.
	invalid error
	packed  []byte // the value in s2's block format
}

// recordOverhead is what holding a record costs beside its packed value:
// the record and its place in the pending block's list.
const recordOverhead = int64(unsafe.Sizeof(record{})) + 8

// hold returns what the builder keeps of r, its value compressed by packer
// through scratch, whose grown buffer it returns. The compressed value
// may be shared with the live tail of the same process (tracelog.Packer):
// it is never modified.
func hold(r *kgo.Record, tenancy schema.RecordTenancy, packer *tracelog.Packer, scratch []byte) (*record, []byte) {
	h := &record{
		partition: r.Partition,
		epoch:     r.LeaderEpoch,
		offset:    r.Offset,
		timestamp: r.Timestamp,
		size:      int64(len(r.Value)),
		foreign:   schema.Foreign(r),
	}
	h.tenant, h.invalid = schema.RecordTenant(r, tenancy)
	if h.invalid != nil {
		return h, scratch
	}
	h.packed, scratch = packer.Pack(r, scratch)
	return h, scratch
}

// heldBytes is the memory the record takes.
func (r *record) heldBytes() int64 {
	return int64(cap(r.packed)) + recordOverhead
}

// value returns the record's value, decompressed into buf.
func (r *record) value(buf []byte) ([]byte, error) {
	v, err := s2.Decode(buf[:cap(buf)], r.packed)
	if err != nil {
		// Only a bug can get here: the builder compressed it itself.
		return nil, fmt.Errorf("record at partition %d offset %d: decompress: %w", r.partition, r.offset, err)
	}
	return v, nil
}

// position returns a record with r's partition and offset, which is what
// the log of skipped records reports.
func (r *record) position() *kgo.Record {
	return &kgo.Record{Partition: r.partition, Offset: r.offset}
}
