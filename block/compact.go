package block

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// ErrNothingToCompact is returned (wrapped) by Compact when one input
// already holds every offset of the others: it supersedes them, and the
// merged block would be that input again, under its ID. The caller drops
// the superseded inputs instead.
var ErrNothingToCompact = errors.New("one input supersedes the others")

// Compact merges inputs, blocks of one tenant and one partition, into one
// block written to bucket, data first and meta last, as a block-builder's
// block is written: each span once (deduplicated by trace ID and span ID),
// rows sorted and laid out as Options say (row groups, pages, trace ID
// bloom filters, page index, search columns), so lookups and scans read it
// as any block. Its meta records the union of the inputs' KafkaRanges
// (sorted, adjacent ranges coalesced), CompactionLevel one above the
// highest input's, the time range and trace ID range of what it holds, and
// its ID is schema.BlockID(tenant, ranges), so a compaction done again
// (after a crash) writes the same objects. It reads the inputs a row group
// at a time and never holds a whole block: its memory grows with the
// number of inputs, about 2.5 MB each, not with their size (see
// docs/design.md, Compaction).
//
// Of the copies of a span, the one that sorts first is kept (the earliest
// start), and of copies alike, the one of the input with the lowest
// offsets: the result depends on the inputs, not on their order.
//
// A Compact that fails or is cancelled writes no meta: the block does not
// exist, though part of its data may (as after a crash), and a Compact of
// the same inputs replaces it.
func Compact(ctx context.Context, bucket objstore.Bucket, inputs []*schema.BlockMeta, opts Options) (*schema.BlockMeta, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	meta, err := compactedMeta(inputs)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	inputs = slices.Clone(inputs)
	slices.SortFunc(inputs, compareInputs)

	readers := make([]*Reader, len(inputs))
	defer func() {
		for _, r := range readers {
			if r != nil {
				r.Close()
			}
		}
	}()
	err = inParallel(len(inputs), func(i int) (err error) {
		readers[i], err = open(ctx, bucket, inputs[i], forMerge)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("compact into %s: %w", meta.BlockID, err)
	}
	if err := writeMerged(ctx, bucket, meta, readers, opts); err != nil {
		return nil, fmt.Errorf("compact into %s: %w", meta.BlockID, err)
	}
	if err := writeMeta(ctx, bucket, meta); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	return meta, nil
}

// compactedMeta returns the meta of the block merging inputs, all but what
// only the rows tell, or why they cannot be merged.
func compactedMeta(inputs []*schema.BlockMeta) (*schema.BlockMeta, error) {
	if len(inputs) == 0 {
		return nil, errors.New("no input blocks")
	}
	tenant := inputs[0].Tenant
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	var ranges []schema.OffsetRange
	level, foreign := 0, false
	ids := make(map[[16]byte]bool, len(inputs))
	for _, in := range inputs {
		switch {
		case in.Tenant != tenant:
			return nil, fmt.Errorf("blocks of tenants %s and %s", tenant, in.Tenant)
		case len(in.KafkaRanges) == 0:
			return nil, fmt.Errorf("block %s has no Kafka ranges", in.BlockID)
		case ids[in.BlockID]:
			return nil, fmt.Errorf("block %s given twice", in.BlockID)
		}
		ids[in.BlockID] = true
		ranges = append(ranges, in.KafkaRanges...)
		level = max(level, in.CompactionLevel)
		foreign = foreign || in.Foreign
	}
	ranges = schema.UnionRanges(ranges)
	if p := ranges[0].Partition; ranges[len(ranges)-1].Partition != p {
		return nil, fmt.Errorf("blocks of partitions %d and %d", p, ranges[len(ranges)-1].Partition)
	}
	id := schema.BlockID(tenant, ranges)
	if ids[id] {
		return nil, fmt.Errorf("block %s: %w", id, ErrNothingToCompact)
	}
	return &schema.BlockMeta{
		Format:          schema.BlockFormatV3,
		BlockID:         id,
		Tenant:          tenant,
		Created:         time.Now().UTC(),
		KafkaRanges:     ranges,
		CompactionLevel: level + 1,
		Foreign:         foreign,
	}, nil
}

// openParallelism caps the inputs a merge opens, or starts reading, at
// once: each is a request or a few, which a merge of many blocks would
// otherwise wait on one after the other.
const openParallelism = 16

// inParallel calls fn for 0 to n-1, openParallelism at a time, and returns
// the first of their errors: the others are most often the same one.
func inParallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, openParallelism)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// compareInputs orders blocks by the offsets they start at: the order of
// precedence of their copies of a span.
func compareInputs(a, b *schema.BlockMeta) int {
	return cmp.Or(
		slices.CompareFunc(schema.UnionRanges(a.KafkaRanges), schema.UnionRanges(b.KafkaRanges), func(x, y schema.OffsetRange) int {
			return cmp.Or(cmp.Compare(x.Start, y.Start), cmp.Compare(x.End, y.End))
		}),
		slices.Compare(a.BlockID[:], b.BlockID[:]),
	)
}

// writeMerged merges the readers' rows into meta's data object and fills
// in what meta says of them. The object is streamed to bkt as it is
// encoded.
func writeMerged(ctx context.Context, bkt objstore.Bucket, meta *schema.BlockMeta, readers []*Reader, opts Options) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	uploaded := make(chan error, 1)
	go func() {
		err := bkt.Upload(ctx, DataName(meta.Tenant, meta.BlockID), pr)
		// Ends a Write the upload left waiting, if it stopped reading.
		pr.CloseWithError(cmp.Or(err, io.ErrClosedPipe))
		uploaded <- err
	}()
	waited := false
	defer func() {
		if !waited {
			// Fails the upload rather than completing a cut-short
			// object, and waits for it to let go of the bucket.
			pw.CloseWithError(err)
			cancel()
			<-uploaded
		}
	}()

	w := newRowWriter(pw, opts)
	m := newMerge(readers)
	defer m.close()
	var trace []schema.SpanRow
	seen := make(map[[8]byte]bool)
	for {
		trace, err = m.nextTrace(ctx, trace[:0])
		if err != nil {
			return err
		}
		if len(trace) == 0 {
			break
		}
		if len(seen) > 1024 {
			// clear would keep the room of a large trace, and cost it
			// again for every trace after.
			seen = make(map[[8]byte]bool)
		} else {
			clear(seen)
		}
		for i := range trace {
			if seen[trace[i].SpanID] {
				continue
			}
			seen[trace[i].SpanID] = true
			if err := w.Write(&trace[i]); err != nil {
				return err
			}
		}
		clear(trace) // release the rows the writer encoded
	}
	if err := w.Close(); err != nil {
		return err
	}
	if w.spans == 0 {
		return ErrEmpty
	}
	pw.Close()
	waited = true
	if err := <-uploaded; err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	w.describe(meta)
	return nil
}
