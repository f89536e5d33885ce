package generator

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/schema"
)

// testDeriver returns a deriver of cfg whose tenants have at most limit
// series per partition (0: none), and the registry of its counters.
func testDeriver(t *testing.T, cfg Config, limit int) (*deriver, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, (&logtest.Buffer{}).Logger())
	return newDeriver(cfg, func(string) int { return limit }, &limitReporter{
		discarded: m.spansDiscarded,
		logger:    (&logtest.Buffer{}).Logger(),
		now:       time.Now,
		logged:    make(map[string]time.Time),
	}), reg
}

func strAttr(k, v string) schema.Attribute { return schema.Attribute{Key: k, Str: &v} }

// randomSpans returns n spans of a few services, names, kinds and
// statuses, with durations on a grid of milliseconds that hits the
// buckets' bounds exactly.
func randomSpans(rng *rand.Rand, n int) []schema.SpanRow {
	rows := make([]schema.SpanRow, n)
	for i := range rows {
		r := &rows[i]
		r.ServiceName = []string{"frontend", "cart", "db"}[rng.IntN(3)]
		r.ResourceAttrs = []schema.Attribute{strAttr(schema.KeyServiceName, r.ServiceName), strAttr("deployment.environment", []string{"prod", "dev"}[rng.IntN(2)])}
		r.Name = []string{"GET /", "POST /cart", "SELECT"}[rng.IntN(3)]
		r.Kind = int32(rng.IntN(6))
		r.StatusCode = int32(rng.IntN(3))
		r.DurationNano = int64(rng.IntN(20_000)) * int64(time.Millisecond)
		if rng.IntN(2) == 0 {
			// The span's value wins over the resource's.
			r.Attrs = []schema.Attribute{strAttr("deployment.environment", "span-env")}
		}
		r.TraceID[0], r.TraceID[15] = byte(i), byte(i>>8)
	}
	return rows
}

// seriesValues is what a test reads of one label set: its count, and its
// latency histogram's cumulative buckets and sum.
type seriesValues struct {
	count   uint64
	buckets []uint64 // cumulative, one per bound, +Inf left out
	sum     float64
}

// entryValues returns the span metrics entries of tenant in p by their
// label values joined with "|".
func entryValues(p *partitionState, tenant string) map[string]seriesValues {
	out := make(map[string]seriesValues)
	t := p.tenants[tenant]
	if t == nil {
		return out
	}
	for _, e := range t.entries {
		if e.kind != kindSpan {
			continue
		}
		v := seriesValues{count: e.count, sum: e.hists[0].sum}
		var cum uint64
		for _, c := range e.hists[0].counts[:len(e.hists[0].counts)-1] {
			cum += c
			v.buckets = append(v.buckets, cum)
		}
		out[strings.Join(e.labels, "|")] = v
	}
	return out
}

// expectSpanMetrics computes the span metrics of rows from the spans
// themselves: labels read off each span, buckets by comparing durations
// in nanoseconds to each bound.
func expectSpanMetrics(rows []schema.SpanRow, bounds []float64, dims []string) map[string]seriesValues {
	kinds := []string{"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"}
	statuses := []string{"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"}
	out := make(map[string]seriesValues)
	for _, r := range rows {
		labels := []string{r.ServiceName, r.Name, kinds[r.Kind], statuses[r.StatusCode]}
		for _, d := range dims {
			v := ""
			for _, attrs := range [][]schema.Attribute{r.ResourceAttrs, r.Attrs} { // the span's last: it wins
				for _, a := range attrs {
					if a.Key == d {
						v = *a.Str
					}
				}
			}
			labels = append(labels, v)
		}
		key := strings.Join(labels, "|")
		v := out[key]
		if v.buckets == nil {
			v.buckets = make([]uint64, len(bounds))
		}
		v.count++
		v.sum += float64(r.DurationNano) / 1e9
		for i, b := range bounds {
			if r.DurationNano <= int64(b*1e9+0.5) {
				v.buckets[i]++
			}
		}
		out[key] = v
	}
	return out
}

