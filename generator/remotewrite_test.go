package generator

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

// receiver is a remote write endpoint that decodes what it is sent with
// Prometheus' own protocol types, and keeps the latest sample of every
// series per tenant.
type receiver struct {
	srv *httptest.Server
	// failWith, if not 0, is the status every request gets.
	failWith atomic.Int32

	mu       sync.Mutex
	latest   map[string]map[string]prompb.Sample // tenant -> series -> sample
	zeros    map[string]int                      // tenant -> zero samples before a first value
	examples map[string][]prompb.Exemplar        // tenant -> exemplars
	requests int
	bad      []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{latest: make(map[string]map[string]prompb.Sample), zeros: make(map[string]int), examples: make(map[string][]prompb.Exemplar)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/api/v1/write" }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if code := r.failWith.Load(); code != 0 {
		http.Error(w, "failing as told", int(code))
		return
	}
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	check := func(ok bool, what string) {
		if !ok {
			r.bad = append(r.bad, what)
		}
	}
	check(err == nil, "body read")
	check(req.Header.Get("Content-Encoding") == "snappy", "Content-Encoding")
	check(req.Header.Get("Content-Type") == "application/x-protobuf", "Content-Type")
	check(req.Header.Get("X-Prometheus-Remote-Write-Version") == "0.1.0", "version header")
	raw, err := snappy.Decode(nil, body)
	check(err == nil, "snappy")
	var wr prompb.WriteRequest
	check(wr.Unmarshal(raw) == nil, "protobuf")
	tn := req.Header.Get(tenant.Header)
	if r.latest[tn] == nil {
		r.latest[tn] = make(map[string]prompb.Sample)
	}
	for _, ts := range wr.Timeseries {
		names := make([]string, len(ts.Labels))
		var key []string
		for i, l := range ts.Labels {
			names[i] = l.Name
			key = append(key, l.Name+"="+l.Value)
		}
		check(slices.IsSorted(names) && names[0] == "__name__", "labels sorted: "+strings.Join(names, ","))
		k := strings.Join(key, ",")
		for i, s := range ts.Samples {
			if i == 0 && len(ts.Samples) == 2 {
				check(s.Value == 0 && s.Timestamp < ts.Samples[1].Timestamp, "a fresh series' zero first")
				r.zeros[tn]++
				continue
			}
			if prev, ok := r.latest[tn][k]; ok {
				check(s.Value >= prev.Value, "a counter never goes back: "+k)
			}
			r.latest[tn][k] = s
		}
		r.examples[tn] = append(r.examples[tn], ts.Exemplars...)
	}
}

// sums returns, for tenant, the latest values of the series of metric
// summed over partitions, by the values of the labels named.
func (r *receiver) sums(tn, metric string, by ...string) map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]float64)
	for k, s := range r.latest[tn] {
		labels := make(map[string]string)
		for _, kv := range strings.Split(k, ",") {
			n, v, _ := strings.Cut(kv, "=")
			labels[n] = v
		}
		if labels["__name__"] != metric {
			continue
		}
		var key []string
		for _, b := range by {
			key = append(key, labels[b])
		}
		out[strings.Join(key, "|")] += s.Value
	}
	return out
}

