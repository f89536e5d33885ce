package querier

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/traceql"
)

// scanBenchBlocks blocks of scanBenchTraces traces of 10 spans each: about
// 400,000 spans, enough to measure a scan's rate without minutes of setup.
const (
	scanBenchBlocks = 20
	scanBenchTraces = 2000
)

// scanBenchTrace returns a trace of 10 spans over 3 services, at minute:
// one span in 50 is an error, with a duration of up to a second, and one
// in 20 has an HTTP status code of 500 or above.
func scanBenchTrace(rng *rand.Rand, minute int) ptrace.Traces {
	td := ptrace.NewTraces()
	id := randomID(rng)
	start := querytest.Base.Add(time.Duration(minute) * time.Minute)
	var parent pcommon.SpanID
	for n := range 10 {
		rs := td.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		ra.PutStr("service.name", fmt.Sprintf("service-%d", rng.IntN(30)))
		ra.PutStr("host.name", fmt.Sprintf("node-%d", rng.IntN(20)))
		ra.PutStr("k8s.pod.name", fmt.Sprintf("pod-%d", rng.IntN(200)))
		ra.PutStr("telemetry.sdk.language", "go")
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(id)
		var sid pcommon.SpanID
		copy(sid[:], id[:6])
		sid[7] = byte(n + 1)
		s.SetSpanID(sid)
		s.SetParentSpanID(parent)
		parent = sid
		s.SetName(fmt.Sprintf("GET /api/v1/resource%d", rng.IntN(20)))
		begin := start.Add(time.Duration(rng.IntN(60_000)) * time.Millisecond)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(begin))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(begin.Add(time.Duration(rng.IntN(200)) * time.Millisecond)))
		code := int64(200)
		if rng.IntN(20) == 0 {
			code = 500 + rng.Int64N(4)
		}
		if rng.IntN(50) == 0 {
			s.Status().SetCode(ptrace.StatusCodeError)
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(begin.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)))
		}
		a := s.Attributes()
		a.PutStr("http.method", "GET")
		a.PutInt("http.status_code", code)
		a.PutStr("http.url", fmt.Sprintf("https://shop.example.com/api/v1/resource%d?id=%d", rng.IntN(20), rng.IntN(100_000)))
		a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", rng.IntN(256), rng.IntN(256)))
		a.PutInt("app.user_id", rng.Int64N(1_000_000))
		a.PutBool("app.cache_hit", rng.IntN(2) == 0)
	}
	return td
}

// BenchmarkSearchScan searches blocks on local disk, block readers open, for
// the queries of the search benchmark, and reports the spans searched per
// second. "phase1" is the candidate scan alone; "all" returns every match
// (no limit), so every match is read whole; "limit-20" is what Grafana
// asks for.
func BenchmarkSearchScan(b *testing.B) {
	bkt, err := objstore.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	spans := 0
	for blk := range scanBenchBlocks {
		td := ptrace.NewTraces()
		for range scanBenchTraces {
			scanBenchTrace(rng, blk).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		spans += td.SpanCount()
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			querytest.WriteBlock(b, bkt, blk, td)
		})
	}
	wg.Wait()
	q := startQuerier(b, bkt)
	for _, query := range []string{
		`{resource.service.name="service-7"}`,
		`{status=error && duration>100ms}`,
		`{span.http.status_code>=500}`,
	} {
		parsed, err := traceql.Parse(query)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(query+"/phase1", func(b *testing.B) {
			var found int
			for b.Loop() {
				ts, err := q.newTenantScan(b.Context(), traceScan{query: parsed}, querytest.Tenant)
				if err != nil {
					b.Fatal(err)
				}
				cands, err := ts.candidates(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				found = cands.Len()
			}
			b.ReportMetric(float64(spans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(found), "candidates")
		})
		for _, limit := range []struct {
			name string
			n    int
		}{{"all", 0}, {"limit-20", 20}} {
			b.Run(query+"/"+limit.name, func(b *testing.B) {
				req := SearchRequest{Query: parsed, Limit: limit.n, SpansPerSpanSet: 3}
				var found int
				for b.Loop() {
					res, err := q.Search(b.Context(), []string{querytest.Tenant}, req)
					if err != nil {
						b.Fatal(err)
					}
					found = len(res.Traces)
				}
				b.ReportMetric(float64(spans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
				b.ReportMetric(float64(found), "traces")
			})
		}
	}
}
