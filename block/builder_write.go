package block

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// ErrEmpty is returned by Write for a Builder without spans: a block must
// hold at least one.
var ErrEmpty = errors.New("block has no spans")

// ErrPartOrder is returned by EndPart, and by every Write after it, when a
// part holds a trace ID that does not sort after every trace ID of the
// parts before it.
var ErrPartOrder = errors.New("block part does not sort after the parts before it")

// EndPart encodes the spans added since the last part ended into the
// block's file, and forgets them. Each part must hold whole traces whose
// IDs all sort after those of the parts before it: a block split into
// ranges of trace IDs, its ranges added in order. The block written is
// then the same, byte for byte, as if every span had been added in one
// part. An error of EndPart stays: Write returns it.
func (b *Builder) EndPart() error {
	if b.err != nil || len(b.rows) == 0 {
		return b.err
	}
	if b.meta != nil {
		panic("block: EndPart after Write")
	}
	b.err = b.encodePart()
	return b.err
}

func (b *Builder) encodePart() error {
	if err := checkTenant(b.tenant); err != nil {
		return fmt.Errorf("write block: %w", err)
	}
	if err := b.opts.Validate(); err != nil {
		return fmt.Errorf("write block: %w", err)
	}
	order := b.blockOrder()
	if b.encoded && bytes.Compare(b.rows[order[0]].TraceID[:], b.lastID[:]) <= 0 {
		return ErrPartOrder
	}
	if b.w == nil {
		b.w = newRowWriter(&b.data, b.opts)
	}
	for _, i := range order {
		if err := b.w.Write(&b.rows[i]); err != nil {
			return fmt.Errorf("write block: %w", err)
		}
	}
	b.lastID, b.encoded = b.rows[order[len(order)-1]].TraceID, true
	// The writer holds copies of the rows it has not encoded yet; the
	// rows' memory is reused for the next part.
	clear(b.rows)
	b.rows = b.rows[:0]
	return nil
}

// Write writes the block of the spans added, built from the log's ranges,
// to bkt: the Parquet data first, then the meta, which makes the block
// visible. Spans with the same trace and span ID are stored once, the first
// added winning. The block's ID derives from tenant and ranges, so writing
// the same ranges again overwrites the block instead of adding a copy.
//
// Write may be called again with the same ranges, for example after an
// upload failed: it uploads the same block. Spans added after the first
// Write are ignored.
func (b *Builder) Write(ctx context.Context, bkt objstore.Bucket, ranges []schema.OffsetRange) (*schema.BlockMeta, error) {
	if b.meta == nil {
		if err := b.finish(ranges); err != nil {
			return nil, err
		}
	}
	// A block-builder's block is small enough to be encoded in memory,
	// and a *bytes.Reader is an upload S3 can retry.
	if err := bkt.Upload(ctx, DataName(b.tenant, b.meta.BlockID), bytes.NewReader(b.data.Bytes())); err != nil {
		return nil, fmt.Errorf("upload block %s: %w", b.meta.BlockID, err)
	}
	if err := writeMeta(ctx, bkt, b.meta); err != nil {
		return nil, err
	}
	return b.meta, nil
}

// finish encodes the last part and completes the file and its meta.
func (b *Builder) finish(ranges []schema.OffsetRange) error {
	if err := b.EndPart(); err != nil {
		return err
	}
	if !b.encoded {
		// An invalid tenant or options go before an empty block.
		if err := checkTenant(b.tenant); err != nil {
			return fmt.Errorf("write block: %w", err)
		}
		if err := b.opts.Validate(); err != nil {
			return fmt.Errorf("write block: %w", err)
		}
		return ErrEmpty
	}
	meta := &schema.BlockMeta{
		Format:      schema.BlockFormatV3,
		BlockID:     schema.BlockID(b.tenant, ranges),
		Tenant:      b.tenant,
		Created:     time.Now().UTC(),
		KafkaRanges: slices.Clone(ranges),
		Foreign:     b.foreign,
	}
	if err := b.w.Close(); err != nil {
		b.err = fmt.Errorf("write block %s: %w", meta.BlockID, err)
		return b.err
	}
	b.w.describe(meta)
	b.w, b.meta = nil, meta
	return nil
}

// writeMeta uploads meta, which makes its block visible.
func writeMeta(ctx context.Context, bkt objstore.Bucket, meta *schema.BlockMeta) error {
	metaJSON, err := schema.MarshalMeta(meta)
	if err != nil {
		return fmt.Errorf("write block %s: %w", meta.BlockID, err)
	}
	if err := bkt.Upload(ctx, MetaName(meta.Tenant, meta.BlockID), bytes.NewReader(metaJSON)); err != nil {
		return fmt.Errorf("upload meta of block %s: %w", meta.BlockID, err)
	}
	return nil
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
