package blocklist

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// rangesOf parses "p:start-end p:start-end ..." into offset ranges.
func rangesOf(t testing.TB, s string) []schema.OffsetRange {
	t.Helper()
	var out []schema.OffsetRange
	for f := range strings.FieldsSeq(s) {
		var r schema.OffsetRange
		if _, err := fmt.Sscanf(f, "%d:%d-%d", &r.Partition, &r.Start, &r.End); err != nil {
			t.Fatalf("range %q: %v", f, err)
		}
		out = append(out, r)
	}
	return out
}

func TestSupersession(t *testing.T) {
	for _, tc := range []struct {
		name   string
		blocks map[string]string // name: ranges
		want   map[string]string // hidden block: a block hiding it
	}{
		{
			name:   "a block-builder's blocks hide none",
			blocks: map[string]string{"a": "0:0-10", "b": "0:10-20", "c": "1:0-10", "d": "0:20-25"},
		},
		{
			name:   "a compaction hides its inputs",
			blocks: map[string]string{"a": "0:0-10", "b": "0:10-20", "c": "0:20-30", "ab": "0:0-20"},
			want:   map[string]string{"a": "ab", "b": "ab"},
		},
		{
			name:   "inputs with a gap between them",
			blocks: map[string]string{"a": "0:0-10", "b": "0:15-20", "ab": "0:0-10 0:15-20", "c": "0:10-15"},
			want:   map[string]string{"a": "ab", "b": "ab"},
		},
		{
			name:   "a second level hides the first and what is left of level zero",
			blocks: map[string]string{"a": "0:0-10", "b": "0:10-20", "ab": "0:0-20", "cd": "0:20-40", "abcd": "0:0-40", "e": "0:40-50"},
			want:   map[string]string{"a": "ab", "b": "ab", "ab": "abcd", "cd": "abcd"},
		},
		{
			name:   "a replay that cut a partition longer",
			blocks: map[string]string{"short": "0:0-10", "long": "0:0-12", "next": "0:12-20"},
			want:   map[string]string{"short": "long"},
		},
		{
			name:   "overlap without containment hides nothing",
			blocks: map[string]string{"a": "0:0-10", "b": "0:5-15"},
		},
		{
			name:   "another partition's range hides nothing",
			blocks: map[string]string{"a": "0:0-10", "b": "1:0-10", "c": "1:0-20"},
			want:   map[string]string{"b": "c"},
		},
		{
			name:   "a block must be within the other in every range",
			blocks: map[string]string{"wide": "0:0-100", "split": "0:10-20 0:200-210", "both": "0:0-100 0:200-300"},
			want:   map[string]string{"split": "both", "wide": "both"},
		},
		{
			name:   "the same offsets under two IDs: the lower ID stays",
			blocks: map[string]string{"x": "0:0-10", "y": "0:0-10"},
			want:   map[string]string{"?": "?"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			metas := map[uuid.UUID]*schema.BlockMeta{}
			byID := map[uuid.UUID]string{}
			for name, rs := range tc.blocks {
				// Random IDs: the identical ranges of the last case
				// would otherwise give one.
				m := &schema.BlockMeta{BlockID: uuid.New(), Tenant: "t", KafkaRanges: rangesOf(t, rs)}
				metas[m.BlockID], byID[m.BlockID] = m, name
			}
			got := map[string]string{}
			for id, by := range supersession(metas) {
				got[byID[id]] = byID[by.BlockID]
			}
			want := tc.want
			if want["?"] == "?" {
				x, y := idOf(byID, "x"), idOf(byID, "y")
				lo, hi := "x", "y"
				if slices.Compare(y[:], x[:]) < 0 {
					lo, hi = "y", "x"
				}
				want = map[string]string{hi: lo}
			}
			if !maps.Equal(got, want) {
				t.Fatalf("hidden %v, want %v", got, want)
			}
		})
	}
}

