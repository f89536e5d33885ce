package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/internal/querytest"
)

// batchResponse is a decoded batch response.
type batchResponse struct {
	traces   map[string][]string // span sets by hex trace ID
	order    []string            // trace IDs in the order sent
	notFound []string
	// ended is set by the last record, which holds errMsg if the lookup
	// failed.
	ended  bool
	errMsg string
}

func decodeNDJSON(t *testing.T, body io.Reader) batchResponse {
	t.Helper()
	resp := batchResponse{traces: make(map[string][]string)}
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if resp.ended {
			t.Fatalf("record after the last one: %s", sc.Text())
		}
		var rec struct {
			TraceID  string          `json:"traceID"`
			Trace    json.RawMessage `json:"trace"`
			NotFound []string        `json:"notFound"`
			Error    string          `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if rec.TraceID == "" {
			resp.ended, resp.notFound, resp.errMsg = true, rec.NotFound, rec.Error
			continue
		}
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(rec.Trace)
		if err != nil {
			t.Fatalf("trace %s: %v", rec.TraceID, err)
		}
		resp.traces[rec.TraceID] = querytest.SpanSet(td)
		resp.order = append(resp.order, rec.TraceID)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return resp
}

func decodeFrames(t *testing.T, body []byte) batchResponse {
	t.Helper()
	resp := batchResponse{traces: make(map[string][]string)}
	for len(body) > 0 {
		frame, n := protowire.ConsumeBytes(body)
		if n < 0 {
			t.Fatalf("frame length: %v", protowire.ParseError(n))
		}
		body = body[n:]
		if resp.ended {
			t.Fatal("frame after the last one")
		}
		var id string
		var td ptrace.Traces
		for len(frame) > 0 {
			num, typ, n := protowire.ConsumeTag(frame)
			if n < 0 {
				t.Fatal(protowire.ParseError(n))
			}
			frame = frame[n:]
			var v any
			switch typ {
			case protowire.BytesType:
				b, m := protowire.ConsumeBytes(frame)
				v, n = b, m
			case protowire.VarintType:
				x, m := protowire.ConsumeVarint(frame)
				v, n = x, m
			default:
				t.Fatalf("field %d has wire type %d", num, typ)
			}
			if n < 0 {
				t.Fatal(protowire.ParseError(n))
			}
			frame = frame[n:]
			switch num {
			case batchFieldTraceID:
				id = hex.EncodeToString(v.([]byte))
			case batchFieldTrace:
				var err error
				if td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(v.([]byte)); err != nil {
					t.Fatal(err)
				}
			case batchFieldNotFound:
				resp.notFound = append(resp.notFound, hex.EncodeToString(v.([]byte)))
			case batchFieldError:
				resp.errMsg = string(v.([]byte))
			}
		}
		if id == "" {
			resp.ended = true
			continue
		}
		resp.traces[id] = querytest.SpanSet(td)
		resp.order = append(resp.order, id)
	}
	return resp
}

// batchFixture is a querier over blocks and a live tail that hold parts of
// the same traces.
type batchFixture struct {
	q *runningQuerier
	// ids are every ID a test asks for: with repeats, and some no span
	// of was ever written.
	ids []pcommon.TraceID
}

// newBatchFixture writes two blocks, one trace in both, a span of it in
// both, and starts a querier; then writes to its live tail more of a trace
// in a block and a trace of its own.
func newBatchFixture(t *testing.T) *batchFixture {
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	inBlockAndLive, inTwoBlocks, inBlock, inLive, unknown := pcommon.TraceID{0x10, 1}, pcommon.TraceID{0x30, 1}, pcommon.TraceID{0x50, 1}, pcommon.TraceID{0x70, 1}, pcommon.TraceID{0x90, 1}
	td := querytest.TraceSpans(inBlockAndLive, 0, 0, 1)
	querytest.TraceSpans(inTwoBlocks, 1, 0, 1).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	querytest.WriteBlock(t, bkt, 0, td)
	td = querytest.TraceSpans(inTwoBlocks, 1, 1, 2)
	querytest.TraceSpans(inBlock, 2, 0).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	querytest.WriteBlock(t, bkt, 1, td)
	f := &batchFixture{q: startQuerier(t, bkt), ids: []pcommon.TraceID{unknown, inBlockAndLive, inTwoBlocks, inBlock, inLive, inBlockAndLive}}
	f.q.awaitBlocks(t, 2)
	f.q.produce(t, querytest.TraceSpans(inBlockAndLive, 0, 2))
	f.q.produce(t, querytest.TraceSpans(inLive, 3, 0, 1))
	return f
}

// Both encodings stream every trace FindTraces finds, each once and in a
// record of its own, then a last record with the IDs not found.
func TestBatchEndpointEncodings(t *testing.T) {
	f := newBatchFixture(t)
	srv := httptest.NewServer(routes(f.q.Querier))
	defer srv.Close()

	want := make(map[string][]string)
	sum, err := f.q.FindTraces(t.Context(), []string{querytest.Tenant}, f.ids, querier.TimeRange{}, func(id pcommon.TraceID, td ptrace.Traces) error {
		want[id.String()] = querytest.SpanSet(td)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wantNotFound []string
	for _, id := range sum.NotFound {
		wantNotFound = append(wantNotFound, id.String())
	}
	if len(want) != 4 || len(wantNotFound) != 1 {
		t.Fatalf("the fixture's lookup found %d traces and not %d, want 4 and 1", len(want), len(wantNotFound))
	}
	hexIDs := make([]string, len(f.ids))
	for i, id := range f.ids {
		hexIDs[i] = id.String()
	}

	for _, tc := range []struct {
		name, method, accept, mediaType string
	}{
		{"JSON body, NDJSON", http.MethodPost, "", mediaNDJSON},
		{"query string, protobuf", http.MethodGet, mediaProtobuf, mediaProtobuf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req *http.Request
			if tc.method == http.MethodPost {
				body, _ := json.Marshal(map[string]any{"ids": hexIDs})
				req, _ = http.NewRequest(tc.method, srv.URL+"/api/batch/traces", bytes.NewReader(body))
			} else {
				req, _ = http.NewRequest(tc.method, srv.URL+"/api/batch/traces?ids="+strings.Join(hexIDs, ","), nil)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.mediaType {
				t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var got batchResponse
			if tc.mediaType == mediaNDJSON {
				got = decodeNDJSON(t, resp.Body)
			} else {
				body, _ := io.ReadAll(resp.Body)
				got = decodeFrames(t, body)
			}
			if len(got.order) != len(want) {
				t.Errorf("%d trace records, want %d", len(got.order), len(want))
			}
			for id, spans := range want {
				if !slices.Equal(got.traces[id], spans) {
					t.Errorf("trace %s: got %v, want %v", id, got.traces[id], spans)
				}
			}
			if !slices.Equal(got.notFound, wantNotFound) {
				t.Errorf("not found %v, want %v", got.notFound, wantNotFound)
			}
			if !got.ended || got.errMsg != "" {
				t.Errorf("ended %v, error %q; want a summary", got.ended, got.errMsg)
			}
		})
	}
}

// An error after the first trace was sent ends the stream with a record
// that says it: the status is long gone.
func TestBatchStreamError(t *testing.T) {
	for _, protobuf := range []bool{false, true} {
		rec := httptest.NewRecorder()
		s := newBatchStream(rec, protobuf, querier.ResponseLimit{})
		if err := s.trace(querytest.TraceID(1), querytest.Spans([2]byte{1, 1})); err != nil {
			t.Fatal(err)
		}
		if err := s.fail(errors.New("block unreadable")); err != nil {
			t.Fatal(err)
		}
		var got batchResponse
		if protobuf {
			got = decodeFrames(t, rec.Body.Bytes())
		} else {
			got = decodeNDJSON(t, rec.Body)
		}
		if len(got.order) != 1 || !got.ended || got.errMsg != "block unreadable" {
			t.Errorf("protobuf %v: %d traces, ended %v with error %q", protobuf, len(got.order), got.ended, got.errMsg)
		}
		if !rec.Flushed {
			t.Errorf("protobuf %v: records not flushed", protobuf)
		}
	}
}

// gatedBucket holds reads of one object until gate is closed.
type gatedBucket struct {
	objstore.Bucket
	name string
	gate chan struct{}
}

func (b *gatedBucket) Open(ctx context.Context, name string) (objstore.ReaderAt, error) {
	r, err := b.Bucket.Open(ctx, name)
	if err != nil || name != b.name {
		return r, err
	}
	return gatedReaderAt{ReaderAt: r, gate: b.gate}, nil
}

type gatedReaderAt struct {
	objstore.ReaderAt
	gate chan struct{}
}

func (r gatedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	<-r.gate
	return r.ReaderAt.ReadAt(p, off)
}

// A trace is sent as soon as every block that may hold it was read, while
// blocks that cannot hold it are still being read.
func TestBatchStreamsEachTraceWhenComplete(t *testing.T) {
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fast, slow := pcommon.TraceID{0x10, 1}, pcommon.TraceID{0xf0, 1}
	td := querytest.TraceSpans(fast, 0, 1, 2)
	querytest.TraceSpans(pcommon.TraceID{0x20, 1}, 0, 1).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	querytest.WriteBlock(t, dir, 0, td)
	slowMeta := querytest.WriteBlock(t, dir, 1, querytest.TraceSpans(slow, 0, 1, 2))
	bkt := &gatedBucket{Bucket: dir, name: block.DataName(querytest.Tenant, slowMeta.BlockID), gate: make(chan struct{})}
	var release sync.Once
	open := func() { release.Do(func() { close(bkt.gate) }) }

	q := startQuerier(t, bkt)
	q.awaitBlocks(t, 2)
	srv := httptest.NewServer(routes(q.Querier))
	defer srv.Close()
	defer open() // before the server waits for its handlers

	// The status line itself comes with the first trace, so the request
	// is made where the test can time out waiting for it.
	type firstRecord struct {
		resp  *http.Response
		lines *bufio.Reader
		line  string
		err   error
	}
	first := make(chan firstRecord, 1)
	go func() {
		var f firstRecord
		f.resp, f.err = http.Get(srv.URL + "/api/batch/traces?ids=" + slow.String() + "," + fast.String())
		if f.err == nil {
			f.lines = bufio.NewReader(f.resp.Body)
			f.line, f.err = f.lines.ReadString('\n')
		}
		first <- f
	}()
	var lines *bufio.Reader
	select {
	case f := <-first:
		if f.err != nil {
			t.Fatal(f.err)
		}
		defer f.resp.Body.Close()
		if !strings.HasPrefix(f.line, `{"traceID":"`+fast.String()+`"`) {
			t.Fatalf("first record %q, want trace %s", f.line, fast)
		}
		lines = f.lines
	case <-time.After(10 * time.Second):
		t.Fatal("no trace streamed while a block that cannot hold it is being read")
	}
	open()
	got := decodeNDJSON(t, lines)
	if len(got.order) != 1 || got.order[0] != slow.String() || !got.ended || len(got.notFound) != 0 {
		t.Errorf("after the slow block: traces %v, ended %v, not found %v", got.order, got.ended, got.notFound)
	}
}