// throughLog returns rows as the generator reads them from the log: in
// a record's value, decoded keeping what d reads (schema.RowDecoder's
// Lean). A row's service becomes its resource's service.name.
func throughLog(t *testing.T, d *deriver, rows []schema.SpanRow) []schema.SpanRow {
	t.Helper()
	dec := schema.RowDecoder{Lean: d.keeps}
	out, err := dec.Append(nil, recordValue(t, rows))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(rows) {
		t.Fatalf("%d rows through the log, %d in", len(out), len(rows))
	}
	return out
}

// recordValue returns rows as the distributor writes them to the log:
// an ExportTraceServiceRequest, each row's ServiceName given as its
// resource's service.name where the row has no resource attributes.
func recordValue(t *testing.T, rows []schema.SpanRow) []byte {
	t.Helper()
	in := slices.Clone(rows)
	for i := range in {
		if in[i].ServiceName != "" && len(in[i].ResourceAttrs) == 0 {
			svc := in[i].ServiceName
			in[i].ResourceAttrs = []schema.Attribute{{Key: schema.KeyServiceName, Str: &svc}}
		}
	}
	td, err := schema.TracesFromRows(in)
	if err != nil {
		t.Fatal(err)
	}
	value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return value
}

func TestSpanMetricsCountEverySpanUnderItsLabels(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SpanMetrics.Dimensions = []string{"deployment.environment"}
	cfg.ServiceGraph.Enabled = false
	d, _ := testDeriver(t, cfg, 0)
	rows := randomSpans(rand.New(rand.NewPCG(1, 2)), 5000)
	p := newPartitionState(0, 0)
	start := time.Unix(1_800_000_000, 0).UnixNano()
	for i := 0; i < len(rows); i += 100 { // records of 100 spans
		d.apply(p, "t1", throughLog(t, d, rows[i:i+100]), start+int64(i), int64(i/100))
	}
	got, want := entryValues(p, "t1"), expectSpanMetrics(rows, cfg.SpanMetrics.HistogramBuckets, cfg.SpanMetrics.Dimensions)
	if len(got) != len(want) {
		t.Fatalf("%d series, want %d", len(got), len(want))
	}
	for key, w := range want {
		g, ok := got[key]
		switch {
		case !ok:
			t.Errorf("no series %s", key)
		case g.count != w.count || !slices.Equal(g.buckets, w.buckets):
			t.Errorf("series %s: count %d buckets %v, want %d %v", key, g.count, g.buckets, w.count, w.buckets)
		case fmt.Sprintf("%.6f", g.sum) != fmt.Sprintf("%.6f", w.sum):
			t.Errorf("series %s: sum %v, want %v", key, g.sum, w.sum)
		}
	}
	if p.offset != int64(len(rows)/100) {
		t.Errorf("offset %d, want %d", p.offset, len(rows)/100)
	}
	if want := len(want) * (1 + len(cfg.SpanMetrics.HistogramBuckets) + 3); p.tenants["t1"].active != want {
		t.Errorf("active series %d, want %d", p.tenants["t1"].active, want)
	}
}

func TestMaxActiveSeriesLeavesSpansOfNewSeriesOut(t *testing.T) {
	cfg := DefaultConfig()
	perEntry := 1 + len(cfg.SpanMetrics.HistogramBuckets) + 3
	d, reg := testDeriver(t, cfg, 2*perEntry)
	p := newPartitionState(0, 0)
	for i, svc := range []string{"a", "b", "c", "a", "c", "b"} {
		d.apply(p, "t1", []schema.SpanRow{{ServiceName: svc, Name: "op"}}, int64(i), int64(i))
	}
	got := entryValues(p, "t1")
	if len(got) != 2 || got["a|op|SPAN_KIND_UNSPECIFIED|STATUS_CODE_UNSET"].count != 2 || got["b|op|SPAN_KIND_UNSPECIFIED|STATUS_CODE_UNSET"].count != 2 {
		t.Errorf("series %v, want a and b with 2 spans each", got)
	}
	if n := promtest.Value(t, reg, "spanlog_metrics_generator_spans_discarded_total", "tenant", "t1", "reason", reasonMaxActiveSeries); n != 2 {
		t.Errorf("%v spans discarded, want 2", n)
	}
	// Another tenant has series of its own.
	d.apply(p, "t2", []schema.SpanRow{{ServiceName: "c", Name: "op"}}, 10, 10)
	if len(entryValues(p, "t2")) != 1 {
		t.Error("t2's series were limited by t1's")
	}
}

