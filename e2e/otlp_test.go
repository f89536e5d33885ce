package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// sendTraces creates traces with the OpenTelemetry SDK and exports them
// over OTLP ("grpc" or "http") to endpoint. It returns what was sent, by
// trace ID, once the exporter reported success for all of it.
func sendTraces(t *testing.T, protocol, endpoint, service string, traces int) map[string][]sdktrace.ReadOnlySpan {
	t.Helper()
	return sendTracesAs(t, protocol, endpoint, service, traces, "")
}

// sendTracesAs is sendTraces for tenant, sent in X-Scope-OrgID when not
// empty. A tenant's traces then also carry attributes no other tenant's
// have: the resource attribute owner.<tenant> and the span attribute
// owned.by.<tenant>, both valued <tenant>.
func sendTracesAs(t *testing.T, protocol, endpoint, service string, traces int, tenant string) map[string][]sdktrace.ReadOnlySpan {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var headers map[string]string
	resourceAttrs := []attribute.KeyValue{
		attribute.String("service.name", service),
		attribute.String("host.name", "e2e"),
		attribute.Int64("process.pid", 4242),
	}
	var ownAttrs []attribute.KeyValue
	if tenant != "" {
		headers = map[string]string{"X-Scope-OrgID": tenant}
		resourceAttrs = append(resourceAttrs, attribute.String("owner."+tenant, tenant))
		ownAttrs = append(ownAttrs, attribute.String("owned.by."+tenant, tenant))
	}
	var exp sdktrace.SpanExporter
	var err error
	switch protocol {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure(), otlptracegrpc.WithHeaders(headers))
	case "http":
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure(), otlptracehttp.WithHeaders(headers))
	}
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(resourceAttrs...)),
		sdktrace.WithSpanProcessor(rec),
		sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(64)),
	)
	tracer := tp.Tracer("spanlog/e2e", trace.WithInstrumentationVersion("1.2.3"))
	var previous trace.SpanContext
	for i := range traces {
		opts := []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", "GET"),
				attribute.Int("http.response.status_code", 200+i%5*100),
				attribute.Bool("cached", i%2 == 0),
				attribute.Float64("ratio", 0.5),
				attribute.StringSlice("tags", []string{"a", fmt.Sprint(i)}),
			),
			trace.WithAttributes(ownAttrs...),
		}
		if previous.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: previous, Attributes: []attribute.KeyValue{attribute.String("why", "retry")}}))
		}
		ctx, root := tracer.Start(context.Background(), fmt.Sprintf("GET /item/%d", i), opts...)
		for j := range 1 + i%4 {
			_, child := tracer.Start(ctx, fmt.Sprintf("query %d", j), trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(attribute.String("db.system", "postgresql"), attribute.Int64("rows", int64(j))))
			child.AddEvent("rows fetched", trace.WithAttributes(attribute.Int("count", j)))
			if j == 2 {
				child.SetStatus(codes.Error, "deadline exceeded")
			}
			child.End()
		}
		root.SetStatus(codes.Ok, "")
		root.End()
		previous = root.SpanContext()
	}
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatalf("export over %s: %v", protocol, err)
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("shut down exporter: %v", err)
	}
	byTrace := make(map[string][]sdktrace.ReadOnlySpan)
	for _, s := range rec.Ended() {
		id := s.SpanContext().TraceID().String()
		byTrace[id] = append(byTrace[id], s)
	}
	if len(byTrace) != traces {
		t.Fatalf("recorded %d traces, want %d", len(byTrace), traces)
	}
	return byTrace
}

// A spanView is everything a user sent about a span, in a form both the
// SDK's spans and the spans read back can be rendered to and compared.
type spanView struct {
	TraceID, SpanID, Parent, Name string
	Kind                          int
	Start, End                    int64
	Attrs, Events, Links          string
	Status, Resource, Scope       string
}