func TestRemoteWriteEncodesWhatPrometheusDecodes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SpanMetrics.HistogramBuckets = []float64{0.1, 1}
	d, _ := testDeriver(t, cfg, 0)
	p := newPartitionState(4, 0)
	span := func(svc string, ms int64, trace byte) []spanRow { return []spanRow{{svc: svc, ms: ms, trace: trace}} }
	for i, s := range [][]spanRow{span("a", 50, 1), span("a", 500, 2), span("a", 5000, 3), span("b", 50, 4)} {
		d.apply(p, "t1", rowsOf(s), int64(i), int64(i))
	}
	snap := takeSnapshot(p, time.UnixMilli(1_800_000_000_000))
	// An entry of span metrics is 6 series (calls, 2 buckets, +Inf, sum,
	// count), 12 samples with their zeros: a request holds one.
	enc := &writeEncoder{max: 12, at: 1_800_000_000_500}
	entries := 0
	for i := range snap.tenants["t1"] {
		e := &snap.tenants["t1"][i]
		if e.kind == kindSpan {
			enc.entry(d.specs[kindSpan], seriesRef{e: e, s: snap, first: true, zero: e.fresh, key: entryKey(snap.partition, "t1", e)})
			entries++
		}
	}
	reqs := enc.finish()
	if len(reqs) != entries {
		t.Errorf("%d requests for %d entries of 12 samples, at most 12 a request", len(reqs), entries)
	}
	got := make(map[string]prompb.TimeSeries)
	for _, req := range reqs {
		if req.samples > 12 {
			t.Errorf("a request of %d samples, over 12", req.samples)
		}
		if len(req.zeros) != 1 {
			t.Errorf("a request carries the zeros of %d entries, want 1", len(req.zeros))
		}
		var wr prompb.WriteRequest
		if err := wr.Unmarshal(req.buf); err != nil {
			t.Fatal(err)
		}
		for _, ts := range wr.Timeseries {
			var key []string
			for _, l := range ts.Labels {
				if l.Name != "span_kind" && l.Name != "status_code" && l.Name != "span_name" {
					key = append(key, l.Name+"="+l.Value)
				}
			}
			got[strings.Join(key, ",")] = ts
		}
	}
	value := func(key string) float64 {
		ts, ok := got[key]
		if !ok {
			t.Fatalf("no series %s in %v", key, slices.Sorted(maps.Keys(got)))
		}
		// Fresh: a zero a millisecond before the value.
		if len(ts.Samples) != 2 || ts.Samples[0].Value != 0 || ts.Samples[0].Timestamp != 1_800_000_000_499 || ts.Samples[1].Timestamp != 1_800_000_000_500 {
			t.Errorf("series %s samples %v, want a zero then the value", key, ts.Samples)
		}
		return ts.Samples[len(ts.Samples)-1].Value
	}
	for key, want := range map[string]float64{
		"__name__=traces_spanmetrics_calls_total,partition=4,service=a":            3,
		"__name__=traces_spanmetrics_latency_bucket,le=0.1,partition=4,service=a":  1,
		"__name__=traces_spanmetrics_latency_bucket,le=1,partition=4,service=a":    2,
		"__name__=traces_spanmetrics_latency_bucket,le=+Inf,partition=4,service=a": 3,
		"__name__=traces_spanmetrics_latency_count,partition=4,service=a":          3,
		"__name__=traces_spanmetrics_latency_sum,partition=4,service=a":            5.55,
		"__name__=traces_spanmetrics_calls_total,partition=4,service=b":            1,
		"__name__=traces_spanmetrics_latency_bucket,le=0.1,partition=4,service=b":  1,
	} {
		if v := value(key); math.Abs(v-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", key, v, want)
		}
	}
	// The last span's trace, on the bucket its duration falls in.
	ex := got["__name__=traces_spanmetrics_latency_bucket,le=+Inf,partition=4,service=a"].Exemplars
	if len(ex) != 1 || ex[0].Value != 5 || len(ex[0].Labels) != 1 || ex[0].Labels[0].Name != "traceID" || !strings.HasPrefix(ex[0].Labels[0].Value, "03") {
		t.Errorf("exemplars %v, want trace 03... at 5s", ex)
	}
}

type spanRow struct {
	svc   string
	ms    int64
	trace byte
}

func rowsOf(spans []spanRow) []schema.SpanRow {
	rows := make([]schema.SpanRow, len(spans))
	for i, s := range spans {
		rows[i] = schema.SpanRow{ServiceName: s.svc, Name: "op", DurationNano: s.ms * int64(time.Millisecond)}
		rows[i].TraceID[0] = s.trace
	}
	return rows
}

// TestRemoteWritePushesEachTenantsSeries: a generator pushes each
// tenant's series under its X-Scope-OrgID, retries while the receiver
// fails, and the receiver ends with exactly the spans produced.
func TestRemoteWritePushesEachTenantsSeries(t *testing.T) {
	rcv := newReceiver(t)
	rcv.failWith.Store(http.StatusServiceUnavailable)
	f := newFixture(t)
	r := f.start("gen", func(c *Config) {
		c.RemoteWrite.URL = rcv.url()
		c.RemoteWrite.MinBackoff = 10 * time.Millisecond
		c.RemoteWrite.MaxBackoff = 50 * time.Millisecond
	})
	r.waitOwned(t, testPartitions)
	f.produce("t1", 40)
	f.produce("t2", 10)
	waitFor(t, 20*time.Second, "requests refused with 503", func() bool {
		return promtest.Value(t, r.reg, "spanlog_metrics_generator_remote_write_requests_total", "code", "503") >= 3
	})
	rcv.failWith.Store(0)
	for _, tn := range []string{"t1", "t2"} {
		var got map[string]float64
		waitForWhat(t, 20*time.Second, func() bool {
			got = rcv.sums(tn, metricCalls, "service", "span_name", "span_kind", "status_code")
			want := f.wanted(tn)
			if len(got) != len(want) {
				return false
			}
			for k, v := range want {
				if got[k] != float64(v) {
					return false
				}
			}
			return true
		}, func() string { return fmt.Sprintf("%s: received %v, want %v", tn, got, f.wanted(tn)) })
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) > 0 {
		t.Errorf("requests Prometheus would refuse: %v", rcv.bad)
	}
	if rcv.zeros["t1"] == 0 || len(rcv.examples["t1"]) == 0 {
		t.Errorf("%d zeros of fresh series and %d exemplars received, want some of each", rcv.zeros["t1"], len(rcv.examples["t1"]))
	}
}