func TestStaleSeriesAreDroppedInLogTime(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StaleSeriesTimeout = time.Minute
	d, _ := testDeriver(t, cfg, 0)
	p := newPartitionState(0, 0)
	t0 := time.Unix(1_800_000_000, 0)
	span := func(svc string) []schema.SpanRow { return []schema.SpanRow{{ServiceName: svc, Name: "op"}} }
	d.apply(p, "t1", span("old"), t0.UnixNano(), 0)
	d.apply(p, "t1", span("old"), t0.UnixNano(), 1)
	d.apply(p, "t1", span("new"), t0.Add(50*time.Second).UnixNano(), 2)
	if len(entryValues(p, "t1")) != 2 {
		t.Fatal("a series dropped before it was stale")
	}
	// A record stamped past the timeout by a quarter of it sweeps.
	d.apply(p, "t1", span("new"), t0.Add(76*time.Second).UnixNano(), 3)
	got := entryValues(p, "t1")
	if _, ok := got["old|op|SPAN_KIND_UNSPECIFIED|STATUS_CODE_UNSET"]; ok || len(got) != 1 {
		t.Fatalf("series %v, want the stale one dropped", got)
	}
	d.apply(p, "t1", span("old"), t0.Add(77*time.Second).UnixNano(), 4)
	if n := entryValues(p, "t1")["old|op|SPAN_KIND_UNSPECIFIED|STATUS_CODE_UNSET"].count; n != 1 {
		t.Errorf("a series started again counts %d, want 1", n)
	}
}

func TestKeySetHoldsWhatWasAdded(t *testing.T) {
	long := strings.Repeat("k", 70)
	var s keySet
	for _, k := range []string{"db.name", "peer.service", long, "db.name"} {
		s.add(k)
	}
	for key, want := range map[string]bool{
		"db.name":                 true,
		"peer.service":            true,
		long:                      true,
		"db.nam":                  false,
		"db.namf":                 false, // a length it holds
		"xb.name":                 false, // and the last byte
		"":                        false,
		strings.Repeat("k", 63):   false,
		strings.Repeat("k", 71):   false,
		"http.request.method.old": false,
	} {
		if got := s.has([]byte(key)); got != want {
			t.Errorf("has(%q) = %v, want %v", key, got, want)
		}
	}
	if n := len(s.byLen[len("db.name")]); n != 1 {
		t.Errorf("%d keys of db.name's length held, want 1: a key added twice is held once", n)
	}
}

// TestStateKeepsNothingOfTheRecord derives from records as Run decodes
// them, overwriting each value once derived, as the reader's pooled batch
// memory is reused after the poll (tracelog.ReaderPools), and from the
// same records left alone: the two states are the same, service graph
// halves waiting for their other half included.
func TestStateKeepsNothingOfTheRecord(t *testing.T) {
	cfg := DefaultConfig()
	d, _ := testDeriver(t, cfg, 0)
	f := buildGraph(rand.New(rand.NewPCG(3, 4)), 300, cfg.ServiceGraph.HistogramBuckets)
	reused, kept := newPartitionState(0, 0), newPartitionState(0, 0)
	dec := schema.RowDecoder{Lean: d.keeps}
	var rows []schema.SpanRow
	start := time.Unix(1_800_000_000, 0).UnixNano()
	for i := 0; i < len(f.records); i += 20 {
		var in []schema.SpanRow
		for _, r := range f.records[i:min(i+20, len(f.records))] {
			in = append(in, r...)
		}
		value := recordValue(t, in)
		for _, p := range []*partitionState{kept, reused} {
			v := bytes.Clone(value)
			var err error
			if rows, err = dec.Append(rows[:0], v); err != nil {
				t.Fatal(err)
			}
			d.apply(p, "t1", rows, start+int64(i)*int64(time.Millisecond), int64(i))
			if p == reused {
				for j := range v {
					v[j] = 'x'
				}
			}
		}
	}
	if kept.tenants["t1"].edges.len() == 0 || len(kept.tenants["t1"].entries) == 0 {
		t.Fatalf("no series or no waiting halves: nothing kept to check")
	}
	if !reflect.DeepEqual(kept, reused) {
		t.Fatal("the state differs once the records' values are overwritten: it keeps memory of the record")
	}
}
