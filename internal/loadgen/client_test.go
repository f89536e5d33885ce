package loadgen

import (
	"maps"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/trace"

	"github.com/spanlog/spanlog/internal/loadgen/loadgentest"
)

// TestClientsSendTheSameSpans sends one batch through every client and
// protocol and compares what the receiver got span by span, each with its
// resource and scope: IDs, names, kinds, times, status, attributes, events,
// flags.
func TestClientsSendTheSameSpans(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SpansPerTrace, cfg.Services = 10, 10
	services := newServices(cfg.Services)
	end := time.Unix(1_700_000_000, 123_456_789)
	b := newTraceBuilder(cfg, services, 1, 0).batch(20, end)

	var want map[trace.SpanID]string
	var wantFrom transport
	for _, tr := range transports() {
		rcv := receiver(t, tr.protocol, loadgentest.Options{KeepTraces: true})
		cfg := testConfig(tr, rcv.Endpoint)
		cfg.Tenant = "team-a"
		c, err := newClient(t.Context(), cfg, services)
		if err != nil {
			t.Fatal(err)
		}
		class := c.export(t.Context(), b)
		if err := c.shutdown(t.Context()); err != nil {
			t.Error(err)
		}
		reqs := rcv.Requests()
		if class != "" || len(reqs) != 1 {
			t.Fatalf("%s: export failed (%q) or sent %d requests", tr, class, len(reqs))
		}
		if reqs[0].Tenant != "team-a" {
			t.Errorf("%s: tenant %q, want team-a", tr, reqs[0].Tenant)
		}
		got := spansByID(t, reqs[0].Traces)
		if len(got) != len(b.spans) {
			t.Fatalf("%s: receiver got %d spans, want %d", tr, len(got), len(b.spans))
		}
		if want == nil {
			want, wantFrom = got, tr
			checkVaried(t, reqs[0].Traces)
			continue
		}
		for _, id := range slices.SortedFunc(maps.Keys(want), compareSpanIDs) {
			if got[id] != want[id] {
				t.Fatalf("span %s differs:\n%s: %s\n%s: %s", id, wantFrom, want[id], tr, got[id])
			}
		}
	}
}

// spansByID renders each span, with its resource and scope, as OTLP/JSON.
func spansByID(t *testing.T, td ptrace.Traces) map[trace.SpanID]string {
	t.Helper()
	out := map[trace.SpanID]string{}
	var json ptrace.JSONMarshaler
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				one := ptrace.NewTraces()
				ors := one.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(ors.Resource())
				ors.SetSchemaUrl(rs.SchemaUrl())
				oss := ors.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(oss.Scope())
				oss.SetSchemaUrl(ss.SchemaUrl())
				s.CopyTo(oss.Spans().AppendEmpty())
				text, err := json.MarshalTraces(one)
				if err != nil {
					t.Fatal(err)
				}
				out[trace.SpanID(s.SpanID())] = string(text)
			}
		}
	}
	return out
}

// checkVaried checks that the compared spans have everything there is to
// get wrong: parents, errors, events, every attribute type, a resource.
func checkVaried(t *testing.T, td ptrace.Traces) {
	t.Helper()
	seen := map[string]bool{}
	for _, rs := range td.ResourceSpans().All() {
		if _, ok := rs.Resource().Attributes().Get("service.name"); ok {
			seen["service.name"] = true
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				seen["parent"] = seen["parent"] || !s.ParentSpanID().IsEmpty()
				seen["error"] = seen["error"] || s.Status().Code() == ptrace.StatusCodeError
				seen["event"] = seen["event"] || s.Events().Len() > 0
				for _, v := range s.Attributes().All() {
					seen[v.Type().String()] = true
				}
			}
		}
	}
	for _, want := range []string{"service.name", "parent", "error", "event", "Str", "Int", "Double", "Bool"} {
		if !seen[want] {
			t.Errorf("no %s in the spans compared: %v", want, seen)
		}
	}
}
