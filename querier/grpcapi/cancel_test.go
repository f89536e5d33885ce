package grpcapi

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
	"github.com/spanlog/spanlog/querier/internal/querytest"
)

// holdingBucket holds reads of block data, once hold is set, until the
// read's context ends, as an object store that hangs would, and counts
// the reads that ended because their context did.
type holdingBucket struct {
	objstore.Bucket
	hold      atomic.Bool
	held      chan struct{} // a value, if there is room, per read held
	cancelled atomic.Int64
}

func (b *holdingBucket) Open(ctx context.Context, name string) (objstore.ReaderAt, error) {
	r, err := b.Bucket.Open(ctx, name)
	if err != nil || !strings.HasSuffix(name, "/data.parquet") {
		return r, err
	}
	return &holdingReaderAt{ReaderAt: r, b: b, ctx: ctx}, nil
}

type holdingReaderAt struct {
	objstore.ReaderAt
	b   *holdingBucket
	ctx context.Context // Open's
}

func (r *holdingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	return r.ReadAtContext(r.ctx, p, off)
}

func (r *holdingReaderAt) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if r.b.hold.Load() {
		select {
		case r.b.held <- struct{}{}:
		default:
		}
		<-ctx.Done()
		r.b.cancelled.Add(1)
		return 0, ctx.Err()
	}
	return r.ReaderAt.ReadAt(p, off)
}

// A client that goes away stops its search: the block reads under way
// end, and the query is recorded as abandoned by its client (499, as
// over HTTP). Until then it holds its place in the tenant's
// max-concurrent-queries.
func TestClientCancellationStopsTheSearch(t *testing.T) {
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bkt := &holdingBucket{Bucket: dir, held: make(chan struct{}, 1)}
	writeBlock(t, bkt, "t1", 0, querytest.TraceSpans(pcommon.TraceID{0x93, 1}, 0, 0, 1, 2))
	cfg := querier.DefaultConfig()
	// What is tested is the search's block reads: one repeated after
	// the warm-up would be answered from the search cache.
	cfg.SearchCacheBytes = 0
	f := newFixture(t, bkt, cfg, querytest.NewLimits(t, limits.Limits{MaxConcurrentQueries: 1}, ""))
	ctx := asTenant(context.Background(), "t1")
	// The warm-up opens the block, which outlives any request.
	await(t, "the block searched", func() bool {
		stream, err := f.client.Search(ctx, &tempopb.SearchRequest{})
		if err != nil {
			return false
		}
		msgs, err := drain(stream)
		return err == nil && len(msgs) > 0 && len(msgs[len(msgs)-1].Traces) == 1
	})

	bkt.hold.Store(true)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := f.client.Search(ctx, &tempopb.SearchRequest{Query: "{ span.n = 1 }"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-bkt.held:
	case <-time.After(20 * time.Second):
		t.Fatal("no block read started")
	}
	second, err := f.client.Search(asTenant(context.Background(), "t1"), &tempopb.SearchRequest{})
	if err == nil {
		_, err = drain(second)
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a second search past max-concurrent-queries 1: %v, want RESOURCE_EXHAUSTED", err)
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("client: %v, want Canceled", err)
	}
	await(t, "the search recorded as abandoned", func() bool { return f.requests(t, "grpc_search", "499") == 1 })
	if bkt.cancelled.Load() == 0 {
		t.Error("no block read saw the client leave")
	}
}
