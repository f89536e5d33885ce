package querier

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/blockbuilder"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/tenant"
)

// TestLiveTailBoundWithBuildersHeldBack runs a querier whose block-builders
// are not running, so that nothing leaves its live tail, and fills the log
// to several times the live tail's bound. The live tail stays within its
// bound, keeping the most recent records, and the answers that may miss
// evicted records say PARTIAL: trace by ID, batch and search. Once a
// block-builder writes the blocks, every answer is whole again and no
// longer partial (no gap between the live tail and the blocks).
func TestLiveTailBoundWithBuildersHeldBack(t *testing.T) {
	const bound = 128 << 10
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.LiveTailMaxBytes = bound
	q := startQuerierWithin(t, bkt, cfg, tenant.DefaultConfig(), querytest.NoLimits(t))
	addr := q.api

	// A long trace, begun first and ended last, and many short ones in
	// between: about 1.5 KiB of spans each, 3 MiB in all.
	long := pcommon.TraceID{0xff, 1}
	ids := []pcommon.TraceID{long}
	ends := map[int32]int64{}
	produce := func(td ptrace.Traces) {
		p, off := q.produce(t, padded(td))
		ends[p] = max(ends[p], off+1)
	}
	produce(querytest.TraceSpans(long, 0, 0, 1))
	for i := range 2000 {
		id := pcommon.TraceID{byte(i >> 8), byte(i), 2}
		ids = append(ids, id)
		produce(querytest.TraceSpans(id, 1, 0, 1, 2))
	}
	produce(querytest.TraceSpans(long, 0, 2, 3))
	// A batch of the oldest and the most recent traces.
	batch := append(ids[:500:500], ids[len(ids)-400:]...)
	live := q.live.Tail()
	for p, end := range ends {
		if err := live.WaitFor(context.Background(), p, end); err != nil {
			t.Fatal(err)
		}
	}

	records, size := live.Size()
	evicted, _, gaps := live.Evictions()
	t.Logf("live tail: %d records, %d bytes, bound %d; %d records evicted, %d gaps", records, size, bound, evicted, gaps)
	if size > bound || evicted == 0 || gaps == 0 {
		t.Fatalf("live tail holds %d bytes for a bound of %d, evicted %d records", size, bound, evicted)
	}
	// The most recent trace is held; the long trace lost its beginning.
	if v2 := getTraceV2(t, addr, ids[len(ids)-1]); v2.spans != 3 || v2.Status != "PARTIAL" || !strings.Contains(v2.Message, "live-tail-max-bytes") {
		t.Errorf("latest trace: %d spans (want 3), status %q: %s", v2.spans, v2.Status, v2.Message)
	}
	if v2 := getTraceV2(t, addr, long); v2.spans != 2 || v2.Status != "PARTIAL" {
		t.Errorf("long trace: %d spans (want its last 2), status %q", v2.spans, v2.Status)
	}
	if b := getBatch(t, addr, batch); b.found == len(batch) || b.Status != "PARTIAL" || !strings.Contains(b.Message, "live-tail-max-bytes") {
		t.Errorf("batch: %d of %d found, status %q: %s", b.found, len(batch), b.Status, b.Message)
	}
	if s := getSearch(t, addr); s.Status != "PARTIAL" || !strings.Contains(s.Message, "live-tail-max-bytes") {
		t.Errorf("search: status %q: %s", s.Status, s.Message)
	}

	// The block-builder catches up.
	bcfg := blockbuilder.DefaultConfig()
	bcfg.ConsumerGroup = "builders"
	bcfg.CycleDuration = time.Second
	bcfg.IdleCutDelay = 100 * time.Millisecond
	b, err := blockbuilder.New(bcfg, q.kafka, querytest.Tenant, bkt, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, gaps := live.Evictions(); gaps == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("blocks never covered the evicted records")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v2 := getTraceV2(t, addr, long); v2.spans != 4 || v2.Status != "" {
		t.Errorf("long trace after the builders caught up: %d spans (want 4), status %q: %s", v2.spans, v2.Status, v2.Message)
	}
	if b := getBatch(t, addr, batch); b.found != len(batch) || b.Status != "" {
		t.Errorf("batch after the builders caught up: %d of %d found, status %q: %s", b.found, len(batch), b.Status, b.Message)
	}
	if s := getSearch(t, addr); s.traces != len(ids) || s.Status != "" {
		t.Errorf("search after the builders caught up: %d traces (want %d), status %q: %s", s.traces, len(ids), s.Status, s.Message)
	}
	if _, size := live.Size(); size > bound {
		t.Errorf("live tail holds %d bytes for a bound of %d", size, bound)
	}
}

// padded adds an attribute of 400 bytes to each span of td.
func padded(td ptrace.Traces) ptrace.Traces {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				s.Attributes().PutStr("padding", strings.Repeat("x", 400))
			}
		}
	}
	return td
}

