package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/tracelog"
)

// TestPartialAnswersWhenBuildersStallOrStorageGoes runs spanlog as separate
// processes on Kafka and MinIO, and holds the read path's two dependencies
// back in turn:
//
//  1. No block-builder runs while load fills the log to several times the
//     querier's live-tail bound: the querier holds no more than the bound,
//     evicting its oldest records, also after a kill -9 and a replay of the
//     whole log; every answer missing spans says PARTIAL.
//  2. A block-builder catches up: every acked span is answered, whole and
//     no longer PARTIAL.
//  3. MinIO stops, more load is acked, and the querier restarts while the
//     bucket is gone: trace by ID (v1, v2) and search answer from the live
//     tail at once, PARTIAL with a message naming object storage, instead
//     of timing out; whole again once MinIO is back.
func TestPartialAnswersWhenBuildersStallOrStorageGoes(t *testing.T) {
	const bound = 256 << 10
	minio := miniotest.Start(t)
	s3 := minio.NewBucket(t)
	c := newCluster(t, append(s3Flags(s3),
		"-storage.s3.request-timeout=2s",
		"-storage.s3.max-retries=1",
		"-block-builder.retry-backoff=200ms",
		"-block-builder.retry-max-backoff=1s",
		fmt.Sprintf("-querier.live-tail-max-bytes=%d", bound),
		"-querier.storage-timeout=1s",
	)...)
	_, otlp := c.startDistributor(t)
	querier := c.start(t, "querier", "querier")

	// 1. Builders held back.
	first := sendLoad(t, otlp, 200, 3*time.Second)
	waitLiveConsumed(t, c, querier)
	checkLiveBound(t, querier, bound)
	missing, partial := checkTraces(t, querier.http, first, false)
	t.Logf("without builders: %d of %d traces miss spans, %d answers PARTIAL", missing, len(first), partial)
	if missing == 0 {
		t.Fatal("no trace misses spans: the load did not fill the live tail past its bound")
	}

	querier.kill()
	querier = querier.restart(t)
	waitLiveConsumed(t, c, querier)
	checkLiveBound(t, querier, bound)
	checkTraces(t, querier.http, first, false)

	// 2. The builders catch up.
	c.start(t, "block-builder", "block-builder")
	waitDrained(t, c)
	waitFor(t, time.Minute, "the querier's blocks to cover what its live tail evicted", func() bool {
		return metric(t, querier.http, "spanlog_querier_live_gaps") == 0
	})
	if missing, partial := checkTraces(t, querier.http, first, true); missing > 0 || partial > 0 {
		t.Fatalf("with the builders caught up: %d traces miss spans, %d answers PARTIAL", missing, partial)
	}

	// 3. Object storage goes away.
	minio.Stop()
	second := sendLoad(t, otlp, 20, 2*time.Second)
	querier.kill()
	querier = querier.restart(t)
	for id, spans := range second {
		v2 := getTraceV2JSON(t, querier.http, id.String())
		if v2.code != http.StatusOK || v2.spans != len(spans) || v2.Status != "PARTIAL" || !strings.Contains(v2.Message, "object storage") {
			t.Fatalf("v2 without object storage: %d, %d of %d spans, status %q: %s", v2.code, v2.spans, len(spans), v2.Status, v2.Message)
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+querier.http+"/api/traces/"+id.String(), nil)
		if status, body, err := do(req); err != nil || status != http.StatusOK {
			t.Fatalf("v1 without object storage: %d %s %v", status, body, err)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+querier.http+"/api/search?limit=1000", nil)
	status, body, err := do(req)
	if err != nil || status != http.StatusOK {
		t.Fatalf("search without object storage: %d %s %v", status, body, err)
	}
	var search struct {
		Traces  []json.RawMessage `json:"traces"`
		Status  string            `json:"status"`
		Message string            `json:"message"`
	}
	if err := json.Unmarshal(body, &search); err != nil {
		t.Fatal(err)
	}
	if len(search.Traces) < len(second) || search.Status != "PARTIAL" || !strings.Contains(search.Message, "object storage") {
		t.Fatalf("search without object storage: %d traces (want at least %d), status %q: %s", len(search.Traces), len(second), search.Status, search.Message)
	}

	minio.Restart(t)
	waitDrained(t, c)
	all := first
	for id, spans := range second {
		all[id] = spans
	}
	waitFor(t, time.Minute, "whole answers with object storage back", func() bool {
		v2 := getTraceV2JSON(t, querier.http, firstKey(second).String())
		return v2.code == http.StatusOK && v2.Status == ""
	})
	if missing, partial := checkTraces(t, querier.http, all, true); missing > 0 || partial > 0 {
		t.Fatalf("with object storage back: %d traces miss spans, %d answers PARTIAL", missing, partial)
	}
}

// sendLoad sends traces of 5 spans at rate per second for d, and returns
// the spans acked, by trace; every request must be acked.
func sendLoad(t *testing.T, otlp string, rate float64, d time.Duration) map[trace.TraceID][]trace.SpanID {
	t.Helper()
	cfg := loadgen.DefaultConfig()
	cfg.Endpoint = otlp
	cfg.Rate = rate
	cfg.SpansPerTrace = 5
	cfg.BatchTraces = 4
	return sendFor(t, cfg, d).Acked
}

// waitLiveConsumed waits until the querier's live tail has read the whole
// log: the records it holds and those it evicted make up every record.
func waitLiveConsumed(t *testing.T, c *cluster, querier *process) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := tracelog.EndOffsets(context.Background(), cl, "spanlog-traces")
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, end := range ends {
		total += float64(end)
	}
	waitFor(t, time.Minute, "the live tail to read the log", func() bool {
		return metric(t, querier.http, "spanlog_querier_live_records")+metric(t, querier.http, "spanlog_querier_live_evicted_records_total") == total
	})
}

