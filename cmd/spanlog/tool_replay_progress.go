package main

import (
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/spanlog/spanlog/blockbuilder"
)

// How a replay shows its progress: a bar per partition on a terminal
// (records replayed of the range, bytes read, rate and time left), and
// lines at an interval otherwise (a pipe, a file, a CI log), where a bar redrawn in
// place would be noise.
//
// The bars are mpb's (github.com/vbauerster/mpb/v8) rather than
// schollz/progressbar's: a replay reads many partitions at once, and mpb
// draws any number of bars together, each with its own decorators
// (counters, a rate and time left), and prints lines
// above them, where progressbar draws one bar per writer.

// replayProgress is a blockbuilder.ReplayProgress that shows the replay.
type replayProgress interface {
	blockbuilder.ReplayProgress
	// finish ends the display, whether the replay completed or not.
	finish()
}

func newReplayProgress(out io.Writer, plan *blockbuilder.ReplayPlan, interval time.Duration, verbose bool) replayProgress {
	if cupwriter.New(out, false).IsTerminal() {
		return newProgressBars(out, plan, verbose)
	}
	return newProgressLines(out, plan, interval, verbose)
}

// partitionProgress is what is known of the replay of one partition.
type partitionProgress struct {
	id         int32
	start, end int64
	next       int64
	bytes      atomic.Int64 // read by the bars' goroutine
	began      time.Time
	// blocks counts the outcomes by action: written, written again,
	// skipped, failed.
	blocks [4]atomic.Int64
	done   bool
}

func newPartitionProgress(plan *blockbuilder.ReplayPlan, now time.Time) (map[int32]*partitionProgress, []int32) {
	parts := make(map[int32]*partitionProgress)
	var order []int32
	for _, pr := range plan.Partitions {
		if pr.End > pr.Start {
			parts[pr.Partition] = &partitionProgress{id: pr.Partition, start: pr.Start, end: pr.End, next: pr.Start, began: now}
			order = append(order, pr.Partition)
		}
	}
	return parts, order
}

func (p *partitionProgress) summary() string {
	return fmt.Sprintf("%d blocks written, %d written again, %d left to blocks that hold them, %d failed",
		p.blocks[blockbuilder.BlockWritten].Load(), p.blocks[blockbuilder.BlockReplaced].Load(),
		p.blocks[blockbuilder.BlockSkipped].Load(), p.blocks[blockbuilder.BlockFailed].Load())
}

// describeBlock is the line that tells of one block's outcome.
func describeBlock(o blockbuilder.BlockOutcome) string {
	where := fmt.Sprintf("block %s of tenant %s, partition %d offsets [%d, %d)", o.BlockID, o.Tenant, o.Range.Partition, o.Range.Start, o.Range.End)
	switch o.Action {
	case blockbuilder.BlockWritten:
		return fmt.Sprintf("%s written: %d spans, %s", where, o.Spans, humanBytes(o.Bytes))
	case blockbuilder.BlockReplaced:
		return fmt.Sprintf("%s written again: %d spans, %s", where, o.Spans, humanBytes(o.Bytes))
	case blockbuilder.BlockSkipped:
		return fmt.Sprintf("%s left unwritten: %s", where, o.Reason)
	}
	return fmt.Sprintf("%s FAILED: %s", where, o.Reason)
}

// progressLines prints the progress of every partition not done every
// interval, and a line when one is done.
type progressLines struct {
	out      io.Writer
	interval time.Duration
	verbose  bool
	parts    map[int32]*partitionProgress
	order    []int32
	last     time.Time
	now      func() time.Time
}

func newProgressLines(out io.Writer, plan *blockbuilder.ReplayPlan, interval time.Duration, verbose bool) *progressLines {
	now := time.Now()
	parts, order := newPartitionProgress(plan, now)
	return &progressLines{out: out, interval: interval, verbose: verbose, parts: parts, order: order, last: now, now: time.Now}
}

func (l *progressLines) Read(partition int32, bytes int64) {
	if p := l.parts[partition]; p != nil {
		p.bytes.Add(bytes)
	}
}

func (l *progressLines) Replayed(partition int32, next int64) {
	p := l.parts[partition]
	if p == nil {
		return
	}
	p.next = next
	now := l.now()
	if now.Sub(l.last) < l.interval {
		return
	}
	l.last = now
	for _, id := range l.order {
		if p := l.parts[id]; !p.done {
			fmt.Fprintln(l.out, p.line(now))
		}
	}
}

