package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/blockbuilder"
	"github.com/spanlog/spanlog/schema"
)

// Where the output is no terminal, progress comes as lines: each
// partition's records and bytes, rate and time left, every interval, and a
// line when it is done.
func TestReplayProgressLines(t *testing.T) {
	plan := &blockbuilder.ReplayPlan{Partitions: []blockbuilder.PartitionReplay{
		{Partition: 0, Start: 100, End: 1100},
		{Partition: 1, Start: 0, End: 0}, // nothing to replay
		{Partition: 2, Start: 0, End: 400},
	}}
	var out bytes.Buffer
	if p := newReplayProgress(&out, plan, time.Second, false); p == nil {
		t.Fatal("no progress")
	} else if _, ok := p.(*progressLines); !ok {
		t.Fatalf("progress into a buffer is %T, want lines", p)
	}
	l := newProgressLines(&out, plan, 10*time.Second, false)
	now := l.last
	l.now = func() time.Time { return now }

	now = now.Add(time.Second)
	l.Read(0, 4096)
	l.Replayed(0, 300) // within the interval: no line
	if out.Len() != 0 {
		t.Fatalf("a line before the interval: %q", out.String())
	}
	now = now.Add(9 * time.Second)
	l.Read(2, 1024)
	l.Replayed(2, 100)
	want := []string{
		"partition 0: 200/1000 records (20%), 4.0 KiB read, 20 records/s, 40s left",
		"partition 2: 100/400 records (25%), 1.0 KiB read, 10 records/s, 30s left",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	out.Reset()
	l.Block(blockbuilder.BlockOutcome{Action: blockbuilder.BlockReplaced, Range: schema.OffsetRange{Partition: 0}})
	l.Block(blockbuilder.BlockOutcome{Action: blockbuilder.BlockSkipped, Range: schema.OffsetRange{Partition: 0}})
	l.Block(blockbuilder.BlockOutcome{Action: blockbuilder.BlockFailed, Tenant: "t1", Range: schema.OffsetRange{Partition: 0, Start: 100, End: 200}, Reason: "bad"})
	if !strings.Contains(out.String(), "offsets [100, 200) FAILED: bad") {
		t.Fatalf("a failed block is not told: %q", out.String())
	}
	out.Reset()
	l.Read(0, 1024)
	l.Replayed(0, 1100)
	l.Done(0)
	if got := out.String(); got != "partition 0: done, 1000 records, 5.0 KiB in 10s: 0 blocks written, 1 written again, 1 left to blocks that hold them, 1 failed\n" {
		t.Fatalf("done line %q", got)
	}
	out.Reset()
	now = now.Add(10 * time.Second)
	l.Replayed(2, 200)
	if got := out.String(); strings.Contains(got, "partition 0") || !strings.Contains(got, "partition 2: 200/400") {
		t.Fatalf("after partition 0 is done: %q", got)
	}
}
