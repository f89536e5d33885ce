package traceql

import (
	"fmt"
	"testing"
	"time"

	"github.com/spanlog/spanlog/schema"
)

// benchTraces returns about 10k spans in traces of 50 spans each: a root
// and a chain of children, over 20 services, every tenth span a 5xx, so
// that the first query below matches one trace in ten.
func benchTraces() [][]schema.SpanRow {
	const traces, spansPerTrace = 200, 50
	out := make([][]schema.SpanRow, traces)
	for t := range out {
		specs := make([]spec, spansPerTrace)
		for i := range specs {
			status := int64(200)
			if i%10 == 3 {
				status = 503
			}
			specs[i] = spec{
				id: byte(i + 1), parent: byte(i), name: fmt.Sprintf("op-%d", i%7),
				service: fmt.Sprintf("svc-%d", (t+i)%20), kind: kindServer,
				start: time.Duration(i) * time.Millisecond, dur: time.Duration(i+1) * time.Millisecond,
				attrs: []schema.Attribute{
					strAttr("http.method", "GET"), strAttr("http.url", "/api/items"),
					intAttr("http.status_code", status), strAttr("net.peer.name", "10.0.0.1"),
				},
				resAttr: []schema.Attribute{strAttr("host.name", "node-1"), strAttr("k8s.namespace.name", "prod")},
			}
		}
		out[t] = buildTrace(specs...)
	}
	return out
}

func BenchmarkEvaluate(b *testing.B) {
	traces := benchTraces()
	spans := 0
	for _, t := range traces {
		spans += len(t)
	}
	for _, query := range []string{
		`{ resource.service.name = "svc-3" && span.http.status_code >= 500 }`,
		`{ }`,
		`{ .service.name =~ "svc-1.*" || status = error }`,
		`{ resource.service.name = "svc-3" } >> { span.http.status_code >= 500 } | count() > 1`,
		`{ span.http.status_code >= 500 } | avg(duration) > 10ms | select(span.http.url)`,
		`{ resource.service.name = "svc-3" } !<< { span.http.status_code >= 500 }`,
		`{ span.http.status_code >= 500 } &<< { } ~ { }`,
		`{ span.http.status_code * 2 > duration / 1ms + 900 }`,
		`{ span:childCount = 0 || nestedSetLeft = 3 }`,
		`{ span.http.status_code >= 500 } | by(resource.service.name) | count() > 0 | coalesce()`,
	} {
		q, err := Parse(query)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(query, func(b *testing.B) {
			b.ReportAllocs()
			matched := 0
			for b.Loop() {
				for _, t := range traces {
					if _, ok := q.Evaluate(t); ok {
						matched++
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
			b.ReportMetric(float64(matched)/float64(b.N), "traces-matched")
		})
	}
}
