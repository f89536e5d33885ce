package schema

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Block formats. BlockFormatV3 is the Parquet layout SpanRowV3 describes,
// which writers write. V2 is SpanRow's, with the resource and scope in
// columns of their own; V1 also lacks the trace summaries (SpanRow.Trace).
// Readers read all three.
const (
	BlockFormatV1 = "spanlog-parquet-v1"
	BlockFormatV2 = "spanlog-parquet-v2"
	BlockFormatV3 = "spanlog-parquet-v3"
)

// KnownBlockFormat reports whether this build reads blocks of format f.
func KnownBlockFormat(f string) bool {
	return f == BlockFormatV1 || f == BlockFormatV2 || f == BlockFormatV3
}

// HasTraceSummaries reports whether blocks of format f store trace
// summaries (SpanRow.Trace): v2 on.
func HasTraceSummaries(f string) bool {
	return f == BlockFormatV2 || f == BlockFormatV3
}

// OffsetRange is a half-open range [Start, End) of offsets of one partition
// of the log.
type OffsetRange struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"startOffset"`
	End       int64 `json:"endOffset"`
}

// Contains reports whether o covers every offset of other.
func (o OffsetRange) Contains(other OffsetRange) bool {
	return o.Partition == other.Partition && o.Start <= other.Start && other.End <= o.End
}

// BlockMeta describes one block: what it holds and which part of the log it
// was built from. It is written after the block's data, so a block without
// meta does not exist.
type BlockMeta struct {
	Format   string    `json:"format"`
	BlockID  uuid.UUID `json:"blockID"`
	Tenant   string    `json:"tenant"`
	Created  time.Time `json:"createdAt"`
	MinStart time.Time `json:"startTime"` // earliest span start (or end, if before its start)
	MaxEnd   time.Time `json:"endTime"`   // latest span end (or start); 2262 at most

	TotalSpans  int64 `json:"totalSpans"`
	TotalTraces int64 `json:"totalTraces"`
	// Size is the size of the data object in bytes.
	Size int64 `json:"size"`
	// DataCRC32C is the CRC-32C (Castagnoli) of the whole data object, as
	// 8 hex digits, so that a check of the block (spanlog blocks verify)
	// can tell the object is byte for byte the one written: Parquet's page
	// checksums leave out its footer, page index and bloom filters, where
	// a flipped bit goes unnoticed until a lookup misses a trace. Empty in
	// blocks written before it existed.
	DataCRC32C string `json:"dataCRC32C,omitempty"`

	// MinTraceID and MaxTraceID bound the trace IDs in the block (hex).
	MinTraceID string `json:"minTraceID"`
	MaxTraceID string `json:"maxTraceID"`

	// KafkaRanges are the parts of the log the block was built from: one
	// range for a block-builder's block, several after compaction. Every
	// span of the tenant in these ranges is in the block.
	KafkaRanges []OffsetRange `json:"kafkaRanges"`

	// CompactionLevel is 0 for a block-builder's block, and one above the
	// highest of its inputs for a block that merged others. Omitted when
	// zero, so a builder's meta reads as it did before compaction existed.
	CompactionLevel int `json:"compactionLevel,omitempty"`

	// Foreign says the block holds spans of foreign records (see
	// Foreign): another writer put them in the log, partitioned as it
	// pleased, so a trace of them may be in any partition, not only those
	// of TracePartitions, and a lookup reads the block whatever the
	// trace's partition. Omitted when false, as in every block of
	// spanlog's own records.
	Foreign bool `json:"foreign,omitempty"`
}

// UnionRanges returns the offsets that ranges cover, as ranges sorted by
// partition and start, with those that overlap or touch merged into one:
// the canonical form of a set of offsets, whatever blocks it came from.
func UnionRanges(ranges []OffsetRange) []OffsetRange {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, compareRanges)
	var out []OffsetRange
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Partition == r.Partition && r.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

func compareRanges(a, b OffsetRange) int {
	return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End))
}

// blockIDSpace is the UUID namespace of block IDs (a fixed random UUID).
var blockIDSpace = uuid.MustParse("6d1f1c1e-5c39-4a4e-9c0b-7d8f3b8b2a51")

// BlockID returns the identity of the block holding tenant's spans from
// ranges. It is derived, not random, so that replaying the same offsets
// rebuilds the same block and overwrites it instead of adding a copy.
func BlockID(tenant string, ranges []OffsetRange) uuid.UUID {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, func(a, b OffsetRange) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Start - b.Start)
	})
	name := make([]byte, 0, len(tenant)+1+20*len(rs))
	name = append(name, tenant...)
	name = append(name, 0)
	for _, r := range rs {
		name = binary.BigEndian.AppendUint32(name, uint32(r.Partition))
		name = binary.BigEndian.AppendUint64(name, uint64(r.Start))
		name = binary.BigEndian.AppendUint64(name, uint64(r.End))
	}
	return uuid.NewSHA1(blockIDSpace, name)
}

// Supersedes reports whether block m holds everything block other holds:
// same tenant, and every range of other lies within a range of m. Such an
// other is a leftover of a replay or an input of a compaction, and readers
// may skip it.
func (m *BlockMeta) Supersedes(other *BlockMeta) bool {
	if m.Tenant != other.Tenant || m.BlockID == other.BlockID {
		return false
	}
	for _, o := range other.KafkaRanges {
		if !slices.ContainsFunc(m.KafkaRanges, func(r OffsetRange) bool { return r.Contains(o) }) {
			return false
		}
	}
	return len(other.KafkaRanges) > 0
}

// MarshalMeta encodes m as meta.json.
func MarshalMeta(m *BlockMeta) ([]byte, error) {
	return json.MarshalIndent(m, "", "  ")
}

// UnmarshalMeta decodes meta.json and checks that it is a block this build
// can read.
func UnmarshalMeta(b []byte) (*BlockMeta, error) {
	var m BlockMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode block meta: %w", err)
	}
	if !KnownBlockFormat(m.Format) {
		return nil, fmt.Errorf("block %s: unknown format %q", m.BlockID, m.Format)
	}
	return &m, nil
}
