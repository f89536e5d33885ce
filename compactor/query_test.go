package compactor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/internal/spantest"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/api"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

// queryTenant is the tenant of a querier without multi-tenancy.
const queryTenant = "single-tenant"

// loggedTraces writes traces of queryTenant, set number set, ending
// around ended, to the log, spans of each trace in several records, and
// one block per record, as block-builders would, and commits the
// builders' offsets past them. It returns the blocks and the trace IDs.
func loggedTraces(t *testing.T, log tracelog.Config, bkt objstore.Bucket, set byte, ended time.Time, perPartition int) ([]*schema.BlockMeta, []pcommon.TraceID) {
	t.Helper()
	ctx := context.Background()
	cl, err := kgo.NewClient(append(log.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var (
		blocks    []*schema.BlockMeta
		ids       []pcommon.TraceID
		committed = map[int32]int64{}
	)
	for p := range log.Partitions {
		// Traces of the partition: their IDs hash to it.
		var traces []pcommon.TraceID
		for n := 0; len(traces) < 6; n++ {
			id := pcommon.TraceID{0: 0xc0, 13: set, 14: byte(n >> 8), 15: byte(n)}
			if schema.Partition(queryTenant, id, log.Partitions) == p {
				traces = append(traces, id)
			}
		}
		ids = append(ids, traces...)
		for r := range perPartition {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r%3))
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			// Each record holds spans of half the traces, so that every
			// trace is split across blocks.
			for i, id := range traces {
				if (i+r)%2 != 0 {
					continue
				}
				s := spans.AppendEmpty()
				s.SetTraceID(id)
				s.SetSpanID(pcommon.SpanID{0: byte(p), 1: byte(r), 2: byte(i), 6: set, 7: 1})
				if r > 0 {
					s.SetParentSpanID(pcommon.SpanID{0: byte(p), 1: 0, 2: byte(i), 6: set, 7: 1})
				}
				s.SetName(fmt.Sprintf("op-%d", r))
				s.SetStartTimestamp(pcommon.NewTimestampFromTime(ended.Add(time.Duration(r) * time.Second)))
				s.SetEndTimestamp(pcommon.NewTimestampFromTime(ended.Add(time.Duration(r+1) * time.Second)))
				s.Attributes().PutStr("record", fmt.Sprintf("r%d", r))
				s.Attributes().PutInt("http.response.status_code", int64(200+100*(i%4)))
			}
			rec, err := schema.EncodeRecord(queryTenant, td)
			if err != nil {
				t.Fatal(err)
			}
			rec.Topic, rec.Partition = log.Topic, p
			if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
			b := block.NewBuilder(queryTenant, block.DefaultOptions())
			b.Add(td)
			m, err := b.Write(ctx, bkt, []schema.OffsetRange{{Partition: p, Start: rec.Offset, End: rec.Offset + 1}})
			if err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, m)
			committed[p] = rec.Offset + 1
		}
	}
	commit(t, log, committed)
	return blocks, ids
}

// runQuerier runs a querier over log and bkt until the test ends, and
// returns its query API's address and its metrics.
func runQuerier(t *testing.T, log tracelog.Config, bkt objstore.Bucket, lim *limits.Overrides, retention time.Duration) (string, *prometheus.Registry) {
	t.Helper()
	cfg := querier.DefaultConfig()
	cfg.AdvertiseAddress = "127.0.0.1:1" // the only querier: no one asks it
	cfg.Blocklist.PollInterval = 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	q, err := querier.New(cfg, querier.Deps{Kafka: log, Tenants: tenant.DefaultConfig(), Limits: lim, BlocksGroup: "builders", BlockRetention: retention, Bucket: bkt, Logger: discard(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(q, discard(), reg).RegisterRoutes(mux)
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := q.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait(); srv.Close() })
	await(t, 30*time.Second, "the querier to be ready", func() bool { return q.Ready() == nil })
	return srv.URL, reg
}

// get returns the status and body of GET base+path.
func get(t *testing.T, base, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// answers asks the querier at base every kind of question about ids, and
// returns the answers in a form that does not depend on how spans are
// spread over blocks: spans as sorted lists, arrays sorted, the metrics
// of what was read left out.
func answers(t *testing.T, base string, ids []pcommon.TraceID) map[string]string {
	t.Helper()
	out := map[string]string{}
	hexes := make([]string, len(ids))
	for i, id := range ids {
		hexes[i] = fmt.Sprintf("%x", id[:])
		status, body := get(t, base, "/api/v2/traces/"+hexes[i])
		out["trace "+hexes[i]] = fmt.Sprintf("%d %s", status, traceSpans(t, body, "trace"))
		status, body = get(t, base, "/api/traces/"+hexes[i])
		out["trace v1 "+hexes[i]] = fmt.Sprintf("%d %d", status, len(body))
	}
	status, body := get(t, base, "/api/batch/traces?ids="+strings.Join(hexes, ","))
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var line map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("batch line %s: %v", sc.Bytes(), err)
		}
		if tr, ok := line["trace"]; ok {
			lines = append(lines, fmt.Sprintf("%s %s", line["traceID"], traceSpans(t, tr, "")))
		} else {
			lines = append(lines, "not found "+string(line["notFound"])+" "+string(line["status"]))
		}
	}
	slices.Sort(lines)
	out["batch"] = fmt.Sprintf("%d %s", status, strings.Join(lines, "\n"))
	for _, path := range []string{
		"/api/search?limit=100&q=" + url.QueryEscape("{}"),
		"/api/search?limit=100&spss=100&q=" + url.QueryEscape(`{ span.http.response.status_code >= 300 } && { name = "op-1" }`),
		"/api/search?limit=100&q=" + url.QueryEscape(`{ .record = "r3" || .record = "r5" } | count() > 1`),
		"/api/search?limit=100&tags=" + url.QueryEscape("service.name=svc-1"),
		"/api/search/tags",
		"/api/v2/search/tags",
		"/api/search/tag/record/values",
		"/api/v2/search/tag/span.record/values",
		"/api/v2/search/tag/resource.service.name/values?q=" + url.QueryEscape(`{ name = "op-2" }`),
	} {
		status, body := get(t, base, path)
		out[path] = fmt.Sprintf("%d %s", status, canonical(t, body))
	}
	return out
}

