package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// promReceiver is a remote write endpoint decoding with Prometheus' own
// protocol types. It keeps the latest sample of every series of each
// tenant, and notes any sample of a counter lower than the one before:
// what Prometheus would read as a reset.
type promReceiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	latest map[string]map[string]float64 // tenant -> series -> value
	labels map[string]map[string]string  // series -> its labels
	back   []string
}

func newPromReceiver(t *testing.T) *promReceiver {
	r := &promReceiver{latest: make(map[string]map[string]float64), labels: make(map[string]map[string]string)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var wr prompb.WriteRequest
		if err := wr.Unmarshal(raw); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tn := req.Header.Get("X-Scope-OrgID")
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.latest[tn] == nil {
			r.latest[tn] = make(map[string]float64)
		}
		for _, ts := range wr.Timeseries {
			labels := make(map[string]string)
			var key []string
			for _, l := range ts.Labels {
				labels[l.Name] = l.Value
				key = append(key, l.Name+"="+l.Value)
			}
			k := strings.Join(key, ",")
			r.labels[k] = labels
			for _, s := range ts.Samples {
				if prev, ok := r.latest[tn][k]; ok && s.Value < prev {
					r.back = append(r.back, fmt.Sprintf("%s: %v after %v", k, s.Value, prev))
				}
				r.latest[tn][k] = s.Value
			}
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// sum is PromQL's sum by (by...) (metric{match}) over the latest samples.
func (r *promReceiver) sum(tn, metric string, match map[string]string, by ...string) map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]float64)
	for k, v := range r.latest[tn] {
		l := r.labels[k]
		if l["__name__"] != metric {
			continue
		}
		ok := true
		for n, want := range match {
			ok = ok && l[n] == want
		}
		if !ok {
			continue
		}
		var key []string
		for _, b := range by {
			key = append(key, l[b])
		}
		out[strings.Join(key, "|")] += v
	}
	return out
}

// labelNames returns the label names of metric's series.
func (r *promReceiver) labelNames(tn, metric string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	set := make(map[string]bool)
	for k := range r.latest[tn] {
		if l := r.labels[k]; l["__name__"] == metric {
			for n := range l {
				set[n] = true
			}
		}
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// shopTraces sends, with the OpenTelemetry SDK over OTLP/gRPC, traces of
// a frontend calling a backend: the frontend's root server span, its
// client span, the backend's server span under it, and a database call
// of the backend. Every fifth backend span fails. It returns the spans
// the SDK ended, from which the test computes what it expects.
func shopTraces(t *testing.T, endpoint string, traces, from int) []sdktrace.ReadOnlySpan {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := tracetest.NewSpanRecorder()
	provider := func(service string) *sdktrace.TracerProvider {
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		return sdktrace.NewTracerProvider(
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
			sdktrace.WithSpanProcessor(rec),
			sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(64)),
		)
	}
	front, back := provider("frontend"), provider("backend")
	for i := from; i < from+traces; i++ {
		rctx, root := front.Tracer("e2e").Start(context.Background(), "GET /shop", trace.WithSpanKind(trace.SpanKindServer))
		cctx, call := front.Tracer("e2e").Start(rctx, "GET /items", trace.WithSpanKind(trace.SpanKindClient))
		// The backend learns its parent from the request, as over HTTP.
		bctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.SpanContextFromContext(cctx))
		bctx, srv := back.Tracer("e2e").Start(bctx, "GET /items", trace.WithSpanKind(trace.SpanKindServer))
		_, db := back.Tracer("e2e").Start(bctx, "SELECT items", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system", "postgresql"), attribute.String("db.name", "items")))
		db.End()
		if i%5 == 0 {
			srv.SetStatus(codes.Error, "out of items")
		}
		srv.End()
		call.End()
		root.End()
	}
	for _, tp := range []*sdktrace.TracerProvider{front, back} {
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatalf("export: %v", err)
		}
	}
	return rec.Ended()
}

