package querier

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/schema"
)

// BenchmarkSearchLive digests a search's candidates and the tags of a
// live tail of 200,000 spans (scanBenchTrace's, in records of 20 traces
// of 8 partitions), as the owner of its partitions does for every search
// and tags request, and reads a search's digest as the asker does: for
// every trace, for filters that many traces pass, few, or none, on
// intrinsics, resource and span attributes.
func BenchmarkSearchLive(b *testing.B) {
	const partitions = 8
	rng := rand.New(rand.NewPCG(3, 4))
	tail := live.NewTail(1<<40, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0})
	var m ptrace.ProtoMarshaler
	for off := range int64(200_000 / 10 / 20) {
		td := ptrace.NewTraces()
		for range 20 {
			scanBenchTrace(rng, int(off/100)).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		value, err := m.MarshalTraces(td)
		if err != nil {
			b.Fatal(err)
		}
		tail.Add(querytest.Tenant, int32(off%partitions), off/partitions, time.Unix(0, off), value, schema.AppendRows(nil, td))
	}
	covered := func(string, int32) int64 { return 0 }
	for _, c := range []struct {
		name   string
		digest live.Digester
		args   any
	}{
		{"candidates-all", digestCandidates, candidatesArgs{Query: "{}"}},
		{"candidates-service", digestCandidates, candidatesArgs{Query: `{resource.service.name="service-3"}`}},
		{"candidates-no-service", digestCandidates, candidatesArgs{Query: `{resource.service.name="cart"}`}},
		{"candidates-errors", digestCandidates, candidatesArgs{Query: "{status=error}"}},
		{"candidates-slow-errors", digestCandidates, candidatesArgs{Query: "{status=error && duration>100ms}"}},
		{"candidates-http-5xx", digestCandidates, candidatesArgs{Query: "{span.http.status_code>=500}"}},
		{"candidates-url-regex", digestCandidates, candidatesArgs{Query: `{span.http.url=~".*resource1[?]id=123.*"}`}},
		{"candidates-name-kind", digestCandidates, candidatesArgs{Query: `{name="GET /api/v1/resource3" && kind=server}`}},
		{"candidates-structural", digestCandidates, candidatesArgs{Query: `{resource.service.name="service-1"} >> {status=error}`}},
		{"tags", digestTags, tagQuery{}},
	} {
		b.Run(c.name, func(b *testing.B) {
			args, err := json.Marshal(c.args)
			if err != nil {
				b.Fatal(err)
			}
			answer, err := c.digest(args)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				s, _, err := tail.Slice([]string{querytest.Tenant}, []int32{0, 1, 2, 3, 4, 5, 6, 7}, nil, covered)
				if err != nil {
					b.Fatal(err)
				}
				digest, err := answer(s)
				if err != nil {
					b.Fatal(err)
				}
				d, err := json.Marshal(digest)
				if err != nil {
					b.Fatal(err)
				}
				if c.name != "tags" {
					readLiveParts(b, d)
				}
			}
		})
	}
}

// readLiveParts reads a candidates digest as the asking querier does.
func readLiveParts(b *testing.B, d []byte) {
	var byTenant map[string][]partJSON
	if err := json.Unmarshal(d, &byTenant); err != nil {
		b.Fatal(err)
	}
	for _, c := range byTenant[querytest.Tenant] {
		if _, err := c.part(); err != nil {
			b.Fatal(err)
		}
	}
}