// checkLiveBound checks that the querier holds no more than bound and has
// evicted records to stay within it.
func checkLiveBound(t *testing.T, querier *process, bound float64) {
	t.Helper()
	held := metric(t, querier.http, "spanlog_querier_live_bytes")
	evicted := metric(t, querier.http, "spanlog_querier_live_evicted_records_total")
	t.Logf("live tail: %.0f bytes held for a bound of %.0f, %.0f records evicted", held, bound, evicted)
	if held > bound || evicted == 0 || metric(t, querier.http, "spanlog_querier_live_gaps") == 0 {
		t.Fatalf("live tail holds %.0f bytes for a bound of %.0f, evicted %.0f records", held, bound, evicted)
	}
}

// checkTraces fetches every trace of acked with /api/v2/traces and counts
// the traces missing spans and the answers marked PARTIAL. An answer that
// misses spans must be PARTIAL; with whole, every answer must be 200.
func checkTraces(t *testing.T, addr string, acked map[trace.TraceID][]trace.SpanID, whole bool) (missing, partial int) {
	t.Helper()
	for id, spans := range acked {
		v2 := getTraceV2JSON(t, addr, id.String())
		isPartial := v2.Status == "PARTIAL" || v2.code == http.StatusNotFound && strings.Contains(v2.Message, "PARTIAL")
		if isPartial {
			partial++
		}
		switch {
		case v2.code != http.StatusOK && (whole || v2.code != http.StatusNotFound):
			t.Fatalf("trace %s: %d: %s", id, v2.code, v2.Message)
		case v2.spans > len(spans):
			t.Fatalf("trace %s: %d spans, %d acked", id, v2.spans, len(spans))
		case v2.spans < len(spans):
			missing++
			if !isPartial {
				t.Fatalf("trace %s: %d of %d spans, and the answer (%d) is not PARTIAL", id, v2.spans, len(spans), v2.code)
			}
		}
	}
	return missing, partial
}

type traceV2JSON struct {
	code, spans     int
	Status, Message string
}

// getTraceV2JSON fetches /api/v2/traces/{id} in JSON; the message of an
// answer other than 200 is its body.
func getTraceV2JSON(t *testing.T, addr, id string) traceV2JSON {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v2/traces/"+id, nil)
	status, body, err := do(req)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		return traceV2JSON{code: status, Message: string(body)}
	}
	td, res, err := decodeTraceByIDResponseJSON(body)
	if err != nil {
		t.Fatalf("trace %s: %v", id, err)
	}
	return traceV2JSON{code: status, spans: td.SpanCount(), Status: res.Status, Message: res.Message}
}

func firstKey(m map[trace.TraceID][]trace.SpanID) trace.TraceID {
	for id := range m {
		return id
	}
	return trace.TraceID{}
}