// expected computes, from the spans sent, the calls per service, span
// name, kind and status, and the requests and failures per edge.
func expected(spans []sdktrace.ReadOnlySpan) (calls, edges, failed map[string]float64) {
	calls, edges, failed = make(map[string]float64), make(map[string]float64), make(map[string]float64)
	// Every edge has a failed_total series, at 0 if none failed.
	byID := make(map[trace.SpanID]sdktrace.ReadOnlySpan)
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
	}
	service := func(s sdktrace.ReadOnlySpan) string {
		for _, kv := range s.Resource().Attributes() {
			if kv.Key == "service.name" {
				return kv.Value.AsString()
			}
		}
		return ""
	}
	status := map[codes.Code]string{codes.Unset: "STATUS_CODE_UNSET", codes.Ok: "STATUS_CODE_OK", codes.Error: "STATUS_CODE_ERROR"}
	kind := map[trace.SpanKind]string{trace.SpanKindServer: "SPAN_KIND_SERVER", trace.SpanKindClient: "SPAN_KIND_CLIENT"}
	for _, s := range spans {
		calls[strings.Join([]string{service(s), s.Name(), kind[s.SpanKind()], status[s.Status().Code]}, "|")]++
		isErr := s.Status().Code == codes.Error
		switch {
		case s.SpanKind() == trace.SpanKindServer && !s.Parent().IsValid():
			failed["user|"+service(s)+"|virtual_node"] += 0
			edges["user|"+service(s)+"|virtual_node"]++
		case s.SpanKind() == trace.SpanKindServer:
			client := byID[s.Parent().SpanID()]
			key := service(client) + "|" + service(s) + "|"
			edges[key]++
			if isErr || client.Status().Code == codes.Error {
				failed[key]++
			}
		case s.SpanKind() == trace.SpanKindClient && s.Name() == "SELECT items":
			edges[service(s)+"|items|database"]++
			failed[service(s)+"|items|database"] += 0 // a series at 0, as Grafana finds it
		}
	}
	return calls, edges, failed
}

// TestMetricsGeneratorCountsEachSpanOnceThroughAKill: two generators
// share the log and push to a remote write receiver while traces are
// sent; one is killed with SIGKILL mid-stream, and a third joins. The
// receiver's latest values, summed over partitions as Grafana's queries
// sum them, are then exactly what was sent, and no counter ever went
// back: the statement of docs/design.md, *Exactness*.
func TestMetricsGeneratorCountsEachSpanOnceThroughAKill(t *testing.T) {
	rcv := newPromReceiver(t)
	c := newCluster(t, "-storage.local.path="+t.TempDir())
	_, otlp := c.startDistributor(t)
	genArgs := []string{
		"-metrics-generator.flush-interval=200ms",
		"-metrics-generator.session-timeout=6s",
		"-metrics-generator.remote-write.url=" + rcv.srv.URL + "/api/v1/write",
		"-metrics-generator.remote-write.min-backoff=20ms",
	}
	gen1 := c.start(t, "generator-1", "metrics-generator", genArgs...)
	gen2 := c.start(t, "generator-2", "metrics-generator", genArgs...)
	owned := func(ps ...*process) float64 {
		n := 0.0
		for _, p := range ps {
			n += metric(t, p.http, "spanlog_metrics_generator_partitions_owned")
		}
		return n
	}
	g := newGroups(t, c)
	const group = "spanlog-metrics-generator"
	g.waitMembers(t, group, 2, 30*time.Second)
	waitFor(t, 30*time.Second, "the generators own every partition", func() bool { return owned(gen1, gen2) == logPartitions })

	var sent []sdktrace.ReadOnlySpan
	sent = append(sent, shopTraces(t, otlp, 100, 0)...)
	waitFor(t, 20*time.Second, "generator-1 read spans", func() bool {
		return metric(t, gen1.http, "spanlog_metrics_generator_spans_total") > 0
	})
	sent = append(sent, shopTraces(t, otlp, 100, 100)...)
	gen1.kill()
	sent = append(sent, shopTraces(t, otlp, 100, 200)...)
	gen3 := c.start(t, "generator-3", "metrics-generator", genArgs...)
	sent = append(sent, shopTraces(t, otlp, 100, 300)...)
	g.waitMembers(t, group, 2, 40*time.Second)
	waitFor(t, 40*time.Second, "generator-1's partitions taken over", func() bool { return owned(gen2, gen3) == logPartitions })

	tn := "single-tenant"
	calls, edges, failed := expected(sent)
	check := func(what string, got, want map[string]float64) func() bool {
		return func() bool {
			if len(got) != len(want) {
				return false
			}
			for k, v := range want {
				if got[k] != v {
					return false
				}
			}
			return true
		}
	}
	var got map[string]float64
	waitForWhat(t, 40*time.Second, func() bool {
		got = rcv.sum(tn, "traces_spanmetrics_calls_total", nil, "service", "span_name", "span_kind", "status_code")
		return check("calls", got, calls)()
	}, func() string { return fmt.Sprintf("calls %v, want %v", got, calls) })
	// Grafana's service graph: sum by (client, server, connection_type)
	// of the requests, and of the failed ones.
	waitForWhat(t, 20*time.Second, func() bool {
		got = rcv.sum(tn, "traces_service_graph_request_total", nil, "client", "server", "connection_type")
		return check("edges", got, edges)()
	}, func() string { return fmt.Sprintf("edges %v, want %v", got, edges) })
	if got := rcv.sum(tn, "traces_service_graph_request_failed_total", nil, "client", "server", "connection_type"); !check("failed", got, failed)() {
		t.Errorf("failed requests %v, want %v", got, failed)
	}
	// The histograms' counts are the requests, and +Inf buckets too.
	if got := rcv.sum(tn, "traces_service_graph_request_server_seconds_count", nil, "client", "server", "connection_type"); !check("count", got, edges)() {
		t.Errorf("server seconds counts %v, want %v", got, edges)
	}
	if got := rcv.sum(tn, "traces_spanmetrics_latency_bucket", map[string]string{"le": "+Inf"}, "service", "span_name", "span_kind", "status_code"); !check("+Inf", got, calls)() {
		t.Errorf("latency +Inf buckets %v, want %v", got, calls)
	}
	// The labels Grafana's Tempo data source and its RED panels group by.
	for metric, want := range map[string][]string{
		"traces_service_graph_request_total":                 {"__name__", "client", "connection_type", "partition", "server"},
		"traces_service_graph_request_server_seconds_bucket": {"__name__", "client", "connection_type", "le", "partition", "server"},
		"traces_service_graph_request_server_seconds_sum":    {"__name__", "client", "connection_type", "partition", "server"},
		"traces_spanmetrics_calls_total":                     {"__name__", "partition", "service", "span_kind", "span_name", "status_code"},
		"traces_spanmetrics_latency_bucket":                  {"__name__", "le", "partition", "service", "span_kind", "span_name", "status_code"},
	} {
		if got := rcv.labelNames(tn, metric); !slices.Equal(got, want) {
			t.Errorf("%s has labels %v, want %v", metric, got, want)
		}
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.back) > 0 {
		t.Errorf("counters went back, which Prometheus reads as resets: %v", rcv.back[:min(5, len(rcv.back))])
	}
}

