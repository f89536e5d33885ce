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
		Format:      schema.BlockFormatV2,
		BlockID:     schema.BlockID(b.tenant, ranges),
		Tenant:      b.tenant,
		Created:     time.Now().UTC(),
		KafkaRanges: slices.Clone(ranges),
	}
	// A block-builder's block is small enough to be encoded in memory,
	// and a *bytes.Reader is an upload S3 can retry.
	var data bytes.Buffer
	w := newRowWriter(&data, b.opts)
	for _, i := range order {
		if err := w.Write(&b.rows[i]); err != nil {
			return nil, fmt.Errorf("write block %s: %w", meta.BlockID, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("write block %s: %w", meta.BlockID, err)
	}
	w.describe(meta)
	if err := bkt.Upload(ctx, DataName(b.tenant, meta.BlockID), bytes.NewReader(data.Bytes())); err != nil {
		return nil, fmt.Errorf("upload block %s: %w", meta.BlockID, err)
	}
	if err := writeMeta(ctx, bkt, meta); err != nil {
		return nil, err
	}
	return meta, nil
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