// traceSpans renders the spans of a trace in body (under field, if any)
// as spantest.All does.
func traceSpans(t *testing.T, body []byte, field string) string {
	t.Helper()
	if field != "" {
		var resp map[string]json.RawMessage
		if err := json.Unmarshal(body, &resp); err != nil {
			return string(body) // an error message
		}
		body = resp[field]
	}
	if len(body) == 0 {
		return ""
	}
	var u ptrace.JSONUnmarshaler
	td, err := u.UnmarshalTraces(body)
	if err != nil {
		t.Fatalf("trace %s: %v", body, err)
	}
	return strings.Join(spantest.All(t, td), "\n")
}

// canonical returns JSON body with "metrics" left out and every array
// sorted.
func canonical(t *testing.T, body []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return string(body)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "metrics")
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			keys := make([]string, len(x))
			for i, e := range x {
				x[i] = walk(e)
				b, _ := json.Marshal(x[i])
				keys[i] = string(b)
			}
			slices.Sort(keys)
			out := make([]any, len(x))
			for i, k := range keys {
				out[i] = json.RawMessage(k)
			}
			return out
		}
		return v
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameAnswers fails t where got differs from want.
func sameAnswers(t *testing.T, when string, want, got map[string]string) {
	t.Helper()
	for q, w := range want {
		if got[q] != w {
			t.Errorf("%s, %s answers\n%s\nwhere before the compaction it answered\n%s", when, q, got[q], w)
		}
	}
}

