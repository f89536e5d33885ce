package generator

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/schema"
)

// edgeValues is what a test reads of one edge.
type edgeValues struct {
	count, failed  uint64
	server, client []uint64 // cumulative buckets, +Inf left out
}

// graphValues returns the service graph entries of tenant in p: edges by
// "client|server|connection_type", and the unpaired and dropped counters
// likewise.
func graphValues(p *partitionState, tenant string) (edges map[string]edgeValues, unpaired, dropped map[string]uint64) {
	edges, unpaired, dropped = make(map[string]edgeValues), make(map[string]uint64), make(map[string]uint64)
	cumulative := func(h histogram) []uint64 {
		var out []uint64
		var c uint64
		for _, n := range h.counts[:len(h.counts)-1] {
			c += n
			out = append(out, c)
		}
		return out
	}
	for _, e := range p.tenants[tenant].entries {
		key := strings.Join(e.labels, "|")
		switch e.kind {
		case kindEdge:
			edges[key] = edgeValues{count: e.count, failed: e.failed, server: cumulative(e.hists[0]), client: cumulative(e.hists[1])}
		case kindUnpaired:
			unpaired[key] = e.count
		case kindDropped:
			dropped[key] = e.count
		}
	}
	return edges, unpaired, dropped
}

// graphTraces builds traces of a shop and what their service graph must
// be, from how they were built:
//
//	user -> frontend (root server span)
//	frontend -> cart (client and server span)
//	cart -> postgres "carts" (a client span with db.system and db.name)
//	cart -> worker over a queue (producer and consumer span)
//	frontend -> payments (a client span naming peer.service, no server)
//	? -> lonely (a server span whose client was never sent)
//
// Spans come one per record, shuffled within a window shorter than the
// wait.
type graphFixture struct {
	bounds   []float64
	records  [][]schema.SpanRow
	edges    map[string]edgeValues
	unpaired map[string]uint64
}

func buildGraph(rng *rand.Rand, traces int, bounds []float64) *graphFixture {
	f := &graphFixture{bounds: bounds, edges: make(map[string]edgeValues), unpaired: make(map[string]uint64)}
	observe := func(b []uint64, nanos int64) []uint64 {
		if b == nil {
			b = make([]uint64, len(bounds))
		}
		for i, bound := range bounds {
			if nanos <= int64(bound*1e9+0.5) {
				b[i]++
			}
		}
		return b
	}
	count := func(key string, server, client int64, failed bool) {
		v := f.edges[key]
		v.count++
		if failed {
			v.failed++
		}
		v.server, v.client = observe(v.server, server), observe(v.client, client)
		f.edges[key] = v
	}
	var spans []schema.SpanRow
	for i := range traces {
		var trace [16]byte
		trace[0], trace[1], trace[15] = byte(i), byte(i>>8), 7
		nextID := byte(0)
		span := func(svc string, kind int32, parent [8]byte) schema.SpanRow {
			nextID++
			r := schema.SpanRow{TraceID: trace, ServiceName: svc, Kind: kind, ParentSpanID: parent, Name: "op"}
			r.SpanID[0], r.SpanID[7] = 9, nextID
			r.DurationNano = int64(rng.IntN(4000)) * int64(time.Millisecond)
			if rng.IntN(5) == 0 {
				r.StatusCode = 2
			}
			return r
		}
		root := span("frontend", 2, [8]byte{})
		count("user|frontend|virtual_node", root.DurationNano, 0, root.StatusCode == 2)
		call := span("frontend", 3, root.SpanID)
		cartServer := span("cart", 2, call.SpanID)
		count("frontend|cart|", cartServer.DurationNano, call.DurationNano, call.StatusCode == 2 || cartServer.StatusCode == 2)
		db := span("cart", 3, cartServer.SpanID)
		db.Attrs = []schema.Attribute{strAttr("db.system", "postgresql"), strAttr("db.name", "carts")}
		count("cart|carts|database", db.DurationNano, db.DurationNano, db.StatusCode == 2)
		produce := span("cart", 4, cartServer.SpanID)
		consume := span("worker", 5, produce.SpanID)
		count("cart|worker|messaging_system", consume.DurationNano, produce.DurationNano, produce.StatusCode == 2 || consume.StatusCode == 2)
		pay := span("frontend", 3, root.SpanID)
		pay.Attrs = []schema.Attribute{strAttr("peer.service", "payments")}
		count("frontend|payments|virtual_node", 0, pay.DurationNano, pay.StatusCode == 2)
		var missing [8]byte
		missing[0] = 0xee
		lonely := span("lonely", 2, missing)
		f.unpaired["|lonely|"]++
		spans = append(spans, root, call, cartServer, db, produce, consume, pay, lonely)
	}
	// Shuffled within windows of 64 spans: halves meet within the wait.
	for lo := 0; lo < len(spans); lo += 64 {
		w := spans[lo:min(lo+64, len(spans))]
		rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
	}
	for i := range spans {
		f.records = append(f.records, spans[i:i+1])
	}
	return f
}

func TestServiceGraphPairsEveryRequestOnce(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SpanMetrics.Enabled = false
	d, _ := testDeriver(t, cfg, 0)
	f := buildGraph(rand.New(rand.NewPCG(7, 8)), 300, cfg.ServiceGraph.HistogramBuckets)
	p := newPartitionState(0, 0)
	t0 := time.Unix(1_800_000_000, 0)
	for i, r := range f.records {
		d.apply(p, "t1", throughLog(t, d, r), t0.Add(time.Duration(i)*time.Millisecond).UnixNano(), int64(i))
	}
	// A record past the wait expires whatever still waits.
	d.apply(p, "t1", nil, t0.Add(time.Minute).UnixNano(), int64(len(f.records)))

	edges, unpaired, dropped := graphValues(p, "t1")
	if len(edges) != len(f.edges) {
		t.Errorf("edges %v, want %v", slices.Sorted(mapKeys(edges)), slices.Sorted(mapKeys(f.edges)))
	}
	for key, want := range f.edges {
		got := edges[key]
		if got.count != want.count || got.failed != want.failed || !slices.Equal(got.server, want.server) || !slices.Equal(got.client, want.client) {
			t.Errorf("edge %s: %+v, want %+v", key, got, want)
		}
	}
	if !mapsEqual(unpaired, f.unpaired) || len(dropped) != 0 {
		t.Errorf("unpaired %v dropped %v, want unpaired %v and none dropped", unpaired, dropped, f.unpaired)
	}
	if n := p.tenants["t1"].edges.len(); n != 0 {
		t.Errorf("%d halves still wait", n)
	}
}

func TestServiceGraphStoreIsBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SpanMetrics.Enabled = false
	cfg.ServiceGraph.MaxItems = 2
	d, _ := testDeriver(t, cfg, 0)
	p := newPartitionState(0, 0)
	for i := range 3 {
		r := schema.SpanRow{ServiceName: "frontend", Kind: 3}
		r.TraceID[0], r.SpanID[0] = byte(i+1), 1
		d.apply(p, "t1", []schema.SpanRow{r}, int64(i), int64(i))
	}
	_, _, dropped := graphValues(p, "t1")
	if dropped["frontend||"] != 1 || p.tenants["t1"].edges.len() != 2 {
		t.Errorf("dropped %v with %d waiting, want 1 dropped of frontend and 2 waiting", dropped, p.tenants["t1"].edges.len())
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
