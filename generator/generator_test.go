package generator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

const testPartitions = 3

// fixture is a log on kfake, a bucket, and what was produced to the log.
type fixture struct {
	t      *testing.T
	kafka  tracelog.Config
	cl     *kgo.Client
	bucket *flakyBucket
	logs   *logtest.Buffer
	rng    *rand.Rand
	nextID uint64

	mu   sync.Mutex
	want map[string]map[string]uint64 // tenant -> span metrics labels -> calls
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	kafka := kafkatest.New(t).Log(t, testPartitions)
	cl, err := kgo.NewClient(append(kafka.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("generators' log:\n%s", logs.String())
		}
	})
	return &fixture{
		t: t, kafka: kafka, cl: cl, bucket: &flakyBucket{Bucket: dir}, logs: logs,
		rng: rand.New(rand.NewPCG(5, 6)), want: make(map[string]map[string]uint64),
	}
}

// produce writes records records of tenant, each one trace of a few
// spans of random services, names, kinds and statuses, to random
// partitions, and counts them in want.
func (f *fixture) produce(tenant string, records int) {
	f.t.Helper()
	kinds := []ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindClient, ptrace.SpanKindInternal}
	statuses := []ptrace.StatusCode{ptrace.StatusCodeUnset, ptrace.StatusCodeOk, ptrace.StatusCodeError}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.want[tenant] == nil {
		f.want[tenant] = make(map[string]uint64)
	}
	for range records {
		f.nextID++
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		svc := []string{"frontend", "cart"}[f.rng.IntN(2)]
		rs.Resource().Attributes().PutStr(schema.KeyServiceName, svc)
		ss := rs.ScopeSpans().AppendEmpty()
		for i := range 1 + f.rng.IntN(4) {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(pcommon.TraceID{0: 1, 14: byte(f.nextID >> 8), 15: byte(f.nextID)})
			s.SetSpanID(pcommon.SpanID{0: 1, 7: byte(i)})
			s.SetName([]string{"GET /", "POST /buy"}[f.rng.IntN(2)])
			s.SetKind(kinds[f.rng.IntN(len(kinds))])
			s.Status().SetCode(statuses[f.rng.IntN(len(statuses))])
			s.SetStartTimestamp(pcommon.Timestamp(1e18))
			s.SetEndTimestamp(pcommon.Timestamp(1e18 + f.rng.IntN(3e9)))
			key := strings.Join([]string{svc, s.Name(), "SPAN_KIND_" + strings.ToUpper(s.Kind().String()), "STATUS_CODE_" + strings.ToUpper(s.Status().Code().String())}, "|")
			f.want[tenant][key]++
		}
		r, err := schema.EncodeRecord(tenant, td)
		if err != nil {
			f.t.Fatal(err)
		}
		r.Topic, r.Partition = f.kafka.Topic, int32(f.rng.IntN(testPartitions))
		if err := f.cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) wanted(tenant string) map[string]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.want[tenant])
}

// running is a generator started by the fixture.
type running struct {
	g    *Generator
	reg  *prometheus.Registry
	srv  *httptest.Server
	stop func()
}

// start runs a generator of group with the fixture's short flushes,
// changed by opts, until the test ends or stop is called.
func (f *fixture) start(group string, opts ...func(*Config)) *running {
	f.t.Helper()
	cfg := DefaultConfig()
	cfg.ConsumerGroup = group
	cfg.FlushInterval = 50 * time.Millisecond
	cfg.SessionTimeout = 6 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	reg := prometheus.NewRegistry()
	lim, err := limits.NewOverrides(limits.DefaultConfig(), f.logs.Logger(), prometheus.NewRegistry())
	if err != nil {
		f.t.Fatal(err)
	}
	g, err := New(cfg, Deps{
		Kafka: f.kafka, Tenants: tenant.Config{MultiTenancy: true, Default: "default"}, Limits: lim,
		Bucket: f.bucket, Logger: f.logs.Logger(), Registerer: reg,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.RegisterRoutes(mux)
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				f.t.Errorf("Run: %v", err)
			}
			srv.Close()
		})
	}
	f.t.Cleanup(stop)
	return &running{g: g, reg: reg, srv: srv, stop: stop}
}

// waitOwned waits until r owns n partitions, their states loaded.
func (r *running) waitOwned(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%d partitions owned", n), func() bool {
		return promtest.Value(t, r.reg, "spanlog_metrics_generator_partitions_owned") == float64(n)
	})
}

// scrape returns the families r serves for tenant, and the status code.
func (r *running) scrape(t *testing.T, tenantID string) (map[string]*familyValues, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+ScrapePath, nil)
	if tenantID != "" {
		req.Header.Set(tenant.Header, tenantID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, resp.StatusCode
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*familyValues)
	for name, mf := range mfs {
		fv := &familyValues{values: make(map[string]float64), partitions: make(map[string]bool)}
		for _, m := range mf.GetMetric() {
			var key []string
			for _, l := range m.GetLabel() {
				if l.GetName() == labelPartition {
					fv.partitions[l.GetValue()] = true
					continue
				}
				key = append(key, l.GetValue())
			}
			v := m.GetCounter().GetValue()
			if h := m.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			fv.values[strings.Join(key, "|")] += v
		}
		out[name] = fv
	}
	return out, http.StatusOK
}

