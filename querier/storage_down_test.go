package querier

import (
	"context"
	"log/slog"
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
	id := pcommon.TraceID{1, 2, 3}
	q.produce(t, querytest.TraceSpans(id, 0, 0, 1))

	if tr := findTrace(t, q, id); !tr.found || tr.spans != 2 || !tr.partial.IsPartial() || !strings.Contains(tr.partial.Message(), "object storage") {
		t.Errorf("trace: found %v, %d spans (want 2), partial %v: %s", tr.found, tr.spans, tr.partial.IsPartial(), tr.partial.Message())
	}
	if b := findBatch(t, q, []pcommon.TraceID{id, {9}}); b.found != 1 || !b.partial.IsPartial() || !strings.Contains(b.partial.Message(), "object storage") {
		t.Errorf("batch: %d found, partial %v: %s", b.found, b.partial.IsPartial(), b.partial.Message())
	}
	if s := searchAll(t, q); s.traces != 1 || !s.partial.IsPartial() || !strings.Contains(s.partial.Message(), "object storage") {
		t.Errorf("search: %d traces, partial %v: %s", s.traces, s.partial.IsPartial(), s.partial.Message())
	}

	srv.Restart(t)
	if err := q.blocklist.WaitLoaded(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tr := findTrace(t, q, id); tr.spans != 2 || tr.partial.IsPartial() {
		t.Errorf("trace with the bucket back: %d spans, partial %v: %s", tr.spans, tr.partial.IsPartial(), tr.partial.Message())
	}
	if s := searchAll(t, q); s.traces != 1 || s.partial.IsPartial() {
		t.Errorf("search with the bucket back: %d traces, partial %v: %s", s.traces, s.partial.IsPartial(), s.partial.Message())
	}
}

// A querier whose object storage stops while it runs answers from its
// live tail and the blocks it can still read, marked PARTIAL, instead of
// failing; and answers whole once the bucket is back.
func TestQuerierAnswersFromTheLiveTailWhenObjectStorageStops(t *testing.T) {
	srv, bkt := newMinIOBucket(t)
	q := startQuerierWithin(t, bkt, storageDownConfig(), tenant.DefaultConfig(), querytest.NoLimits(t))
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
	if tr := findTrace(t, q, split); tr.spans != 4 || tr.partial.IsPartial() {
		t.Fatalf("before the outage: %d spans, partial %v: %s", tr.spans, tr.partial.IsPartial(), tr.partial.Message())
	}

	srv.Stop()
	if tr := findTrace(t, q, split); !tr.found || tr.spans != 2 || !tr.partial.IsPartial() || !strings.Contains(tr.partial.Message(), "object storage") {
		t.Errorf("trace: found %v, %d spans (want 2), partial %v: %s", tr.found, tr.spans, tr.partial.IsPartial(), tr.partial.Message())
	}
	if tr := findTrace(t, q, stored); tr.found || !tr.partial.IsPartial() {
		t.Errorf("trace only in blocks: found %v, partial %v: %s", tr.found, tr.partial.IsPartial(), tr.partial.Message())
	}
	if b := findBatch(t, q, []pcommon.TraceID{split, stored}); b.found != 1 || !b.partial.IsPartial() || !strings.Contains(b.partial.Message(), "object storage") {
		t.Errorf("batch: %d found, partial %v: %s", b.found, b.partial.IsPartial(), b.partial.Message())
	}
	if s := searchAll(t, q); s.traces != 1 || !s.partial.IsPartial() || !strings.Contains(s.partial.Message(), "object storage") {
		t.Errorf("search: %d traces, partial %v: %s", s.traces, s.partial.IsPartial(), s.partial.Message())
	}

	srv.Restart(t)
	if tr := findTrace(t, q, split); tr.spans != 4 || tr.partial.IsPartial() {
		t.Errorf("trace with the bucket back: %d spans, partial %v: %s", tr.spans, tr.partial.IsPartial(), tr.partial.Message())
	}
	if s := searchAll(t, q); s.traces != 2 || s.partial.IsPartial() {
		t.Errorf("search with the bucket back: %d traces, partial %v: %s", s.traces, s.partial.IsPartial(), s.partial.Message())
	}
}
