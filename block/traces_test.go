package block_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/spantest"
)

// genTraces returns n traces shaped like those of HTTP services: 5 to 20
// spans each, spread over a few services whose resources carry 8
// attributes, every span with about 10 attributes. rng makes it
// reproducible.
func genTraces(rng *rand.Rand, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	start := uint64(1_700_000_000_000_000_000)
	for range n {
		var traceID pcommon.TraceID
		fillRandom(rng, traceID[:])
		spans := 5 + rng.IntN(16)
		services := make(map[int]ptrace.SpanSlice)
		var parent pcommon.SpanID
		for s := range spans {
			svc := rng.IntN(10)
			slice, ok := services[svc]
			if !ok {
				slice = addResource(td, svc)
				services[svc] = slice
			}
			span := slice.AppendEmpty()
			var spanID pcommon.SpanID
			fillRandom(rng, spanID[:])
			span.SetTraceID(traceID)
			span.SetSpanID(spanID)
			span.SetParentSpanID(parent)
			parent = spanID
			span.SetName(fmt.Sprintf("GET /api/v1/resource%d", rng.IntN(20)))
			span.SetKind(ptrace.SpanKindServer)
			begin := start + uint64(s)*1_000_000 + rng.Uint64N(1_000_000)
			span.SetStartTimestamp(pcommon.Timestamp(begin))
			span.SetEndTimestamp(pcommon.Timestamp(begin + rng.Uint64N(500_000_000)))
			status := []int64{200, 200, 200, 201, 404, 500}[rng.IntN(6)]
			if status >= 500 {
				span.Status().SetCode(ptrace.StatusCodeError)
			}
			a := span.Attributes()
			a.PutStr("http.request.method", []string{"GET", "POST", "PUT"}[rng.IntN(3)])
			a.PutInt("http.response.status_code", status)
			a.PutStr("url.full", fmt.Sprintf("https://shop.example.com/api/v1/resource%d?id=%d", rng.IntN(20), rng.IntN(100_000)))
			a.PutStr("http.route", "/api/v1/resource/{id}")
			a.PutStr("server.address", "shop.example.com")
			a.PutInt("server.port", 443)
			a.PutStr("network.protocol.version", "1.1")
			a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", rng.IntN(256), rng.IntN(256)))
			a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
			a.PutInt("app.user_id", rng.Int64N(1_000_000))
			a.PutBool("app.cache_hit", rng.IntN(2) == 0)
		}
		start += 10_000_000
	}
	return td
}

func addResource(td ptrace.Traces, svc int) ptrace.SpanSlice {
	rs := td.ResourceSpans().AppendEmpty()
	a := rs.Resource().Attributes()
	a.PutStr("service.name", fmt.Sprintf("service-%d", svc))
	a.PutStr("service.version", "1.4.2")
	a.PutStr("service.namespace", "shop")
	a.PutStr("deployment.environment.name", "production")
	a.PutStr("host.name", fmt.Sprintf("node-%d.eu-west-1.compute.internal", svc%3))
	a.PutStr("k8s.pod.name", fmt.Sprintf("service-%d-7d9f8b6c5-x2x4z", svc))
	a.PutStr("telemetry.sdk.language", "go")
	a.PutStr("telemetry.sdk.version", "1.28.0")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	ss.Scope().SetVersion("0.53.0")
	return ss.Spans()
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// spansByTrace returns each trace's spans in a form equal for equal spans.
func spansByTrace(t testing.TB, td ptrace.Traces) map[pcommon.TraceID][]string {
	t.Helper()
	return spantest.ByTrace(t, td)
}