// familyValues are a family's values summed over partitions, by their
// other labels' values (in the exposition's order, sorted by name).
type familyValues struct {
	values     map[string]float64
	partitions map[string]bool
}

// spanCalls returns the calls by service|span_name|span_kind|status_code,
// summed over partitions; the labels sort as service, span_kind,
// span_name, status_code in the exposition.
func spanCalls(fams map[string]*familyValues, family string) map[string]uint64 {
	out := make(map[string]uint64)
	fv := fams[family]
	if fv == nil {
		return out
	}
	for key, v := range fv.values {
		l := strings.Split(key, "|") // service, span_kind, span_name, status_code
		out[strings.Join([]string{l[0], l[2], l[1], l[3]}, "|")] = uint64(v)
	}
	return out
}

// waitCounts waits until r serves exactly the calls f produced for
// tenant, in the calls counter and the latency histogram's count.
func (f *fixture) waitCounts(r *running, tenantID string) {
	f.t.Helper()
	var got map[string]uint64
	waitForWhat(f.t, 30*time.Second, func() bool {
		fams, code := r.scrape(f.t, tenantID)
		if code != http.StatusOK {
			return false
		}
		got = spanCalls(fams, metricCalls)
		return maps.Equal(got, f.wanted(tenantID)) && maps.Equal(spanCalls(fams, metricLatency), got)
	}, func() string { return fmt.Sprintf("calls of %s %v, want %v", tenantID, got, f.wanted(tenantID)) })
}

func TestGeneratorServesEachTenantsSpanMetrics(t *testing.T) {
	f := newFixture(t)
	r := f.start("gen")
	r.waitOwned(t, testPartitions)
	f.produce("t1", 60)
	f.produce("t2", 20)
	f.waitCounts(r, "t1")
	f.waitCounts(r, "t2")
	fams, _ := r.scrape(t, "t1")
	if n := len(fams[metricCalls].partitions); n != testPartitions {
		t.Errorf("series of %d partitions, want %d", n, testPartitions)
	}
	if _, code := r.scrape(t, ""); code != http.StatusUnauthorized {
		t.Errorf("a scrape without a tenant: %d, want 401", code)
	}
	if _, code := r.scrape(t, "t1|t2"); code != http.StatusBadRequest {
		t.Errorf("a scrape of two tenants: %d, want 400", code)
	}
	if fams, _ := r.scrape(t, "t3"); len(fams) != 0 {
		t.Errorf("a tenant without spans has series %v", fams)
	}
}

// TestRestartResumesTheSavedSeries: a generator that stops, and one that
// takes over later, count every span once.
func TestRestartResumesTheSavedSeries(t *testing.T) {
	f := newFixture(t)
	a := f.start("gen")
	a.waitOwned(t, testPartitions)
	f.produce("t1", 40)
	f.waitCounts(a, "t1")
	a.stop()
	f.produce("t1", 40)
	b := f.start("gen")
	f.waitCounts(b, "t1")
}

// TestCrashLosesAndRepeatsNothing: a generator that read spans it could
// not save ends as a crash would; the next one reads them again from the
// last save, and counts each once.
func TestCrashLosesAndRepeatsNothing(t *testing.T) {
	f := newFixture(t)
	a := f.start("gen")
	a.waitOwned(t, testPartitions)
	f.produce("t1", 40)
	f.waitCounts(a, "t1")
	saved := f.wanted("t1")

	f.bucket.failing.Store(true)
	read := promtest.Value(t, a.reg, "spanlog_metrics_generator_spans_total")
	f.produce("t1", 40)
	waitFor(t, 20*time.Second, "the unsaved spans read", func() bool {
		n := 0
		for _, c := range f.wanted("t1") {
			n += int(c)
		}
		return promtest.Value(t, a.reg, "spanlog_metrics_generator_spans_total") == read+float64(n)-float64(sumCounts(saved))
	})
	// Published series stay those saved.
	fams, _ := a.scrape(t, "t1")
	if got := spanCalls(fams, metricCalls); !maps.Equal(got, saved) {
		t.Fatalf("published %v before a save, want the saved %v", got, saved)
	}
	a.stop() // its last save fails too: all since is lost with it
	f.bucket.failing.Store(false)

	b := f.start("gen")
	f.waitCounts(b, "t1")
}

func sumCounts(m map[string]uint64) uint64 {
	var n uint64
	for _, c := range m {
		n += c
	}
	return n
}

// flakyBucket fails every upload while failing is set.
type flakyBucket struct {
	objstore.Bucket
	failing atomic.Bool
}

var errInjected = errors.New("injected upload failure")

func (b *flakyBucket) Upload(ctx context.Context, name string, r io.Reader) error {
	if b.failing.Load() {
		return errInjected
	}
	return b.Bucket.Upload(ctx, name, r)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitForWhat(t, timeout, cond, func() string { return what })
}

func waitForWhat(t *testing.T, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
