package block

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"

	"github.com/parquet-go/parquet-go"

	"github.com/spanlog/spanlog/objstore"
)

// The Parquet reader reads a column's pages one request at a time, and a
// row touches every column: read straight from object storage, one trace
// would cost a hundred sequential requests. Instead, the reader works out
// the byte ranges it will need, fetches them in a few concurrent requests,
// and decodes from memory.

const (
	// mergeGap is the largest gap between two ranges fetched in one
	// request: reading a few unneeded bytes costs less than a request.
	mergeGap = 16 << 10
	// rowsMergeGap is mergeGap for the pages a lookup reads: a page or two
	// of every column, far apart in a row group of many spans, where a
	// column chunk takes tens of KB. Fetched with mergeGap, a lookup in
	// 20,000-span row groups took 14.6 requests and 16.5 ms (p50, from
	// MinIO); with this gap, 3.1 requests and 9.8 ms (BenchmarkTraceByIDBlocks,
	// compacted=24h, warm; 64 KiB: 9 requests, 1 MiB: no faster). On object
	// storage, reading a quarter MB more costs less than a request. In a
	// local file, where a read costs no round trip, a lookup merges with
	// mergeGap (Reader.rowsGap): a search of 1.4 million spans that reads
	// 20 traces whole took 10 to 25% less CPU.
	rowsMergeGap = 256 << 10
	// fetchParallelism caps the requests in flight for one prefetch.
	fetchParallelism = 8
)

// byteRange is the range [off, end) of the data object.
type byteRange struct {
	off, end int64
}

// fetchedRange is the content of a range of the data object.
type fetchedRange struct {
	off  int64
	data []byte
}

// prefetchedReaderAt serves reads from ranges fetched ahead, and any read
// they do not cover from the object.
type prefetchedReaderAt struct {
	obj    io.ReaderAt
	ranges []fetchedRange // sorted, disjoint
}

func (r *prefetchedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	i := sort.Search(len(r.ranges), func(i int) bool {
		return r.ranges[i].off+int64(len(r.ranges[i].data)) > off
	})
	if i < len(r.ranges) {
		f := &r.ranges[i]
		if f.off <= off && off+int64(len(p)) <= f.off+int64(len(f.data)) {
			return copy(p, f.data[off-f.off:]), nil
		}
	}
	return r.obj.ReadAt(p, off)
}

// missing returns those of ranges that r does not hold whole. A nil r holds
// nothing.
func (r *prefetchedReaderAt) missing(ranges []byteRange) []byteRange {
	if r == nil {
		return ranges
	}
	var out []byteRange
	for _, br := range ranges {
		i := sort.Search(len(r.ranges), func(i int) bool {
			return r.ranges[i].off+int64(len(r.ranges[i].data)) > br.off
		})
		if i == len(r.ranges) || r.ranges[i].off > br.off || br.end > r.ranges[i].off+int64(len(r.ranges[i].data)) {
			out = append(out, br)
		}
	}
	return out
}

// prefetch fetches ranges of obj, merging those less than mergeGap apart.
func prefetch(ctx context.Context, obj io.ReaderAt, ranges []byteRange) (*prefetchedReaderAt, error) {
	return prefetchMerged(ctx, obj, mergeRanges(ranges, mergeGap))
}

// prefetchMerged fetches merged, ranges that mergeRanges returned.
func prefetchMerged(ctx context.Context, obj io.ReaderAt, merged []byteRange) (*prefetchedReaderAt, error) {
	fetched := make([]fetchedRange, len(merged))
	errs := make([]error, len(merged))
	sem := make(chan struct{}, fetchParallelism)
	var wg sync.WaitGroup
	for i, br := range merged {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if errs[i] = ctx.Err(); errs[i] != nil {
				return
			}
			data := make([]byte, br.end-br.off)
			if _, err := objstore.ReadAt(ctx, obj, data, br.off); err != nil {
				errs[i] = fmt.Errorf("read %d bytes at %d: %w", len(data), br.off, err)
				return
			}
			fetched[i] = fetchedRange{off: br.off, data: data}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return &prefetchedReaderAt{obj: obj, ranges: fetched}, nil
}

// mergeRanges returns ranges sorted, with the overlapping ones and those
// less than gap apart merged.
func mergeRanges(ranges []byteRange, gap int64) []byteRange {
	ranges = slices.Clone(ranges)
	slices.SortFunc(ranges, func(a, b byteRange) int { return cmp.Compare(a.off, b.off) })
	var merged []byteRange
	for _, br := range ranges {
		if n := len(merged); n > 0 && br.off-merged[n-1].end < gap {
			merged[n-1].end = max(merged[n-1].end, br.end)
			continue
		}
		merged = append(merged, br)
	}
	return merged
}

// prefetchedGroup is a row group whose columns read their pages through r.
type prefetchedGroup struct {
	parquet.RowGroup
	chunks []parquet.ColumnChunk
}

func newPrefetchedGroup(rg parquet.RowGroup, r io.ReaderAt) *prefetchedGroup {
	g := &prefetchedGroup{RowGroup: rg}
	for _, c := range rg.ColumnChunks() {
		g.chunks = append(g.chunks, prefetchedChunk{FileColumnChunk: c.(*parquet.FileColumnChunk), r: r})
	}
	return g
}

func (g *prefetchedGroup) ColumnChunks() []parquet.ColumnChunk { return g.chunks }

// Rows is redefined so that the rows come from g's chunks, not the
// embedded group's.
func (g *prefetchedGroup) Rows() parquet.Rows { return parquet.NewRowGroupRowReader(g) }

type prefetchedChunk struct {
	*parquet.FileColumnChunk
	r io.ReaderAt
}

func (c prefetchedChunk) Pages() parquet.Pages { return c.PagesFrom(c.r) }
