package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// batchResult is what a batch request streamed back.
type batchResult struct {
	traces   map[string]ptrace.Traces
	notFound []string
	// summary is set by a last record that ends the stream normally,
	// which counts the blocks read.
	summary         bool
	inspectedBlocks uint64
}

// batchFetch asks for ids in one batch request: a JSON body answered in
// NDJSON, or the query-string form answered in protobuf frames.
func batchFetch(t *testing.T, addr string, ids []string, encoding string) batchResult {
	t.Helper()
	status, body, err := do(batchRequest(t, addr, ids, encoding))
	if err != nil || status != http.StatusOK {
		t.Fatalf("batch request: status %d, error %v: %s", status, err, body)
	}
	return decodeBatch(t, body, encoding)
}

// batchRequest is the request batchFetch sends.
func batchRequest(t *testing.T, addr string, ids []string, encoding string) *http.Request {
	t.Helper()
	var req *http.Request
	var err error
	if encoding == "json" {
		body, _ := json.Marshal(map[string]any{"ids": ids})
		req, err = http.NewRequest(http.MethodPost, "http://"+addr+"/api/batch/traces", bytes.NewReader(body))
	} else {
		req, err = http.NewRequest(http.MethodGet, "http://"+addr+"/api/batch/traces?ids="+strings.Join(ids, ","), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if encoding != "json" {
		req.Header.Set("Accept", "application/protobuf")
	}
	return req
}

// decodeBatch reads the body of a batch answer in encoding.
func decodeBatch(t *testing.T, body []byte, encoding string) batchResult {
	t.Helper()
	res := batchResult{traces: make(map[string]ptrace.Traces)}
	var err error
	if encoding == "json" {
		err = readNDJSON(body, &res)
	} else {
		err = readFrames(body, &res)
	}
	if err != nil {
		t.Fatalf("decode %s batch response: %v", encoding, err)
	}
	return res
}

func (res *batchResult) add(id string, td ptrace.Traces) error {
	if res.summary {
		return fmt.Errorf("trace %s after the last record", id)
	}
	if _, dup := res.traces[id]; dup {
		return fmt.Errorf("trace %s sent twice", id)
	}
	res.traces[id] = td
	return nil
}

// readNDJSON reads {"traceID", "trace"} lines, then the last line.
func readNDJSON(body []byte, res *batchResult) error {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var rec struct {
			TraceID  string          `json:"traceID"`
			Trace    json.RawMessage `json:"trace"`
			NotFound []string        `json:"notFound"`
			Metrics  struct {
				InspectedBlocks uint64 `json:"inspectedBlocks,string"`
			} `json:"metrics"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return err
		}
		switch {
		case rec.Error != "":
			return fmt.Errorf("stream failed: %s", rec.Error)
		case rec.TraceID == "":
			res.summary, res.notFound, res.inspectedBlocks = true, rec.NotFound, rec.Metrics.InspectedBlocks
			continue
		}
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(rec.Trace)
		if err != nil {
			return err
		}
		if err := res.add(rec.TraceID, td); err != nil {
			return err
		}
	}
	return sc.Err()
}

// readFrames reads varint-length-delimited BatchTraceFrames: trace_id = 1,
// trace = 2, not_found = 3, metrics = 4 (inspected_blocks = 2), error = 7.
func readFrames(body []byte, res *batchResult) error {
	for len(body) > 0 {
		frame, n := protowire.ConsumeBytes(body)
		if n < 0 {
			return protowire.ParseError(n)
		}
		body = body[n:]
		var id string
		var trace []byte
		var notFound []string
		var blocks uint64
		for len(frame) > 0 {
			num, typ, n := protowire.ConsumeTag(frame)
			if n < 0 {
				return protowire.ParseError(n)
			}
			frame = frame[n:]
			if typ != protowire.BytesType {
				n = protowire.ConsumeFieldValue(num, typ, frame)
				frame = frame[max(n, 0):]
				continue
			}
			v, n := protowire.ConsumeBytes(frame)
			if n < 0 {
				return protowire.ParseError(n)
			}
			frame = frame[n:]
			switch num {
			case 1:
				id = hex.EncodeToString(v)
			case 2:
				trace = v
			case 3:
				notFound = append(notFound, hex.EncodeToString(v))
			case 4:
				blocks = inspectedBlocks(v)
			case 7:
				return fmt.Errorf("stream failed: %s", v)
			}
		}
		if id == "" {
			res.summary, res.notFound, res.inspectedBlocks = true, notFound, blocks
			continue
		}
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(trace)
		if err != nil {
			return err
		}
		if err := res.add(id, td); err != nil {
			return err
		}
	}
	return nil
}

// inspectedBlocks returns field 2 of a BatchMetrics message, 0 if absent.
func inspectedBlocks(metrics []byte) uint64 {
	for len(metrics) > 0 {
		num, typ, n := protowire.ConsumeTag(metrics)
		if n < 0 {
			return 0
		}
		metrics = metrics[n:]
		if num == 2 && typ == protowire.VarintType {
			v, _ := protowire.ConsumeVarint(metrics)
			return v
		}
		n = protowire.ConsumeFieldValue(num, typ, metrics)
		if n < 0 {
			return 0
		}
		metrics = metrics[n:]
	}
	return 0
}

// checkBatch fetches every sent trace and the unknown IDs in one batch
// request per encoding, and fails unless each sent trace holds exactly the
// spans sent, and the IDs not found are exactly the unknown ones. With
// fromBlocks, some blocks must have been read.
func checkBatch(t *testing.T, addr string, sent map[string][]sdktrace.ReadOnlySpan, unknown []string, fromBlocks bool, when string) {
	t.Helper()
	ids := slices.Concat(slices.Collect(maps.Keys(sent)), unknown)
	// Unknown IDs are reported in the order asked.
	slices.Reverse(ids)
	wantNotFound := slices.Clone(unknown)
	slices.Reverse(wantNotFound)
	for _, encoding := range []string{"json", "protobuf"} {
		res := batchFetch(t, addr, ids, encoding)
		if !res.summary {
			t.Fatalf("%s, %s: the stream has no last record", when, encoding)
		}
		if fromBlocks && res.inspectedBlocks == 0 {
			t.Errorf("%s, %s: %d blocks read", when, encoding, res.inspectedBlocks)
		}
		if len(res.traces) != len(sent) {
			t.Errorf("%s, %s: %d traces, want %d", when, encoding, len(res.traces), len(sent))
		}
		for id, spans := range sent {
			td, ok := res.traces[id]
			if !ok {
				t.Errorf("%s, %s: trace %s missing", when, encoding, id)
				continue
			}
			if err := sameSpans(spans, td); err != nil {
				t.Errorf("%s, %s: trace %s: %v", when, encoding, id, err)
			}
		}
		if !slices.Equal(res.notFound, wantNotFound) {
			t.Errorf("%s, %s: not found %v, want %v", when, encoding, res.notFound, wantNotFound)
		}
	}
}

func randomTraceIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		b := make([]byte, 16)
		rand.Read(b)
		ids[i] = hex.EncodeToString(b)
	}
	return ids
}

// TestBatchTraceByID fetches traces by the hundred through the batch
// endpoint while they are in the live tail, once they are in blocks, and
// when a request needs both.
func TestBatchTraceByID(t *testing.T) {
	n := newNode(t)
	p := n.start(t)
	unknown := randomTraceIDs(7)

	sent := sendTraces(t, "grpc", n.OTLPGRPC, "checkout", 60)
	maps.Copy(sent, sendTraces(t, "http", n.OTLPHTTP, "payments", 40))
	checkBatch(t, n.HTTP, sent, unknown, false, "live tail")

	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, n.HTTP, "spanlog_block_builder_blocks_flushed_total") > 0 &&
			metric(t, n.HTTP, "spanlog_querier_live_records") == 0
	})
	checkBatch(t, n.HTTP, sent, unknown, true, "blocks")

	maps.Copy(sent, sendTraces(t, "grpc", n.OTLPGRPC, "late", 20))
	checkBatch(t, n.HTTP, sent, unknown, true, "blocks and live tail")

	// A batch over the limit is refused whole, with the reason.
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.HTTP+"/api/batch/traces?ids="+strings.Join(randomTraceIDs(1001), ","), nil)
	if status, body, err := do(req); err != nil || status != http.StatusBadRequest || !strings.Contains(string(body), "at most 1000") {
		t.Errorf("1001 IDs: status %d, body %q, error %v", status, body, err)
	}
	p.stop(t)
}