func viewSent(s sdktrace.ReadOnlySpan) spanView {
	status := map[codes.Code]ptrace.StatusCode{codes.Unset: ptrace.StatusCodeUnset, codes.Ok: ptrace.StatusCodeOk, codes.Error: ptrace.StatusCodeError}
	parent := ""
	if s.Parent().IsValid() {
		parent = s.Parent().SpanID().String()
	}
	var events, links []string
	for _, e := range s.Events() {
		events = append(events, fmt.Sprintf("%s@%d%s", e.Name, e.Time.UnixNano(), sdkAttrs(e.Attributes)))
	}
	for _, l := range s.Links() {
		links = append(links, fmt.Sprintf("%s/%s%s", l.SpanContext.TraceID(), l.SpanContext.SpanID(), sdkAttrs(l.Attributes)))
	}
	return spanView{
		TraceID: s.SpanContext().TraceID().String(), SpanID: s.SpanContext().SpanID().String(), Parent: parent,
		Name: s.Name(), Kind: int(s.SpanKind()),
		Start: s.StartTime().UnixNano(), End: s.EndTime().UnixNano(),
		Attrs: sdkAttrs(s.Attributes()), Events: strings.Join(events, ";"), Links: strings.Join(links, ";"),
		Status:   fmt.Sprintf("%d:%s", status[s.Status().Code], s.Status().Description),
		Resource: sdkAttrs(s.Resource().Attributes()),
		Scope:    s.InstrumentationScope().Name + "@" + s.InstrumentationScope().Version,
	}
}

func sdkAttrs(kvs []attribute.KeyValue) string {
	m := pcommon.NewMap()
	for _, kv := range kvs {
		v := m.PutEmpty(string(kv.Key))
		switch kv.Value.Type() {
		case attribute.STRING:
			v.SetStr(kv.Value.AsString())
		case attribute.INT64:
			v.SetInt(kv.Value.AsInt64())
		case attribute.FLOAT64:
			v.SetDouble(kv.Value.AsFloat64())
		case attribute.BOOL:
			v.SetBool(kv.Value.AsBool())
		case attribute.STRINGSLICE:
			s := v.SetEmptySlice()
			for _, x := range kv.Value.AsStringSlice() {
				s.AppendEmpty().SetStr(x)
			}
		default:
			panic("attribute type not used by the test: " + kv.Value.Type().String())
		}
	}
	return pdataAttrs(m)
}

func pdataAttrs(m pcommon.Map) string {
	var kv []string
	for k, v := range m.All() {
		kv = append(kv, fmt.Sprintf("%s=%s:%s", k, v.Type(), v.AsString()))
	}
	sort.Strings(kv)
	return "{" + strings.Join(kv, ",") + "}"
}

// viewsReceived renders every span of td.
func viewsReceived(td ptrace.Traces) []spanView {
	var out []spanView
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				var events, links []string
				for _, e := range s.Events().All() {
					events = append(events, fmt.Sprintf("%s@%d%s", e.Name(), e.Timestamp(), pdataAttrs(e.Attributes())))
				}
				for _, l := range s.Links().All() {
					links = append(links, fmt.Sprintf("%s/%s%s", l.TraceID(), l.SpanID(), pdataAttrs(l.Attributes())))
				}
				parent := ""
				if !s.ParentSpanID().IsEmpty() {
					parent = s.ParentSpanID().String()
				}
				out = append(out, spanView{
					TraceID: s.TraceID().String(), SpanID: s.SpanID().String(), Parent: parent,
					Name: s.Name(), Kind: int(s.Kind()),
					Start: int64(s.StartTimestamp()), End: int64(s.EndTimestamp()),
					Attrs: pdataAttrs(s.Attributes()), Events: strings.Join(events, ";"), Links: strings.Join(links, ";"),
					Status:   fmt.Sprintf("%d:%s", s.Status().Code(), s.Status().Message()),
					Resource: pdataAttrs(rs.Resource().Attributes()),
					Scope:    ss.Scope().Name() + "@" + ss.Scope().Version(),
				})
			}
		}
	}
	return out
}

// sameSpans reports how got differs from sent: missing, extra or changed
// spans, and duplicates.
func sameSpans(sent []sdktrace.ReadOnlySpan, got ptrace.Traces) error {
	want := make(map[string]spanView)
	for _, s := range sent {
		v := viewSent(s)
		want[v.SpanID] = v
	}
	seen := make(map[string]bool)
	var problems []string
	for _, v := range viewsReceived(got) {
		if seen[v.SpanID] {
			problems = append(problems, "duplicate span "+v.SpanID)
			continue
		}
		seen[v.SpanID] = true
		w, ok := want[v.SpanID]
		switch {
		case !ok:
			problems = append(problems, "unexpected span "+v.SpanID)
		case w != v:
			problems = append(problems, fmt.Sprintf("span %s differs:\n sent %+v\n got  %+v", v.SpanID, w, v))
		}
	}
	for id := range want {
		if !seen[id] {
			problems = append(problems, "missing span "+id)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%d problems: %s", len(problems), strings.Join(problems[:min(len(problems), 5)], "; "))
	}
	return nil
}
