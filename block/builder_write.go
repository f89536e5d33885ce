package block

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// ErrEmpty is returned by Write for a Builder without spans: a block must
// hold at least one.
var ErrEmpty = errors.New("block has no spans")

// Column names the writer and the reader refer to. They must match the
// parquet tags of schema.SpanRow.
const (
	traceIDColumn = "trace_id"
	startColumn   = "start_unix_nano"
	spanIDColumn  = "span_id"
)

// writeBatch is the number of rows handed to the Parquet writer at once.
const writeBatch = 1024

// Write writes the block of the spans added, built from the log's ranges,
// to bkt: the Parquet data first, then the meta, which makes the block
// visible. Spans with the same trace and span ID are stored once, the first
// added winning. The block's ID derives from tenant and ranges, so writing
// the same ranges again overwrites the block instead of adding a copy.
//
// Write may be called again, for example after an upload failed: it
// writes the same block.
func (b *Builder) Write(ctx context.Context, bkt objstore.Bucket, ranges []schema.OffsetRange) (*schema.BlockMeta, error) {
	if err := checkTenant(b.tenant); err != nil {
		return nil, fmt.Errorf("write block: %w", err)
	}
	if err := b.opts.Validate(); err != nil {
		return nil, fmt.Errorf("write block: %w", err)
	}
	order := b.blockOrder()
	if len(order) == 0 {
		return nil, ErrEmpty
	}
	meta := &schema.BlockMeta{
		Format:      schema.BlockFormatV1,
		BlockID:     schema.BlockID(b.tenant, ranges),
		Tenant:      b.tenant,
		Created:     time.Now().UTC(),
		KafkaRanges: slices.Clone(ranges),
	}
	b.describe(order, meta)

	data, err := b.encode(order)
	if err != nil {
		return nil, fmt.Errorf("write block %s: %w", meta.BlockID, err)
	}
	meta.Size = int64(len(data))
	metaJSON, err := schema.MarshalMeta(meta)
	if err != nil {
		return nil, fmt.Errorf("write block %s: %w", meta.BlockID, err)
	}
	if err := bkt.Upload(ctx, DataName(b.tenant, meta.BlockID), bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("upload block %s: %w", meta.BlockID, err)
	}
	if err := bkt.Upload(ctx, MetaName(b.tenant, meta.BlockID), bytes.NewReader(metaJSON)); err != nil {
		return nil, fmt.Errorf("upload meta of block %s: %w", meta.BlockID, err)
	}
	return meta, nil
}

// blockOrder drops duplicate spans and returns the indexes of the rows in
// block order. Sorting indexes instead of rows moves 8 bytes per swap
// instead of a whole row.
func (b *Builder) blockOrder() []int {
	b.rows = schema.DedupeRows(b.rows)
	order := make([]int, len(b.rows))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		return schema.CompareRows(&b.rows[i], &b.rows[j])
	})
	return order
}

// describe fills the parts of meta that summarise the rows.
func (b *Builder) describe(order []int, meta *schema.BlockMeta) {
	first, last := &b.rows[order[0]], &b.rows[order[len(order)-1]]
	meta.MinTraceID = hex.EncodeToString(first.TraceID[:])
	meta.MaxTraceID = hex.EncodeToString(last.TraceID[:])
	meta.TotalSpans = int64(len(order))

	minStart, maxEnd := spanTimes(first)
	for k, i := range order {
		r := &b.rows[i]
		lo, hi := spanTimes(r)
		minStart, maxEnd = min(minStart, lo), max(maxEnd, hi)
		if k == 0 || r.TraceID != b.rows[order[k-1]].TraceID {
			meta.TotalTraces++
		}
	}
	meta.MinStart = time.Unix(0, minStart).UTC()
	meta.MaxEnd = time.Unix(0, maxEnd).UTC()
}

// spanTimes returns the earliest and latest of r's start and end, as
// nanoseconds a time.Time holds. OTLP times are unsigned and the
// distributor refuses those past 2^63-1 ns, but records from another
// producer bypass it: one such time, taken as it is, would wrap the
// block's range to 1677 and hide every span of the block from searches.
// Clamped, it only widens the range to 2262. An end before the start, which
// OTLP allows, widens the range rather than escaping it.
func spanTimes(r *schema.SpanRow) (lo, hi int64) {
	start, end := clampNanos(r.StartUnixNano), clampNanos(r.EndUnixNano())
	return min(start, end), max(start, end)
}

func clampNanos(ns uint64) int64 {
	return int64(min(ns, math.MaxInt64))
}

// encode returns the Parquet file of the rows in order.
func (b *Builder) encode(order []int) ([]byte, error) {
	opts := b.opts.withDefaults()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[schema.SpanRow](&buf,
		parquet.MaxRowsPerRowGroup(opts.RowsPerRowGroup),
		parquet.PageBufferSize(opts.PageBufferSizeBytes),
		parquet.DictionaryMaxBytes(opts.DictionaryMaxBytes),
		parquet.BloomFilters(parquet.SplitBlockFilter(uint(opts.BloomFilterBitsPerValue), traceIDColumn)),
		// Declared for other Parquet readers; the rows are already in
		// this order.
		parquet.SortingWriterConfig(parquet.SortingColumns(
			parquet.Ascending(traceIDColumn),
			parquet.Ascending(startColumn),
			parquet.Ascending(spanIDColumn),
		)),
		parquet.KeyValueMetadata("spanlog.format", schema.BlockFormatV1),
		// Version 1 pages compress the repetition and definition levels
		// with the values. The attribute columns are mostly levels, in
		// patterns that repeat row after row: a third of the file.
		parquet.DataPageVersion(1),
	)
	batch := make([]schema.SpanRow, 0, writeBatch)
	for k, i := range order {
		batch = append(batch, b.rows[i])
		if len(batch) < writeBatch && k < len(order)-1 {
			continue
		}
		if _, err := w.Write(batch); err != nil {
			return nil, fmt.Errorf("encode parquet: %w", err)
		}
		batch = batch[:0]
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode parquet: %w", err)
	}
	return buf.Bytes(), nil
}
