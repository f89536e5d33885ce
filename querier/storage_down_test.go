package querier

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/tenant"
)

// storageDownConfig is the configuration of a querier over a bucket that
// goes away: a query timeout well above the wait for object storage, so
// that an answer in time is one that did not wait for it.
func storageDownConfig() Config {
	cfg := DefaultConfig()
	cfg.QueryTimeout = 20 * time.Second
	cfg.StorageTimeout = time.Second
	cfg.Blocklist.PollInterval = 100 * time.Millisecond
	return cfg
}

// newMinIOBucket returns a bucket on a MinIO server of its own, which the
// test may stop, retrying little so that failures come fast.
func newMinIOBucket(t *testing.T) (*miniotest.Server, objstore.Bucket) {
	t.Helper()
	srv := miniotest.Start(t)
	cfg := srv.NewBucket(t)
	cfg.MaxRetries = 1
	cfg.RequestTimeout = 2 * time.Second
	bkt, err := objstore.NewS3(cfg, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return srv, bkt
}

// A querier that starts while object storage is down answers every query
// from its live tail at once, marked PARTIAL with a message that names
// object storage, instead of waiting for a blocklist it cannot load; and
// answers whole once the bucket is back.
func TestQuerierStartingWithoutObjectStorageAnswersFromTheLiveTail(t *testing.T) {
	srv, bkt := newMinIOBucket(t)
	srv.Stop()
	q := launchQueriers(t, bkt, []Config{storageDownConfig()}, tenant.DefaultConfig(), querytest.NoLimits(t))[0]
	addr := q.api
	id := pcommon.TraceID{1, 2, 3}
	q.produce(t, querytest.TraceSpans(id, 0, 0, 1))

	if v1 := getTraceV1(t, addr, id); v1.code != http.StatusOK || v1.spans != 2 {
		t.Errorf("v1: %d, %d spans (want 200, 2): %s", v1.code, v1.spans, v1.Message)
	}
	if v2 := getTraceV2(t, addr, id); v2.code != http.StatusOK || v2.spans != 2 || v2.Status != "PARTIAL" || !strings.Contains(v2.Message, "object storage") {
		t.Errorf("v2: %d, %d spans, status %q: %s", v2.code, v2.spans, v2.Status, v2.Message)
	}
	if b := getBatch(t, addr, []pcommon.TraceID{id, {9}}); b.found != 1 || b.Status != "PARTIAL" || !strings.Contains(b.Message, "object storage") {
		t.Errorf("batch: %d found, status %q: %s", b.found, b.Status, b.Message)
	}
	if s := getSearch(t, addr); s.traces != 1 || s.Status != "PARTIAL" || !strings.Contains(s.Message, "object storage") {
		t.Errorf("search: %d traces, status %q: %s", s.traces, s.Status, s.Message)
	}

	srv.Restart(t)
	if err := q.blocklist.WaitLoaded(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v2 := getTraceV2(t, addr, id); v2.spans != 2 || v2.Status != "" {
		t.Errorf("v2 with the bucket back: %d spans, status %q: %s", v2.spans, v2.Status, v2.Message)
	}
	if s := getSearch(t, addr); s.traces != 1 || s.Status != "" {
		t.Errorf("search with the bucket back: %d traces, status %q: %s", s.traces, s.Status, s.Message)
	}
}

// A querier whose object storage stops while it runs answers from its
// live tail and the blocks it can still read, marked PARTIAL, instead of
// failing; and answers whole once the bucket is back.
func TestQuerierAnswersFromTheLiveTailWhenObjectStorageStops(t *testing.T) {
	srv, bkt := newMinIOBucket(t)
	q := startQuerierWithin(t, bkt, storageDownConfig(), tenant.DefaultConfig(), querytest.NoLimits(t))
	addr := q.api
	// Trace split has two spans in a block and two in the live tail;
	// trace stored only in the block.
	split, stored := pcommon.TraceID{1, 2, 3}, pcommon.TraceID{4, 5, 6}
	td := querytest.TraceSpans(split, 0, 0, 1)
	querytest.TraceSpans(stored, 0, 0, 1).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	querytest.WriteBlock(t, bkt, 0, td)
	q.produce(t, querytest.TraceSpans(split, 0, 2, 3))
	for len(q.blocklist.Metas(querytest.Tenant)) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if v2 := getTraceV2(t, addr, split); v2.spans != 4 || v2.Status != "" {
		t.Fatalf("before the outage: %d spans, status %q: %s", v2.spans, v2.Status, v2.Message)
	}

	srv.Stop()
	if v1 := getTraceV1(t, addr, split); v1.code != http.StatusOK || v1.spans != 2 {
		t.Errorf("v1: %d, %d spans (want 200, 2): %s", v1.code, v1.spans, v1.Message)
	}
	if v2 := getTraceV2(t, addr, split); v2.code != http.StatusOK || v2.spans != 2 || v2.Status != "PARTIAL" || !strings.Contains(v2.Message, "object storage") {
		t.Errorf("v2: %d, %d spans, status %q: %s", v2.code, v2.spans, v2.Status, v2.Message)
	}
	if v2 := getTraceV2(t, addr, stored); v2.code != http.StatusNotFound || !strings.Contains(v2.Message, "PARTIAL") {
		t.Errorf("v2 of a trace only in blocks: %d: %s", v2.code, v2.Message)
	}
	if b := getBatch(t, addr, []pcommon.TraceID{split, stored}); b.found != 1 || b.Status != "PARTIAL" || !strings.Contains(b.Message, "object storage") {
		t.Errorf("batch: %d found, status %q: %s", b.found, b.Status, b.Message)
	}
	if s := getSearch(t, addr); s.traces != 1 || s.Status != "PARTIAL" || !strings.Contains(s.Message, "object storage") {
		t.Errorf("search: %d traces, status %q: %s", s.traces, s.Status, s.Message)
	}

	srv.Restart(t)
	if v2 := getTraceV2(t, addr, split); v2.spans != 4 || v2.Status != "" {
		t.Errorf("v2 with the bucket back: %d spans, status %q: %s", v2.spans, v2.Status, v2.Message)
	}
	if s := getSearch(t, addr); s.traces != 2 || s.Status != "" {
		t.Errorf("search with the bucket back: %d traces, status %q: %s", s.traces, s.Status, s.Message)
	}
}
