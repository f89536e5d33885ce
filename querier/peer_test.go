package querier

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

// The peer endpoint checks what it is asked before reading: the TraceQL
// of a search within its bounds, as every route that parses TraceQL, and
// spans only of the traces named, never a whole tail.
func TestPeerRequestsAreChecked(t *testing.T) {
	peer := http.NewServeMux()
	unstartedQuerier(t).RegisterPeerRoutes(peer)
	deep := strings.Repeat("(", 5*traceql.MaxDepth)
	long := strings.Repeat("(", traceql.MaxQueryBytes+1)
	for _, tc := range []struct{ body, says string }{
		{`{"kind": "candidates", "tenants": ["t"], "partitions": [0], "args": {"query": "` + deep + `"}}`, "parse error at 1:1001: parentheses and ! nest more than 1000 deep"},
		{`{"kind": "candidates", "tenants": ["t"], "partitions": [0], "args": {"query": "` + long + `"}}`, "over the limit of 131072"},
		{`{"kind": "spans", "tenants": ["t"], "partitions": [0]}`, "live request asks for the spans of no trace"},
		{`{"kind": "spans", "tenants": ["t"], "partitions": [0], "traceIDs": []}`, "live request asks for the spans of no trace"},
		{`{"kind": "everything", "tenants": ["t"], "partitions": [0]}`, "live request of unknown kind"},
	} {
		rec := httptest.NewRecorder()
		peer.ServeHTTP(rec, httptest.NewRequest("POST", live.Path, strings.NewReader(tc.body)))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.says) {
			t.Errorf("%.60s...: %d %s, want 400 saying %q", tc.body, rec.Code, rec.Body, tc.says)
		}
	}
}

// withAttribute returns a trace of one span holding an attribute of size
// bytes, which makes up nearly all of its encoded size.
func withAttribute(id pcommon.TraceID, size int) ptrace.Traces {
	td := querytest.TraceSpans(id, 0, 0)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("blob", strings.Repeat("x", size))
	return td
}

// An owner never sends more of its live tail than
// querier.peer-max-response-bytes, and the asker reads no more: an answer
// for several traces over it is asked for again in halves, and one trace
// over it fails the query at once, naming the setting, rather than being
// asked for again until the query times out.
func TestPeerAnswersAreBounded(t *testing.T) {
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PeerMaxResponseBytes = 20_000 // one trace of 10,000 bytes, not two
	qs := startQueriersWithin(t, bkt, 2, cfg, tenant.DefaultConfig(), querytest.NoLimits(t))
	owner, asker := qs[0], qs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(owner.live.Tail().Owned()) == 0 || len(owner.live.Tail().Owned())+len(asker.live.Tail().Owned()) != 4 {
		select {
		case <-ctx.Done():
			t.Fatal("the group did not share the partitions")
		case <-time.After(10 * time.Millisecond):
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	ownersID := func() pcommon.TraceID {
		for {
			id := randomID(rng)
			if _, ok := owner.live.Tail().Owned()[schema.Partition(querytest.Tenant, id, owner.partitions)]; ok {
				return id
			}
		}
	}

	var ids []pcommon.TraceID
	for range 4 {
		id := ownersID()
		ids = append(ids, id)
		owner.produce(t, withAttribute(id, 10_000))
	}
	found := 0
	_, err = asker.FindTraces(ctx, []string{querytest.Tenant}, ids, TimeRange{}, func(_ pcommon.TraceID, td ptrace.Traces) error {
		found++
		return nil
	})
	if err != nil || found != len(ids) {
		t.Fatalf("four traces of 10,000 bytes in the owner's tail: found %d: %v", found, err)
	}
	if promtest.Value(t, asker.reg, "spanlog_querier_peer_requests_total", "outcome", "too_large") == 0 {
		t.Errorf("no answer was over the bound: the test proves nothing")
	}

	big := ownersID()
	owner.produce(t, withAttribute(big, 30_000))
	_, _, err = asker.FindTrace(ctx, []string{querytest.Tenant}, big, TimeRange{})
	if !errors.Is(err, ErrPeerResponseTooLarge) || !strings.Contains(err.Error(), "querier.peer-max-response-bytes 20000") {
		t.Fatalf("a trace of 30,000 bytes in the owner's tail: %v, want one over querier.peer-max-response-bytes", err)
	}
}