// TestSingleBinaryServesTheSeriesOnItsScrapeEndpoint: -target=all runs
// a generator, whose series Prometheus scrapes from /metrics/generator,
// apart from spanlog's own /metrics.
func TestSingleBinaryServesTheSeriesOnItsScrapeEndpoint(t *testing.T) {
	n := newNode(t, "-metrics-generator.flush-interval=200ms")
	p := n.start(t)
	waitFor(t, 30*time.Second, "the generator owns every partition", func() bool {
		return metric(t, p.http, "spanlog_metrics_generator_partitions_owned") == logPartitions
	})
	calls, _, _ := expected(shopTraces(t, n.OTLPGRPC, 20, 0))
	var got map[string]float64
	waitForWhat(t, 30*time.Second, func() bool {
		got = scrapeGenerator(t, p.http, "traces_spanmetrics_calls_total", "service", "span_name", "span_kind", "status_code")
		if len(got) != len(calls) {
			return false
		}
		for k, v := range calls {
			if got[k] != v {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("scraped calls %v, want %v", got, calls) })
	if hasMetric(t, p.http, "traces_spanmetrics_calls_total") {
		t.Error("the tenant's series are on /metrics too")
	}
}

// scrapeGenerator scrapes /metrics/generator on addr and sums metric's
// samples by the labels named.
func scrapeGenerator(t *testing.T, addr, metric string, by ...string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics/generator")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, m := range mfs[metric].GetMetric() {
		labels := make(map[string]string)
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		var key []string
		for _, b := range by {
			key = append(key, labels[b])
		}
		out[strings.Join(key, "|")] += m.GetCounter().GetValue()
	}
	return out
}
