package generator

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestStateRoundTrips(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SpanMetrics.Dimensions = []string{"deployment.environment"}
	d, _ := testDeriver(t, cfg, 0)
	rows := randomSpans(rand.New(rand.NewPCG(3, 4)), 2000)
	p := newPartitionState(7, 100)
	for i := 0; i < len(rows); i += 50 {
		tenant := []string{"t1", "t2"}[i/50%2]
		d.apply(p, tenant, rows[i:i+50], int64(1e18)+int64(i), 100+int64(i/50))
	}
	obj := encodeState(p, d.fingerprint())
	got, compatible, err := d.decodeState(obj, 7)
	if err != nil || !compatible {
		t.Fatalf("decode: %v, compatible %v", err, compatible)
	}
	p.saved = true
	clearFresh(p) // not saved: see entry.fresh
	compact(p)
	if n := p.tenants["t1"].edges.len(); n == 0 {
		t.Fatal("no span waits for its other half: the test saves none")
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("decoded state differs from the one encoded")
	}

	// Other dimensions: the offset stays, the entries go.
	other := DefaultConfig()
	od, _ := testDeriver(t, other, 0)
	got, compatible, err = od.decodeState(obj, 7)
	if err != nil || compatible || got.offset != p.offset || len(got.tenants) != 0 {
		t.Fatalf("decoded under other dimensions: %v, compatible %v, offset %d, %d tenants", err, compatible, got.offset, len(got.tenants))
	}

	// Any truncation is an error, never a panic or a partial state.
	raw := encodeState(p, d.fingerprint())
	for _, n := range []int{0, 1, len(raw) / 2, len(raw) - 1} {
		if _, _, err := d.decodeState(raw[:n], 7); !errors.Is(err, errCorruptState) {
			t.Errorf("state cut to %d bytes: %v, want errCorruptState", n, err)
		}
	}
}

// compact drops the resolved halves left in p's queues, which a saved
// state leaves out.
func compact(p *partitionState) {
	for _, t := range p.tenants {
		pending := t.edges.pending()
		t.edges = &edgeStore{}
		for _, h := range pending {
			t.edges.add(h)
		}
	}
}