func idOf(byID map[uuid.UUID]string, name string) uuid.UUID {
	for id, n := range byID {
		if n == name {
			return id
		}
	}
	panic(name)
}

// writeSpans stores a block of tenant built from ranges, holding one span
// of each of traces, ending at end.
func writeSpans(t *testing.T, bkt objstore.Bucket, tenant string, end time.Time, ranges string, traces ...byte) *schema.BlockMeta {
	t.Helper()
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for _, tr := range traces {
		s := ss.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0: 1, 15: tr})
		s.SetSpanID(pcommon.SpanID{0: 1})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Second)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	}
	b := block.NewBuilder(tenant, block.DefaultOptions())
	b.Add(td)
	m, err := b.Write(context.Background(), bkt, rangesOf(t, ranges))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReadersSkipSupersededAndExpiredBlocks: with a compaction's block
// and its inputs all in the bucket, readers get the compaction's block
// only, and no block past retention, whether the poll lists or reads the
// index; the furthest end of the blocks, which the live tail is trimmed
// to, is the same as before the compaction.
func TestReadersSkipSupersededAndExpiredBlocks(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	for _, useIndex := range []bool{false, true} {
		t.Run(fmt.Sprintf("index %v", useIndex), func(t *testing.T) {
			bkt := newBucket(t)
			a := writeSpans(t, bkt, "t1", now, "0:0-10", 1, 2)
			b := writeSpans(t, bkt, "t1", now, "0:10-20", 2, 3)
			old := writeSpans(t, bkt, "t1", now.Add(-48*time.Hour), "1:0-5", 4)
			bl, err := New(DefaultConfig(), bkt, Options{UseIndex: useIndex, Retention: func(tenant string) time.Duration {
				return map[string]time.Duration{"t1": 24 * time.Hour}[tenant]
			}}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			writeIndex(t, bkt, "t1", 20, a, b, old)
			if err := bl.Poll(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if got, want := ids(bl.Metas("t1")), ids([]*schema.BlockMeta{a, b}); !slices.Equal(got, want) {
				t.Fatalf("before the compaction, readers read %v, want %v", got, want)
			}
			coveredBefore := bl.CoveredEnd("t1", 0)

			ab := writeSpans(t, bkt, "t1", now, "0:0-20", 1, 2, 3)
			writeIndex(t, bkt, "t1", 20, a, b, old, ab)
			if err := bl.Poll(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if got, want := ids(bl.Metas("t1")), ids([]*schema.BlockMeta{ab}); !slices.Equal(got, want) {
				t.Fatalf("during the compaction, readers read %v, want only the compaction's block %v", got, want)
			}
			if got, want := ids(bl.Known("t1")), ids([]*schema.BlockMeta{a, b, old, ab}); !slices.Equal(got, want) {
				t.Errorf("known %v, want every block %v", got, want)
			}
			by := bl.SupersededBy("t1")
			if len(by) != 2 || by[a.BlockID] == nil || by[a.BlockID].BlockID != ab.BlockID || by[b.BlockID] == nil || by[b.BlockID].BlockID != ab.BlockID {
				t.Errorf("superseded %v, want a and b by the compaction's block", by)
			}
			if got := bl.CoveredEnd("t1", 0); got != coveredBefore || got != 20 {
				t.Errorf("covered end %d, before the compaction %d, want 20", got, coveredBefore)
			}

			// The inputs deleted, meta first.
			for _, m := range []*schema.BlockMeta{a, b} {
				if err := bkt.Delete(ctx, block.MetaName("t1", m.BlockID)); err != nil {
					t.Fatal(err)
				}
			}
			writeIndex(t, bkt, "t1", 20, ab)
			if err := bl.Poll(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if got, want := ids(bl.Metas("t1")), ids([]*schema.BlockMeta{ab}); !slices.Equal(got, want) {
				t.Fatalf("after the compaction, readers read %v, want %v", got, want)
			}
		})
	}
}
