package querier

import (
	"context"
	"log/slog"
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
	if tr := findTrace(t, q, ids[len(ids)-1]); tr.spans != 3 || !tr.partial.IsPartial() || !strings.Contains(tr.partial.Message(), "live-tail-max-bytes") {
		t.Errorf("latest trace: %d spans (want 3), partial %v: %s", tr.spans, tr.partial.IsPartial(), tr.partial.Message())
	}
	if tr := findTrace(t, q, long); tr.spans != 2 || !tr.partial.IsPartial() {
		t.Errorf("long trace: %d spans (want its last 2), partial %v", tr.spans, tr.partial.IsPartial())
	}
	if b := findBatch(t, q, batch); b.found == len(batch) || !b.partial.IsPartial() || !strings.Contains(b.partial.Message(), "live-tail-max-bytes") {
		t.Errorf("batch: %d of %d found, partial %v: %s", b.found, len(batch), b.partial.IsPartial(), b.partial.Message())
	}
	if s := searchAll(t, q); !s.partial.IsPartial() || !strings.Contains(s.partial.Message(), "live-tail-max-bytes") {
		t.Errorf("search: partial %v: %s", s.partial.IsPartial(), s.partial.Message())
	}

	// The block-builder catches up.
	bcfg := blockbuilder.DefaultConfig()
	bcfg.ConsumerGroup = "builders"
	bcfg.CycleDuration = time.Second
	bcfg.IdleCutDelay = 100 * time.Millisecond
	bcfg.FetchMaxWait = 50 * time.Millisecond
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
	if tr := findTrace(t, q, long); tr.spans != 4 || tr.partial.IsPartial() {
		t.Errorf("long trace after the builders caught up: %d spans (want 4), partial %v: %s", tr.spans, tr.partial.IsPartial(), tr.partial.Message())
	}
	if b := findBatch(t, q, batch); b.found != len(batch) || b.partial.IsPartial() {
		t.Errorf("batch after the builders caught up: %d of %d found, partial %v: %s", b.found, len(batch), b.partial.IsPartial(), b.partial.Message())
	}
	if s := searchAll(t, q); s.traces != len(ids) || s.partial.IsPartial() {
		t.Errorf("search after the builders caught up: %d traces (want %d), partial %v: %s", s.traces, len(ids), s.partial.IsPartial(), s.partial.Message())
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

// traceAnswer is what a lookup of one trace found, and why it may miss
// spans.
type traceAnswer struct {
	found   bool
	spans   int
	partial Partial
}

// findTrace looks id up in q, as a trace-by-ID request does.
func findTrace(t *testing.T, q *runningQuerier, id pcommon.TraceID) traceAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), q.cfg.QueryTimeout)
	defer cancel()
	res, found, err := q.FindTrace(ctx, []string{querytest.Tenant}, id, TimeRange{})
	if err != nil {
		t.Fatalf("trace %s: %v", id, err)
	}
	return traceAnswer{found: found, spans: res.Trace.SpanCount(), partial: res.Partial}
}

// batchAnswer is how many traces a batch lookup found, and why it may
// miss spans.
type batchAnswer struct {
	found   int
	partial Partial
}

// findBatch looks ids up in q in one batch.
func findBatch(t *testing.T, q *runningQuerier, ids []pcommon.TraceID) batchAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), q.cfg.QueryTimeout)
	defer cancel()
	var out batchAnswer
	sum, err := q.FindTraces(ctx, []string{querytest.Tenant}, ids, TimeRange{}, func(pcommon.TraceID, ptrace.Traces) error {
		out.found++
		return nil
	})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	out.partial = sum.Partial
	return out
}

// searchAnswer is how many traces a search found, and why it may miss
// some.
type searchAnswer struct {
	traces  int
	partial Partial
}

// searchAll searches every trace in q.
func searchAll(t *testing.T, q *runningQuerier) searchAnswer {
	t.Helper()
	res := search(t, q, "{}", 10000)
	return searchAnswer{len(res.Traces), res.Partial}
}
