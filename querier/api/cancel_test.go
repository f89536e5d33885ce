package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/tenant"
)

// holdingBucket holds reads of block data, once hold is set, until the
// read's context ends, as an object store that hangs would; it counts the
// reads that ended because their context did. Reads that have no context
// to end (those of a block being opened, which outlives any request) are
// held until the test ends.
type holdingBucket struct {
	objstore.Bucket
	hold atomic.Bool
	// held receives a value, if there is room, each time a read is held.
	held chan struct{}
	// cancelled counts the held reads that ended with their context.
	cancelled atomic.Int64
	release   chan struct{}
}

func newHoldingBucket(t *testing.T) *holdingBucket {
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &holdingBucket{Bucket: dir, held: make(chan struct{}, 1), release: make(chan struct{})}
}

func (b *holdingBucket) Open(ctx context.Context, name string) (objstore.ReaderAt, error) {
	r, err := b.Bucket.Open(ctx, name)
	if err != nil || !strings.HasSuffix(name, "/data.parquet") {
		return r, err
	}
	return &holdingReaderAt{ReaderAt: r, b: b, ctx: ctx}, nil
}

// wait blocks a read, if reads are held, until ctx ends or the test does.
func (b *holdingBucket) wait(ctx context.Context) error {
	if !b.hold.Load() {
		return nil
	}
	select {
	case b.held <- struct{}{}:
	default:
	}
	select {
	case <-ctx.Done():
		b.cancelled.Add(1)
		return ctx.Err()
	case <-b.release:
		return nil
	}
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
	if err := r.b.wait(ctx); err != nil {
		return 0, err
	}
	return r.ReaderAt.ReadAt(p, off)
}

// statusRecorder keeps the status a handler sent, even to a client that
// left.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// cancelFixture is a querier over one block in a holdingBucket, served
// over HTTP, that reports each request's status once its handler returned.
type cancelFixture struct {
	bkt      *holdingBucket
	url      string
	id       pcommon.TraceID
	finished chan int
}

func newCancelFixture(t *testing.T, timeout time.Duration) *cancelFixture {
	f := &cancelFixture{bkt: newHoldingBucket(t), id: pcommon.TraceID{1, 2, 3}, finished: make(chan int, 1)}
	querytest.WriteBlock(t, f.bkt, 0, querytest.TraceSpans(f.id, 0, 0, 1, 2))
	cfg := querier.DefaultConfig()
	cfg.QueryTimeout = timeout
	cfg.StorageTimeout = min(cfg.StorageTimeout, timeout/2)
	// What is tested is a request's block reads: a search repeated
	// after the warm-up would be answered from the search cache.
	cfg.SearchCacheBytes = 0
	q := startQuerierWithin(t, f.bkt, cfg, tenant.DefaultConfig(), querytest.NoLimits(t))
	q.awaitBlocks(t, 1)
	mux := routes(q.Querier)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		select {
		case f.finished <- rec.status:
		default: // a handler a failed test gave up on
		}
	}))
	t.Cleanup(srv.Close)
	// Before the server closes, which waits for its handlers.
	t.Cleanup(func() { close(f.bkt.release) })
	f.url = srv.URL
	return f
}

// routes are the requests that read blocks, each for the fixture's trace.
func (f *cancelFixture) routes() map[string]string {
	return map[string]string{
		"search":      "/api/search?q=" + "%7B%7D",
		"trace by ID": fmt.Sprintf("/api/v2/traces/%s", f.id),
		"batch":       fmt.Sprintf("/api/batch/traces?ids=%s", f.id),
	}
}

// get sends a request under ctx and returns the status and body the
// client got, if it got any.
func (f *cancelFixture) get(ctx context.Context, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", f.url+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// handlerStatus waits for the handler of the request under way to return.
// A handler that keeps reading after its request ended never does.
func (f *cancelFixture) handlerStatus(t *testing.T) int {
	t.Helper()
	select {
	case status := <-f.finished:
		return status
	case <-time.After(20 * time.Second):
		t.Fatal("the handler is still reading after its request ended")
		return 0
	}
}

// drainHeld forgets the reads held before.
func (f *cancelFixture) drainHeld() {
	select {
	case <-f.bkt.held:
	default:
	}
}

// awaitHeld waits until a block read is held, then returns.
func (f *cancelFixture) awaitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-f.bkt.held:
	case <-time.After(20 * time.Second):
		t.Fatal("no block read started")
	}
}