// line tells how far the partition is, how fast it goes, and how long it
// has left at that pace.
func (p *partitionProgress) line(now time.Time) string {
	done, total := p.next-p.start, p.end-p.start
	rate := float64(done) / now.Sub(p.began).Seconds()
	left := "unknown"
	if rate > 0 {
		left = (time.Duration(float64(p.end-p.next)/rate) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("partition %d: %d/%d records (%.0f%%), %s read, %.0f records/s, %s left",
		p.id, done, total, 100*float64(done)/float64(total), humanBytes(p.bytes.Load()), rate, left)
}

func (l *progressLines) Block(o blockbuilder.BlockOutcome) {
	if p := l.parts[o.Range.Partition]; p != nil {
		p.blocks[o.Action].Add(1)
	}
	if l.verbose || o.Action == blockbuilder.BlockFailed {
		fmt.Fprintln(l.out, describeBlock(o))
	}
}

func (l *progressLines) Done(partition int32) {
	p := l.parts[partition]
	if p == nil {
		return
	}
	p.done = true
	fmt.Fprintf(l.out, "partition %d: done, %d records, %s in %v: %s\n", p.id, p.end-p.start, humanBytes(p.bytes.Load()),
		l.now().Sub(p.began).Round(time.Millisecond), p.summary())
}

func (l *progressLines) finish() {}

// progressBars draws a bar per partition.
type progressBars struct {
	p       *mpb.Progress
	verbose bool
	parts   map[int32]*partitionProgress
	bars    map[int32]*mpb.Bar
}

func newProgressBars(out io.Writer, plan *blockbuilder.ReplayPlan, verbose bool) *progressBars {
	now := time.Now()
	parts, order := newPartitionProgress(plan, now)
	b := &progressBars{
		p:       mpb.New(mpb.WithOutput(out), mpb.WithRefreshRate(200*time.Millisecond)),
		verbose: verbose,
		parts:   parts,
		bars:    make(map[int32]*mpb.Bar),
	}
	for _, id := range slices.Sorted(slices.Values(order)) {
		p := parts[id]
		b.bars[id] = b.p.AddBar(p.end-p.start,
			mpb.PrependDecorators(
				decor.Name(fmt.Sprintf("partition %d", id), decor.WCSyncSpaceR),
				decor.CountersNoUnit("%d / %d records", decor.WCSyncSpace),
			),
			mpb.AppendDecorators(
				decor.Any(func(decor.Statistics) string { return humanBytes(p.bytes.Load()) }, decor.WCSyncSpace),
				// Averages since the start: a replay's pace is steady,
				// and its updates, one per block written, too few for a
				// moving average to settle.
				decor.AverageSpeed(nil, "%.0f records/s", decor.WCSyncSpace),
				decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO, decor.WCSyncSpace), "done"),
				decor.Any(func(decor.Statistics) string {
					return fmt.Sprintf("%d blocks written, %d left", p.blocks[blockbuilder.BlockWritten].Load()+p.blocks[blockbuilder.BlockReplaced].Load(),
						p.blocks[blockbuilder.BlockSkipped].Load())
				}, decor.WCSyncSpace),
			),
		)
	}
	return b
}

func (b *progressBars) Read(partition int32, bytes int64) {
	if p := b.parts[partition]; p != nil {
		p.bytes.Add(bytes)
	}
}

func (b *progressBars) Replayed(partition int32, next int64) {
	p := b.parts[partition]
	if p == nil {
		return
	}
	p.next = next
	// A bar is drawn for the last time when it completes: Done completes
	// it, once the partition's last blocks are written and counted.
	b.bars[partition].SetCurrent(min(next-p.start, p.end-p.start-1))
}

func (b *progressBars) Block(o blockbuilder.BlockOutcome) {
	if p := b.parts[o.Range.Partition]; p != nil {
		p.blocks[o.Action].Add(1)
	}
	if b.verbose || o.Action == blockbuilder.BlockFailed {
		fmt.Fprintln(b.p, describeBlock(o)) // above the bars
	}
}

func (b *progressBars) Done(partition int32) {
	if p := b.parts[partition]; p != nil {
		p.done = true
		b.bars[partition].SetCurrent(p.end - p.start)
	}
}

// finish stops the bars of partitions not done (an interrupted replay)
// where they are, and waits for the last drawing.
func (b *progressBars) finish() {
	for id, bar := range b.bars {
		if !b.parts[id].done {
			bar.Abort(false)
		}
	}
	b.p.Wait()
}
