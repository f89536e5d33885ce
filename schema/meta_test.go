package schema

import (
	"bytes"
	"slices"
	"testing"
)

func TestUnionRanges(t *testing.T) {
	r := func(p int32, start, end int64) OffsetRange { return OffsetRange{Partition: p, Start: start, End: end} }
	for _, tc := range []struct {
		name     string
		in, want []OffsetRange
	}{
		{"none", nil, nil},
		{"one", []OffsetRange{r(1, 5, 9)}, []OffsetRange{r(1, 5, 9)}},
		{"adjacent, out of order", []OffsetRange{r(1, 10, 20), r(1, 0, 10)}, []OffsetRange{r(1, 0, 20)}},
		{"a gap stays", []OffsetRange{r(1, 0, 10), r(1, 11, 20)}, []OffsetRange{r(1, 0, 10), r(1, 11, 20)}},
		{"overlapping, as after a replay", []OffsetRange{r(1, 0, 10), r(1, 5, 25), r(1, 10, 20)}, []OffsetRange{r(1, 0, 25)}},
		{"contained", []OffsetRange{r(1, 0, 30), r(1, 5, 10)}, []OffsetRange{r(1, 0, 30)}},
		{"partitions apart", []OffsetRange{r(2, 10, 20), r(1, 20, 30), r(1, 10, 20)}, []OffsetRange{r(1, 10, 30), r(2, 10, 20)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			if got := UnionRanges(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if !slices.Equal(in, tc.in) {
				t.Errorf("input changed to %v", tc.in)
			}
		})
	}
}

// TestCompactionLevelOmittedWhenZero: a builder's meta reads and writes as
// it did before compaction levels existed.
func TestCompactionLevelOmittedWhenZero(t *testing.T) {
	m := &BlockMeta{Format: BlockFormatV1, Tenant: "t", KafkaRanges: []OffsetRange{{Partition: 1, End: 5}}}
	b, err := MarshalMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("compactionLevel")) {
		t.Errorf("level 0 written: %s", b)
	}
	m.CompactionLevel = 2
	if b, err = MarshalMeta(m); err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.CompactionLevel != 2 {
		t.Errorf("level %d read back, want 2", got.CompactionLevel)
	}
}

func TestMergedBlockSupersedesItsInputs(t *testing.T) {
	meta := func(level int, ranges ...OffsetRange) *BlockMeta {
		return &BlockMeta{Tenant: "t", BlockID: BlockID("t", ranges), KafkaRanges: ranges, CompactionLevel: level}
	}
	a := meta(0, OffsetRange{Partition: 1, Start: 0, End: 10})
	b := meta(0, OffsetRange{Partition: 1, Start: 10, End: 20})
	replay := meta(0, OffsetRange{Partition: 1, Start: 5, End: 15})
	merged := meta(1, UnionRanges(slices.Concat(a.KafkaRanges, b.KafkaRanges, replay.KafkaRanges))...)
	for _, in := range []*BlockMeta{a, b, replay} {
		if !merged.Supersedes(in) {
			t.Errorf("merged block %v does not supersede %v", merged.KafkaRanges, in.KafkaRanges)
		}
		if in.Supersedes(merged) {
			t.Errorf("input %v supersedes the merged block", in.KafkaRanges)
		}
	}
	if merged.Supersedes(merged) {
		t.Error("a block supersedes itself")
	}
}