// inspectedBlocks returns how many blocks the batch lookup of ids read.
func inspectedBlocks(t *testing.T, base string, ids []pcommon.TraceID) string {
	t.Helper()
	hexes := make([]string, len(ids))
	for i, id := range ids {
		hexes[i] = fmt.Sprintf("%x", id[:])
	}
	_, body := get(t, base, "/api/batch/traces?ids="+strings.Join(hexes, ","))
	lines := bytes.Split(bytes.TrimSpace(body), []byte("\n"))
	var last struct {
		Metrics struct {
			InspectedBlocks string `json:"inspectedBlocks"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &last); err != nil {
		t.Fatal(err)
	}
	return last.Metrics.InspectedBlocks
}

// holdingBucket holds the uploads of the meta of every block not among
// known until release is closed.
type holdingBucket struct {
	objstore.Bucket
	known   map[uuid.UUID]bool
	held    chan struct{} // closed at the first upload held
	once    sync.Once
	release chan struct{}
}

func (b *holdingBucket) Upload(ctx context.Context, name string, r io.Reader) error {
	parts := strings.Split(name, "/")
	if id, err := uuid.Parse(parts[1]); err == nil && len(parts) == 3 && parts[2] == "meta.json" && !b.known[id] {
		b.once.Do(func() { close(b.held) })
		select {
		case <-b.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.Bucket.Upload(ctx, name, r)
}

// TestQueriesAnswerTheSameBeforeDuringAndAfterCompaction: a querier
// answers trace by ID, batch, search, tags and tag values the same while
// a compaction writes its block, once its block and the inputs are both
// in the bucket, and once the inputs are deleted: no span missing, none
// twice. Once it knows the compacted blocks, it reads them only.
func TestQueriesAnswerTheSameBeforeDuringAndAfterCompaction(t *testing.T) {
	log := kafkatest.New(t).Log(t, 2)
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	inputs, ids := loggedTraces(t, log, dir, 0, time.Now().Add(-3*time.Hour).Truncate(time.Hour).Add(time.Minute), 8)
	known := map[uuid.UUID]bool{}
	for _, m := range inputs {
		known[m.BlockID] = true
	}
	lim := noLimits(t)
	base, reg := runQuerier(t, log, dir, lim, 0)
	blocksKnown := func() float64 {
		return promtest.Value(t, reg, "spanlog_blocklist_blocks", "component", "querier", "tenant", queryTenant)
	}
	await(t, 10*time.Second, "the querier to know the blocks", func() bool { return blocksKnown() == 16 })
	before := answers(t, base, ids)
	if got := inspectedBlocks(t, base, ids); got != "16" {
		t.Fatalf("a batch of every trace reads %s blocks, want all 16", got)
	}
	for q, a := range before {
		if strings.HasPrefix(a, "404") || strings.HasSuffix(a, `{"traces":[]}`) {
			t.Errorf("%s answers nothing: %s", q, a)
		}
	}

	// A compaction writes its data, not yet its meta.
	hold := &holdingBucket{Bucket: dir, known: known, held: make(chan struct{}), release: make(chan struct{})}
	cfg := testConfig()
	cfg.DeletionGrace = time.Hour
	first := runCompactor(t, cfg, log, lim, hold)
	<-hold.held
	sameAnswers(t, "while a compaction writes", before, answers(t, base, ids))

	// Compactions done, inputs and merged blocks side by side: the
	// answers stay the same throughout, and once the querier knows the
	// last merged blocks, it reads them only.
	close(hold.release)
	await(t, 30*time.Second, "the querier to read the merged blocks only", func() bool {
		sameAnswers(t, "while compactions go on", before, answers(t, base, ids))
		return t.Failed() || inspectedBlocks(t, base, ids) == "2"
	})
	first.stop()
	if _, exist := view(t, dir, queryTenant); len(exist) <= 2 {
		t.Fatalf("%d blocks in the bucket, want the inputs kept for the grace", len(exist))
	}
	sameAnswers(t, "with the merged blocks and their inputs in the bucket", before, answers(t, base, ids))

	// The inputs deleted.
	runCompactor(t, testConfig(), log, lim, dir)
	await(t, 30*time.Second, "the inputs deleted and the querier to forget them", func() bool {
		_, exist := view(t, dir, queryTenant)
		return len(exist) == 2 && blocksKnown() == 2
	})
	sameAnswers(t, "after the inputs were deleted", before, answers(t, base, ids))
}

// TestExpiredTracesAreNotFound: a trace whose spans all ended before its
// tenant's retention is not found, before the compactor deletes its
// blocks, while it does, and after; a recent trace is found whole
// throughout.
func TestExpiredTracesAreNotFound(t *testing.T) {
	log := kafkatest.New(t).Log(t, 2)
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old, expired := loggedTraces(t, log, dir, 1, time.Now().Add(-30*time.Hour), 4)
	_, recent := loggedTraces(t, log, dir, 2, time.Now().Add(-time.Minute), 4)
	lim := overrides(t, "overrides:\n  "+queryTenant+":\n    block-retention: 24h\n")
	base, _ := runQuerier(t, log, dir, lim, 0)
	check := func(when string) {
		t.Helper()
		for _, id := range expired {
			if status, body := get(t, base, fmt.Sprintf("/api/v2/traces/%x", id[:])); status != http.StatusNotFound {
				t.Errorf("%s, expired trace %x: %d %s, want 404", when, id[:], status, body)
			}
		}
		for _, id := range recent {
			// Half the records of its partition hold a span of it.
			status, body := get(t, base, fmt.Sprintf("/api/v2/traces/%x", id[:]))
			if spans := strings.Count(traceSpans(t, body, "trace"), "\n") + 1; status != http.StatusOK || spans != 2 {
				t.Errorf("%s, recent trace %x: %d with %d spans, want it whole: 2", when, id[:], status, spans)
			}
		}
	}
	check("before the deletion")
	cfg := testConfig()
	cfg.BlockRetention = 72 * time.Hour // the tenant's override wins
	c := runCompactor(t, cfg, log, lim, dir)
	await(t, 20*time.Second, "the expired blocks deleted", func() bool {
		check("while the compactor deletes")
		_, exist := view(t, dir, queryTenant)
		return t.Failed() || !slices.ContainsFunc(old, func(m *schema.BlockMeta) bool { return slices.Contains(exist, m.BlockID) }) &&
			promtest.Value(t, c.reg, "spanlog_compactor_blocks_deleted_total", "reason", "retention") == float64(len(old))
	})
	check("after the deletion")
}
