package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// splitSender exports the spans of one service over OTLP/gRPC and records
// what it sent.
type splitSender struct {
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder
}

func newSplitSender(t *testing.T, endpoint, service string) *splitSender {
	t.Helper()
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
		sdktrace.WithSpanProcessor(rec),
		sdktrace.WithBatcher(exp),
	)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &splitSender{tp: tp, rec: rec}
}

// flush exports every span ended so far, and fails the test unless the
// exporter succeeded.
func (s *splitSender) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.tp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSearchTracesStraddlingABlockCut sends each trace in two parts, the
// second only once the first is in a block: so its spans are split between
// a block and the live tail, then between two blocks. Every query relates
// spans of both parts; what must match is computed from the spans sent.
func TestSearchTracesStraddlingABlockCut(t *testing.T) {
	n := newNode(t)
	n.start(t)
	frontend := newSplitSender(t, n.OTLPGRPC, "frontend")
	backend := newSplitSender(t, n.OTLPGRPC, "backend")

	// Part one: each trace's root is started, not ended, and its children
	// (of the backend, or for one trace in four of the frontend) end.
	const traces = 12
	var roots []trace.Span
	for i := range traces {
		ctx, root := frontend.tp.Tracer("e2e").Start(context.Background(), fmt.Sprintf("GET /split/%d", i), trace.WithSpanKind(trace.SpanKindServer))
		roots = append(roots, root)
		children := backend
		if i%4 == 3 {
			children = frontend
		}
		for j := range 1 + i%3 {
			_, child := children.tp.Tracer("e2e").Start(ctx, fmt.Sprintf("work %d", j))
			child.End()
		}
	}
	frontend.flush(t)
	backend.flush(t)
	awaitBlocksCoverEverything(t, n.HTTP)

	// Part two: the roots end, after the cut.
	for _, root := range roots {
		root.End()
	}
	frontend.flush(t)

	sent := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range slices.Concat(frontend.rec.Ended(), backend.rec.Ended()) {
		id := s.SpanContext().TraceID().String()
		sent[id] = append(sent[id], s)
	}
	if len(sent) != traces {
		t.Fatalf("sent %d traces, want %d", len(sent), traces)
	}
	byID := func(ss []sdktrace.ReadOnlySpan, id trace.SpanID) sdktrace.ReadOnlySpan {
		for _, s := range ss {
			if s.SpanContext().SpanID() == id {
				return s
			}
		}
		return nil
	}
	cases := []searchCase[[]sdktrace.ReadOnlySpan]{
		{`{ resource.service.name = "frontend" } && { resource.service.name = "backend" }`, func(ss []sdktrace.ReadOnlySpan) bool {
			return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return service(s) == "frontend" }) &&
				anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return service(s) == "backend" })
		}},
		{`{ resource.service.name = "frontend" } > { resource.service.name = "backend" }`, func(ss []sdktrace.ReadOnlySpan) bool {
			return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool {
				p := byID(ss, s.Parent().SpanID())
				return service(s) == "backend" && p != nil && service(p) == "frontend"
			})
		}},
		{`{ kind = server } >> { name = "work 2" }`, func(ss []sdktrace.ReadOnlySpan) bool {
			return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool {
				p := byID(ss, s.Parent().SpanID())
				return s.Name() == "work 2" && p != nil && p.SpanKind() == trace.SpanKindServer
			})
		}},
		{`{ } | count() > 2`, func(ss []sdktrace.ReadOnlySpan) bool { return len(ss) > 2 }},
		{`{ rootServiceName = "frontend" && resource.service.name = "backend" }`, func(ss []sdktrace.ReadOnlySpan) bool {
			return anySpan(ss, func(s sdktrace.ReadOnlySpan) bool { return service(s) == "backend" })
		}},
	}
	check := func(when string) {
		for _, c := range cases {
			want := map[string]bool{}
			for id, spans := range sent {
				if c.matches(spans) {
					want[id] = true
				}
			}
			if len(want) == 0 || len(want) == traces {
				t.Fatalf("%s matches %d of %d traces: the case proves nothing", c.q, len(want), traces)
			}
			got := searchHits(t, n.HTTP, c.q)
			if len(got) != len(want) {
				t.Errorf("%s: %s found %d traces, want %d", when, c.q, len(got), len(want))
			}
			for id, h := range got {
				if !want[id] {
					t.Errorf("%s: %s found trace %s, which does not match", when, c.q, id)
					continue
				}
				// The hit describes the whole trace: its root, all of
				// its spans, its whole duration.
				spans := sent[id]
				start, end := spans[0].StartTime(), spans[0].EndTime()
				counts := map[string]int{}
				for _, s := range spans {
					start, end = minTime(start, s.StartTime()), maxTime(end, s.EndTime())
					counts[service(s)]++
				}
				got := map[string]int{}
				for svc, st := range h.ServiceStats {
					got[svc] = st.SpanCount
				}
				if h.RootServiceName != "frontend" || !mapsEqual(got, counts) || h.DurationMs != uint32(end.Sub(start).Milliseconds()) {
					t.Errorf("%s: %s: trace %s is %+v, want root frontend, spans %v, %d ms", when, c.q, id, h, counts, end.Sub(start).Milliseconds())
				}
			}
		}
	}
	awaitLiveTail(t, n.HTTP, sent)
	check("block and live tail")
	awaitBlocksCoverEverything(t, n.HTTP)
	check("two blocks")
}

// splitHit is what TestSearchTracesStraddlingABlockCut checks of a hit.
type splitHit struct {
	RootServiceName string `json:"rootServiceName"`
	DurationMs      uint32 `json:"durationMs"`
	ServiceStats    map[string]struct {
		SpanCount int `json:"spanCount"`
	} `json:"serviceStats"`
}

// searchHits runs q and returns the hits by trace ID.
func searchHits(t *testing.T, addr, q string) map[string]splitHit {
	t.Helper()
	var body struct {
		Traces []struct {
			TraceID string `json:"traceID"`
			splitHit
		} `json:"traces"`
	}
	getJSON(t, addr, "/api/search?limit=1000&q="+url.QueryEscape(q), &body)
	out := map[string]splitHit{}
	for _, tr := range body.Traces {
		out[tr.TraceID] = tr.splitHit
	}
	return out
}

// awaitBlocksCoverEverything waits until a block was written and the live
// tail holds no record: blocks cover everything sent.
func awaitBlocksCoverEverything(t *testing.T, addr string) {
	t.Helper()
	flushed := metric(t, addr, "spanlog_block_builder_blocks_flushed_total")
	waitFor(t, 60*time.Second, "blocks to cover every record", func() bool {
		return metric(t, addr, "spanlog_block_builder_blocks_flushed_total") > flushed &&
			metric(t, addr, "spanlog_querier_live_records") == 0
	})
}

// awaitLiveTail waits until a trace-by-ID read, which waits for the live
// tail to catch up with what was acked, finds every span sent.
func awaitLiveTail(t *testing.T, addr string, sent map[string][]sdktrace.ReadOnlySpan) {
	t.Helper()
	for id, spans := range sent {
		resp, err := http.Get("http://" + addr + "/api/traces/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("trace %s (%d spans): status %d", id, len(spans), resp.StatusCode)
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func mapsEqual(a, b map[string]int) bool {
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