// A request whose client goes away stops its block reads, whether it was
// opening a block or reading one already open, and its handler returns;
// it is answered with 499, not logged as a server error.
func TestClientCancellationStopsBlockReads(t *testing.T) {
	warmFixture := newCancelFixture(t, time.Minute)
	for _, warm := range []bool{true, false} {
		for name := range warmFixture.routes() {
			t.Run(fmt.Sprintf("%s warm=%v", name, warm), func(t *testing.T) {
				f := warmFixture
				if !warm {
					// A block being opened is opened once for every
					// request: a fresh querier shows each its own open.
					f = newCancelFixture(t, time.Minute)
				}
				path := f.routes()[name]
				f.bkt.hold.Store(false)
				f.drainHeld()
				if warm { // the block is open: the reads held are the lookup's
					if status, body, err := f.get(context.Background(), path); err != nil || status != http.StatusOK {
						t.Fatalf("warm-up: %d %s %v", status, body, err)
					}
					<-f.finished
				}
				f.bkt.hold.Store(true)
				before := f.bkt.cancelled.Load()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				errs := make(chan error, 1)
				go func() {
					_, _, err := f.get(ctx, path)
					errs <- err
				}()
				f.awaitHeld(t)
				cancel()
				if err := <-errs; err == nil {
					t.Error("the client got an answer although it left")
				}
				if status := f.handlerStatus(t); status != 499 {
					t.Errorf("status %d, want 499", status)
				}
				if warm && f.bkt.cancelled.Load() == before {
					t.Error("no block read saw the request end")
				}
			})
		}
	}
}

// A request past querier.query-timeout stops its block reads and is
// answered with 504 and a message that names the setting.
func TestQueryTimeoutStopsBlockReads(t *testing.T) {
	f := newCancelFixture(t, 2*time.Second)
	for name, path := range f.routes() {
		t.Run(name, func(t *testing.T) {
			f.bkt.hold.Store(false)
			f.drainHeld()
			if status, body, err := f.get(context.Background(), path); err != nil || status != http.StatusOK {
				t.Fatalf("warm-up: %d %s %v", status, body, err)
			}
			<-f.finished
			f.bkt.hold.Store(true)
			before := f.bkt.cancelled.Load()
			status, body, err := f.get(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if status != http.StatusGatewayTimeout || !strings.Contains(body, "query timed out after 2s (querier.query-timeout)") {
				t.Errorf("%d %q, want 504 naming querier.query-timeout", status, body)
			}
			if got := f.handlerStatus(t); got != status {
				t.Errorf("handler status %d, client got %d", got, status)
			}
			if f.bkt.cancelled.Load() == before {
				t.Error("no block read saw the timeout")
			}
		})
	}
}

// A client that stops reading its answer does not hold the request: its
// writes fail once the query timeout, and the moment given to write what
// ended it, have passed.
func TestAClientThatStopsReadingIsCutOff(t *testing.T) {
	cfg := querier.DefaultConfig()
	cfg.QueryTimeout = 100 * time.Millisecond
	cfg.StorageTimeout = 50 * time.Millisecond
	a := newAPI(unstartedQuerier(t, cfg, querytest.NoLimits(t)))
	returned := make(chan error, 1)
	srv := httptest.NewServer(a.instrument("endless", func(w http.ResponseWriter, r *http.Request) error {
		chunk := make([]byte, 1<<20)
		for {
			if _, err := w.Write(chunk); err != nil {
				returned <- err
				return streamedError{err}
			}
		}
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: spanlog\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Far longer than the deadline: only a write that blocks for as long
	// as the client likes gets here.
	select {
	case err := <-returned:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the handler's write failed with %v, want its deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a handler writing to a client that reads nothing was still writing after 30s")
	}
}
