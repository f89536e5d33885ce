package blockbuilder

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func rec(offset int64, at time.Duration, size int) *record {
	return &record{offset: offset, timestamp: t0.Add(at), size: int64(size)}
}

func TestPendingCuts(t *testing.T) {
	const cycle = 10 * time.Second
	tests := []struct {
		name      string
		records   []*record
		maxBytes  int64
		wantTaken int   // records in the block
		wantNext  int64 // end offset of the block
		wantCut   bool
	}{
		{
			name:      "all within one cycle",
			records:   []*record{rec(5, 1*time.Second, 10), rec(6, 4*time.Second, 10), rec(7, 9*time.Second, 10)},
			maxBytes:  1 << 20,
			wantTaken: 3, wantNext: 8,
		},
		{
			name:      "cut at the first record of the next cycle",
			records:   []*record{rec(5, 1*time.Second, 10), rec(6, 10*time.Second, 10), rec(7, 2*time.Second, 10)},
			maxBytes:  1 << 20,
			wantTaken: 1, wantNext: 6, wantCut: true,
		},
		{
			name:      "cut before the record that would pass the byte limit",
			records:   []*record{rec(0, 0, 40), rec(1, 0, 40), rec(2, 0, 40)},
			maxBytes:  100,
			wantTaken: 2, wantNext: 2, wantCut: true,
		},
		{
			name:      "a record larger than the limit still forms a block",
			records:   []*record{rec(0, 0, 500)},
			maxBytes:  100,
			wantTaken: 1, wantNext: 1,
		},
		{
			name:      "gaps in offsets are spanned",
			records:   []*record{rec(3, 0, 1), rec(9, time.Second, 1)},
			maxBytes:  100,
			wantTaken: 2, wantNext: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPending(tt.records[0], cycle)
			for _, r := range tt.records {
				p.offer(r, tt.maxBytes)
			}
			if len(p.records) != tt.wantTaken || p.next != tt.wantNext || p.cut != tt.wantCut {
				t.Fatalf("taken %d next %d cut %v; want %d %d %v", len(p.records), p.next, p.cut, tt.wantTaken, tt.wantNext, tt.wantCut)
			}
			if p.start != tt.records[0].offset {
				t.Fatalf("start %d, want %d", p.start, tt.records[0].offset)
			}
			if got := len(p.records) + len(p.carry); got != len(tt.records) {
				t.Fatalf("%d records kept, %d offered", got, len(tt.records))
			}
		})
	}
}

// A builder that replays from the committed offset cuts the same ranges as
// the one that read the partition live, however the records were fetched.
func TestPendingReplayCutsTheSameRanges(t *testing.T) {
	const cycle = 10 * time.Second
	var log []*record
	for i := range 100 {
		log = append(log, rec(int64(i), time.Duration(i)*700*time.Millisecond, 100))
	}
	ranges := func(batches [][]*record) [][2]int64 {
		var out [][2]int64
		var p *pending
		for _, batch := range batches {
			for _, r := range batch {
				if p == nil {
					p = newPending(r, cycle)
				}
				p.offer(r, 2000)
			}
			for p != nil && p.cut {
				out = append(out, [2]int64{p.start, p.next})
				p = p.successor(cycle, 2000)
			}
		}
		return out
	}
	oneFetch := ranges([][]*record{log})
	var manyFetches [][]*record
	for i := 0; i < len(log); i += 7 {
		manyFetches = append(manyFetches, log[i:min(i+7, len(log))])
	}
	if len(oneFetch) < 5 {
		t.Fatalf("only %d blocks cut; the test needs several", len(oneFetch))
	}
	if got := ranges(manyFetches); len(got) != len(oneFetch) {
		t.Fatalf("fetch sizes changed the cuts: %v vs %v", got, oneFetch)
	} else {
		for i := range got {
			if got[i] != oneFetch[i] {
				t.Fatalf("block %d: %v vs %v", i, got[i], oneFetch[i])
			}
		}
	}
	// Replay from the start of the third block, as after a crash before
	// its commit.
	from := oneFetch[2][0]
	replayed := ranges([][]*record{log[from:]})
	if len(replayed) != len(oneFetch)-2 {
		t.Fatalf("replay cut %d blocks, want %d", len(replayed), len(oneFetch)-2)
	}
	for i, r := range replayed {
		if r != oneFetch[i+2] {
			t.Fatalf("replayed block %d = %v, original %v", i, r, oneFetch[i+2])
		}
	}
}

func TestPendingIdleCut(t *testing.T) {
	p := newPending(rec(0, time.Second, 1), 10*time.Second)
	p.offer(rec(0, time.Second, 1), 100)
	cycleEnd := t0.Add(10 * time.Second)

	p.cutIfIdle(cycleEnd.Add(time.Second), 2*time.Second, 1)
	if p.cut {
		t.Fatal("cut before the idle delay passed")
	}
	p.cutIfIdle(cycleEnd.Add(3*time.Second), 2*time.Second, 5)
	if p.cut {
		t.Fatal("cut while records below the high watermark are unread")
	}
	p.cutIfIdle(cycleEnd.Add(3*time.Second), 2*time.Second, 1)
	if !p.cut {
		t.Fatal("caught-up partition not cut after its cycle and the idle delay")
	}
}
