package compactor

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/schema"
)

// planBlock is a block as the planner sees it: partition 0 from start to
// end, ending at minute end of the hour of 2026-12-01 10:00, at a level,
// of some size.
type planBlock struct {
	name       string
	start, end int64
	minute     int
	level      int
	size       int64
}

func TestPlan(t *testing.T) {
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	closed := base.Add(3 * time.Hour) // the 10:00 window is over
	open := base.Add(30 * time.Minute)
	// seq is n blocks of a level, every other ten offsets from first.
	seq := func(prefix string, first int64, n, level int) []planBlock {
		var out []planBlock
		for i := range n {
			start := first + int64(20*i)
			out = append(out, planBlock{fmt.Sprintf("%s%d", prefix, i), start, start + 10, i, level, 100})
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		blocks    []planBlock
		now       time.Time
		committed int64
		maxBytes  int64
		failed    map[string]int // jobs failed per block
		want      string         // jobs, each its inputs: "a0 a1 | a2 a3"
	}{
		{
			name:   "an open window waits for a full job of one level",
			blocks: append(seq("a", 0, 6, 0), seq("b", 10, 3, 1)...),
			now:    open,
			want:   "a0 a1 a2 a3",
		},
		{
			name:   "a closed window merges what is left, levels mixed",
			blocks: append(seq("a", 0, 6, 0), seq("b", 10, 3, 1)...),
			now:    closed,
			want:   "a0 b0 a1 b1 | a2 b2 a3 a4 | a5",
		},
		{
			name:   "one block is not a job",
			blocks: seq("a", 0, 1, 0),
			now:    closed,
		},
		{
			name:      "blocks above the builders' commit wait",
			blocks:    seq("a", 0, 6, 0),
			now:       closed,
			committed: 75,
			want:      "a0 a1 a2 a3",
		},
		{
			name:     "inputs add up to at most max bytes; a block that large is never an input",
			blocks:   []planBlock{{"a", 0, 10, 1, 0, 150}, {"b", 10, 20, 2, 0, 100}, {"c", 20, 30, 3, 0, 100}, {"big", 30, 40, 4, 0, 300}, {"d", 40, 50, 5, 0, 100}, {"e", 50, 60, 6, 0, 100}},
			now:      closed,
			maxBytes: 300,
			want:     "a b | c d e",
		},
		{
			name:   "windows are never mixed",
			blocks: []planBlock{{"a", 0, 10, 10, 0, 1}, {"b", 10, 20, 70, 0, 1}, {"c", 20, 30, 80, 0, 1}, {"d", 30, 40, 20, 0, 1}},
			now:    closed,
			want:   "a d | b c",
		},
		{
			name:   "a failing block goes in smaller jobs",
			blocks: seq("a", 0, 8, 0),
			now:    closed,
			failed: map[string]int{"a2": 1},
			want:   "a0 a1 | a2 a3 | a4 a5 a6 a7",
		},
		{
			name:   "a block set aside is left out",
			blocks: seq("a", 0, 5, 0),
			now:    closed,
			failed: map[string]int{"a1": failureLimit},
			want:   "a0 a2 a3 a4",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names := map[uuid.UUID]string{}
			var metas []*schema.BlockMeta
			f := newFailures(Config{MaxInputBlocks: 4, CompactionInterval: time.Minute}, nil)
			for _, b := range tc.blocks {
				r := schema.OffsetRange{Partition: 0, Start: b.start, End: b.end}
				m := &schema.BlockMeta{
					BlockID: schema.BlockID("t", []schema.OffsetRange{r}), Tenant: "t", KafkaRanges: []schema.OffsetRange{r},
					MaxEnd: base.Add(time.Duration(b.minute) * time.Minute), CompactionLevel: b.level, Size: b.size,
				}
				names[m.BlockID] = b.name
				metas = append(metas, m)
				for range tc.failed[b.name] {
					f.failed(job{inputs: []*schema.BlockMeta{m}}, time.Now())
				}
			}
			pl := planner{window: time.Hour, maxInputs: 4, maxBytes: 1 << 40, maxInputsOf: f.maxInputsOf}
			if tc.maxBytes > 0 {
				pl.maxBytes = tc.maxBytes
			}
			committed := tc.committed
			if committed == 0 {
				committed = 1 << 40
			}
			// The order the blocklist gives them in does not matter.
			slices.Reverse(metas)
			var got []string
			for _, j := range pl.plan("t", 0, metas, committed, tc.now) {
				var in []string
				for _, m := range j.inputs {
					in = append(in, names[m.BlockID])
				}
				got = append(got, strings.Join(in, " "))
			}
			// A run of one is not a job: "a0 | a1 a2" is written for
			// clarity, the plan has no "a0".
			var want []string
			for w := range strings.SplitSeq(tc.want, " | ") {
				if strings.Contains(w, " ") {
					want = append(want, w)
				}
			}
			if strings.Join(got, " | ") != strings.Join(want, " | ") {
				t.Fatalf("jobs %q, want %q", got, want)
			}
		})
	}
}
