package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// inspection is what spanlog blocks inspect prints.
type inspection struct {
	Meta *schema.BlockMeta `json:"meta"`
	File block.FileStats   `json:"file"`
	// Traces are the first trace summaries, in trace ID order; TotalTraces
	// in Meta says how many there are.
	Traces []traceSummaryView `json:"traces"`
}

// traceSummaryView is a trace summary as a person or jq reads it.
type traceSummaryView struct {
	TraceID         string    `json:"traceID"`
	Start           time.Time `json:"start"`
	DurationNanos   int64     `json:"durationNanos"`
	Spans           uint32    `json:"spans"`
	Errors          uint32    `json:"errors"`
	RootParentless  bool      `json:"rootParentless"`
	RootSpanID      string    `json:"rootSpanID"`
	RootServiceName string    `json:"rootServiceName"`
	RootName        string    `json:"rootName"`
}

func viewSummary(s schema.TraceSummary) traceSummaryView {
	return traceSummaryView{
		TraceID:         hex.EncodeToString(s.ID[:]),
		Start:           time.Unix(0, int64(s.Start)).UTC(),
		DurationNanos:   int64(s.End - s.Start),
		Spans:           s.Spans,
		Errors:          s.Errors,
		RootParentless:  s.Root.Parentless,
		RootSpanID:      hex.EncodeToString(s.Root.SpanID[:]),
		RootServiceName: s.Root.Service,
		RootName:        s.Root.Name,
	}
}

// errEnough stops the reading of summaries once enough are read.
var errEnough = errors.New("enough summaries")

// inspect prints one block's meta and what its data file says of itself.
func (c *blocksCommand) inspect(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("inspect takes one block ID, got %d arguments (spanlog blocks ls lists the IDs)", len(args))
	}
	id, err := parseBlockID(args[0])
	if err != nil {
		return err
	}
	meta, err := c.readMeta(ctx, id)
	if err != nil {
		return err
	}
	r, err := block.Open(ctx, c.bucket, meta)
	if err != nil {
		return fmt.Errorf("%w; spanlog blocks verify %s says what is wrong with it", err, id)
	}
	defer r.Close()
	in := inspection{Meta: meta, File: r.FileStats(), Traces: []traceSummaryView{}}
	err = r.Summaries(ctx, block.SummaryEnd|block.SummaryRoot, func(s schema.TraceSummary) error {
		if c.traces > 0 && len(in.Traces) == c.traces {
			return errEnough
		}
		in.Traces = append(in.Traces, viewSummary(s))
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return fmt.Errorf("%w; spanlog blocks verify %s says what is wrong with it", err, id)
	}
	if c.out.json {
		return c.out.printJSON(in)
	}
	c.printInspection(&in)
	return nil
}

// readMeta reads the meta of block id of the tenant, saying what to do
// when there is none.
func (c *blocksCommand) readMeta(ctx context.Context, id uuid.UUID) (*schema.BlockMeta, error) {
	meta, err := block.ReadMeta(ctx, c.bucket, c.tenant, id)
	switch {
	case objstore.IsNotExist(err):
		return nil, fmt.Errorf("tenant %s has no block %s in %s (%w); spanlog blocks ls -tenant %s lists its blocks",
			c.tenant, id, c.where(), err, c.tenant)
	case errors.Is(err, block.ErrInvalidMeta):
		return nil, fmt.Errorf("%w: no reader uses this block; restore its meta.json, or delete the block's folder if the log still holds its offsets (a replay writes it again)", err)
	}
	return meta, err
}

func (c *blocksCommand) printInspection(in *inspection) {
	o, m, f := c.out, in.Meta, &in.File
	start, end := formatSpan(m.MinStart, m.MaxEnd)
	checksum := m.DataCRC32C
	if checksum == "" {
		checksum = "none (written before blocks had one)"
	}
	t := newTable(1)
	for _, kv := range [][2]string{
		{"block", m.BlockID.String()},
		{"tenant", m.Tenant},
		{"format", m.Format},
		{"created", m.Created.UTC().Format(timeLayout)},
		{"level", strconv.Itoa(m.CompactionLevel)},
		{"kafka", describeRanges(m.KafkaRanges)},
		{"time range", fmt.Sprintf("%s to %s (%s)", start, end, roundDuration(m.MaxEnd.Sub(m.MinStart)))},
		{"spans", strconv.FormatInt(m.TotalSpans, 10)},
		{"traces", strconv.FormatInt(m.TotalTraces, 10)},
		{"trace IDs", m.MinTraceID + " to " + m.MaxTraceID},
		{"size", fmt.Sprintf("%s (%d bytes)", humanBytes(m.Size), m.Size)},
		{"crc32c", checksum},
		{"parquet", fmt.Sprintf("%d rows, row groups: %d, written by %s", f.Rows, len(f.RowGroups), f.CreatedBy)},
	} {
		t.add(kv[0], kv[1])
	}
	t.print(o)

	o.printf("\n")
	groups := newTable(8, "ROW GROUP", "ROWS", "COMPRESSED", "UNCOMPRESSED", "BLOOM", "TRACE IDS", "STARTS", "DURATIONS", "SERVICES")
	for i, g := range f.RowGroups {
		start, end := formatSpan(g.MinStart, g.MaxStart)
		groups.add(strconv.Itoa(i), strconv.FormatInt(g.Rows, 10), humanBytes(g.CompressedBytes), humanBytes(g.UncompressedBytes),
			humanBytes(g.BloomFilterBytes), shortID(g.MinTraceID)+".."+shortID(g.MaxTraceID), start+" to "+end,
			roundDuration(g.MinDuration).String()+" to "+roundDuration(g.MaxDuration).String(), g.MinService+" to "+g.MaxService)
	}
	groups.print(o)

	o.printf("\n")
	// Largest first: where the bytes go.
	columns := slices.Clone(f.Columns)
	slices.SortStableFunc(columns, func(a, b block.ColumnStats) int { return cmp.Compare(b.CompressedBytes, a.CompressedBytes) })
	cols := newTable(0, "COLUMN", "COMPRESSION", "VALUES", "COMPRESSED", "UNCOMPRESSED", "SHARE")
	var total int64
	for _, col := range columns {
		total += col.CompressedBytes
	}
	for _, col := range columns {
		cols.add(col.Path, col.Compression, strconv.FormatInt(col.Values, 10), humanBytes(col.CompressedBytes),
			humanBytes(col.UncompressedBytes), fmt.Sprintf("%.1f%%", 100*float64(col.CompressedBytes)/float64(max(total, 1))))
	}
	cols.print(o)

	o.printf("\n")
	if m.Format == schema.BlockFormatV1 {
		o.printf("trace summaries (format v1 has none stored; computed from the spans):\n")
	}
	traces := newTable(6, "TRACE ID", "START", "DURATION", "SPANS", "ERRORS", "ROOT SERVICE", "ROOT NAME")
	for _, s := range in.Traces {
		traces.add(s.TraceID, s.Start.Format(timeLayout), roundDuration(time.Duration(s.DurationNanos)).String(),
			strconv.FormatUint(uint64(s.Spans), 10), strconv.FormatUint(uint64(s.Errors), 10), s.RootServiceName, s.RootName)
	}
	traces.print(o)
	if more := m.TotalTraces - int64(len(in.Traces)); more > 0 {
		o.printf("... and %d more traces (-traces=0 prints every one)\n", more)
	}
}