// partialJSON is the status and message of an answer.
type partialJSON struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// traceAnswer is what a trace-by-ID request got: its status code, the
// spans of the trace, and v2's PARTIAL status (or the body of an error).
type traceAnswer struct {
	partialJSON
	code, spans int
}

// getTraceV1 fetches /api/traces/{id} from the querier at addr.
func getTraceV1(t *testing.T, addr string, id pcommon.TraceID) traceAnswer {
	t.Helper()
	return getTrace(t, fmt.Sprintf("http://%s/api/traces/%s", addr, id), func(raw map[string]json.RawMessage) []byte {
		return []byte(`{"resourceSpans":` + string(raw["batches"]) + `}`)
	})
}

// getTraceV2 fetches /api/v2/traces/{id} from the querier at addr.
func getTraceV2(t *testing.T, addr string, id pcommon.TraceID) traceAnswer {
	t.Helper()
	return getTrace(t, fmt.Sprintf("http://%s/api/v2/traces/%s", addr, id), func(raw map[string]json.RawMessage) []byte {
		return raw["trace"]
	})
}

// getTrace fetches url; trace picks the OTLP JSON trace out of the
// answer's fields.
func getTrace(t *testing.T, url string, trace func(map[string]json.RawMessage) []byte) traceAnswer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := traceAnswer{code: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		out.Message = string(body)
		return out
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &out.partialJSON); err != nil {
		t.Fatal(err)
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(trace(raw))
	if err != nil {
		t.Fatal(err)
	}
	out.spans = td.SpanCount()
	return out
}

type batchAnswer struct {
	partialJSON
	found int
}

// getBatch looks ids up with /api/batch/traces at addr.
func getBatch(t *testing.T, addr string, ids []pcommon.TraceID) batchAnswer {
	t.Helper()
	var req struct {
		IDs []string `json:"ids"`
	}
	for _, id := range ids {
		req.IDs = append(req.IDs, id.String())
	}
	body, _ := json.Marshal(req)
	resp, err := http.Post(fmt.Sprintf("http://%s/api/batch/traces", addr), mediaJSON, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("batch: %s: %s", resp.Status, msg)
	}
	var out batchAnswer
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var line struct {
			partialJSON
			TraceID  string   `json:"traceID"`
			NotFound []string `json:"notFound"`
			Error    string   `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		switch {
		case line.Error != "":
			t.Fatalf("batch: %s", line.Error)
		case line.TraceID != "":
			out.found++
		default:
			out.partialJSON = line.partialJSON
		}
	}
	return out
}

type searchAnswer struct {
	partialJSON
	traces int
}

// getSearch searches every trace at addr.
func getSearch(t *testing.T, addr string) searchAnswer {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s/api/search?limit=10000", addr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("search: %s: %s", resp.Status, body)
	}
	var v struct {
		partialJSON
		Traces []json.RawMessage `json:"traces"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return searchAnswer{v.partialJSON, len(v.Traces)}
}
