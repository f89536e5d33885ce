package loadgen

import (
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// batch builds a new batch of traces traces ending at end.
func (b *traceBuilder) batch(traces int, end time.Time) *batch {
	out := &batch{}
	b.fill(out, traces, end)
	return out
}

func TestBatchShape(t *testing.T) {
	tests := []struct {
		name                   string
		spans, attrs, services int
	}{
		{"one span, no attributes", 1, 0, 1},
		{"fewer attributes than the semantic ones", 10, 3, 5},
		{"defaults", 10, 10, 5},
		{"many generic attributes, more services than names", 40, 30, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.SpansPerTrace, cfg.AttributesPerSpan, cfg.Services = tt.spans, tt.attrs, tt.services
			const traces = 200
			end := time.Now()
			b := newTraceBuilder(cfg, newServices(cfg.Services), 7, 0).batch(traces, end)
			if len(b.spans) != traces*tt.spans || len(b.traces) != traces {
				t.Fatalf("%d spans in %d traces, want %d in %d", len(b.spans), len(b.traces), traces*tt.spans, traces)
			}
			checkTraces(t, b, end)
			for _, s := range b.spans {
				if len(s.attrs) != tt.attrs {
					t.Fatalf("span %q has %d attributes, want %d", s.name, len(s.attrs), tt.attrs)
				}
			}
			services := map[int]bool{}
			var errors, events int
			for _, s := range b.spans {
				services[s.service] = true
				if s.status == codes.Error {
					errors++
				}
				if s.event.name != "" {
					events++
				}
			}
			if len(services) > tt.services || (tt.spans > 1 && len(services) < 2 && tt.services > 1) {
				t.Errorf("%d service names for %d services", len(services), tt.services)
			}
			if tt.spans > 1 && (errors == 0 || events == 0) {
				t.Errorf("%d errors and %d events in %d spans, want some of each", errors, events, len(b.spans))
			}
		})
	}
}

// checkTraces checks that each trace is one tree of spans nested in time,
// and that the recorded IDs are those of the spans.
func checkTraces(t *testing.T, b *batch, end time.Time) {
	t.Helper()
	byID := map[trace.SpanID]*span{}
	traceIDs := map[trace.TraceID]bool{}
	for i := range b.spans {
		s := &b.spans[i]
		if _, dup := byID[s.id]; dup {
			t.Fatalf("duplicate span ID %s", s.id)
		}
		byID[s.id] = s
	}
	for _, tr := range b.traces {
		if traceIDs[tr.id] {
			t.Fatalf("duplicate trace ID %s", tr.id)
		}
		traceIDs[tr.id] = true
		roots := 0
		for _, id := range tr.spans {
			s := byID[id]
			if s == nil || s.traceID != tr.id {
				t.Fatalf("span %s of trace %s not sent in it", id, tr.id)
			}
			if !s.start.Before(s.end) || s.end.After(end) {
				t.Errorf("span %q runs %v to %v, batch ends %v", s.name, s.start, s.end, end)
			}
			if !s.parent.IsValid() {
				roots++
				if s.kind != trace.SpanKindServer {
					t.Errorf("root span %q is %v, want server", s.name, s.kind)
				}
				continue
			}
			p := byID[s.parent]
			if p == nil || p.traceID != tr.id {
				t.Fatalf("span %q has a parent outside its trace", s.name)
			}
			if s.start.Before(p.start) || s.end.After(p.end.Add(time.Microsecond)) {
				t.Errorf("span %q [%v, %v] outside its parent [%v, %v]", s.name, s.start, s.end, p.start, p.end)
			}
			if p.kind == trace.SpanKindClient && s.kind != trace.SpanKindServer {
				t.Errorf("child of client span %q is %v, want server", p.name, s.kind)
			}
		}
		if roots != 1 {
			t.Errorf("trace %s has %d roots", tr.id, roots)
		}
	}
}

func TestBatchIsReproducible(t *testing.T) {
	cfg := DefaultConfig()
	services := newServices(cfg.Services)
	end := time.Now()
	a := newTraceBuilder(cfg, services, 42, 3).batch(5, end)
	b := newTraceBuilder(cfg, services, 42, 3).batch(5, end)
	other := newTraceBuilder(cfg, services, 42, 4).batch(5, end)
	for i := range a.spans {
		if a.spans[i].id != b.spans[i].id || a.spans[i].traceID != b.spans[i].traceID || a.spans[i].name != b.spans[i].name {
			t.Fatalf("span %d differs between two builders with one seed", i)
		}
	}
	if a.traces[0].id == other.traces[0].id {
		t.Error("two workers send the same trace IDs")
	}

	// A worker refills one batch: it must hold what a new one would.
	var refilled batch
	rb := newTraceBuilder(cfg, services, 42, 3)
	rb.fill(&refilled, 5, end)
	rb.fill(&refilled, 3, end)
	nb := newTraceBuilder(cfg, services, 42, 3)
	nb.batch(5, end)
	if fresh := nb.batch(3, end); !reflect.DeepEqual(refilled.spans, fresh.spans) || !reflect.DeepEqual(refilled.traces, fresh.traces) {
		t.Error("a refilled batch differs from a new one")
	}
}