// describeRanges says which offsets of which partition a block holds.
func describeRanges(ranges []schema.OffsetRange) string {
	if len(ranges) == 0 {
		return "no offsets"
	}
	var records int64
	for _, r := range ranges {
		records += r.End - r.Start
	}
	return fmt.Sprintf("partition %d, offsets %s (%d records)", ranges[0].Partition, formatOffsets(ranges), records)
}

// shortID is the first 8 hex digits of a trace ID: enough to tell row
// groups apart.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// verified is one block's line of spanlog blocks verify -o json.
type verified struct {
	BlockID uuid.UUID `json:"blockID"`
	OK      bool      `json:"ok"`
	*block.Verification
	// Error says why the block could not be verified (a meta that cannot
	// be read, or the bucket failing).
	Error string `json:"error,omitempty"`
}

// verify checks that the blocks named, or every block of the tenant, hold
// what their metas say, and fails naming those that do not.
func (c *blocksCommand) verify(ctx context.Context, args []string) error {
	var ids []uuid.UUID
	switch {
	case c.all && len(args) > 0:
		return errors.New("give block IDs or -all, not both")
	case c.all:
		var err error
		if ids, err = block.ListBlocks(ctx, c.bucket, c.tenant); err != nil {
			return err
		}
		if len(ids) == 0 {
			c.noBlocks(ctx)
		}
	case len(args) == 0:
		return errors.New("name the blocks to verify, or -all for every block of the tenant")
	}
	for _, a := range args {
		id, err := parseBlockID(a)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}

	results := make([]verified, 0, len(ids))
	var failed []string
	noMeta := 0
	for _, id := range ids {
		res := verified{BlockID: id}
		meta, err := c.readMeta(ctx, id)
		switch {
		case c.all && objstore.IsNotExist(err):
			// No meta, no block: one being written, or a leftover.
			noMeta++
			continue
		case err == nil:
			res.Verification, err = block.Verify(ctx, c.bucket, meta)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			res.Error = err.Error()
		}
		res.OK = err == nil && res.Verification.OK()
		if !res.OK {
			failed = append(failed, id.String())
		}
		results = append(results, res)
		if !c.out.json {
			c.printVerified(&res)
		}
	}
	if c.out.json {
		if err := c.out.printJSON(results); err != nil {
			return err
		}
	}
	if noMeta > 0 {
		fmt.Fprintf(c.errOut, "skipped %d block folders without a meta (being written, or leftovers: spanlog blocks ls shows them)\n", noMeta)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d blocks of tenant %s failed verification: %s", len(failed), len(results), c.tenant, strings.Join(failed, ", "))
	}
	return nil
}

func (c *blocksCommand) printVerified(res *verified) {
	o, v := c.out, res.Verification
	switch {
	case res.OK:
		sum := "no checksum in the meta"
		if v.ChecksumChecked {
			sum = "crc32c " + v.DataCRC32C + " matches"
		}
		o.printf("%s  ok      %d spans, %d traces, row groups: %d, %s, %s\n", res.BlockID, v.Spans, v.Traces, v.RowGroups, humanBytes(v.Size), sum)
		return
	case v == nil:
		o.printf("%s  FAILED  %s\n", res.BlockID, res.Error)
		return
	}
	what := "discrepancies"
	if len(v.Discrepancies) == 1 {
		what = "discrepancy"
	}
	o.printf("%s  FAILED  %d %s between its data and its meta:\n", res.BlockID, len(v.Discrepancies), what)
	for _, d := range v.Discrepancies {
		o.printf("    %s\n", d)
	}
	if res.Error != "" {
		o.printf("    and the check stopped: %s\n", res.Error)
	}
}
