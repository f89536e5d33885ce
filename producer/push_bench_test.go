package producer

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/loadgen/workload"
)

// BenchmarkPush measures an OTLP request of 100 spans with 10 attributes
// each (20 traces of 5 spans) from its protobuf bytes to Kafka's ack, as
// the receivers push it (the nesting scan included), against an
// in-process kfake broker: one client at a time, and GOMAXPROCS times 8
// at once, the way many SDKs share a distributor.
func BenchmarkPush(b *testing.B) {
	const traces, spansPerTrace, attrs = 20, 5, 10
	const spans = traces * spansPerTrace
	cluster := kafkatest.New(b)
	d := startDistributor(b, cluster.Brokers(), nil)
	body, err := ptraceotlp.NewExportRequestFromTraces(testTraces(traces, spansPerTrace, attrs)).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	push := func() error {
		_, err := d.pushBody(ctx, "bench", body, false)
		return err
	}

	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := push(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*spans)/b.Elapsed().Seconds(), "spans/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := push(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N*spans)/b.Elapsed().Seconds(), "spans/s")
	})
}

// BenchmarkSplit measures the part of a push before Kafka, from the
// request's bytes to its records' values, nesting scan included, on both
// paths: splitting the bytes (wire, what the receivers do with protobuf)
// and decoding with pdata, then encoding each record (what they do with
// JSON, and with protobuf the wire path leaves to pdata).
func BenchmarkSplit(b *testing.B) {
	body, err := ptraceotlp.NewExportRequestFromTraces(testTraces(20, 5, 10)).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	maxDepth, maxAttributeBytes := DefaultConfig().MaxAttributeDepth, 2048
	for _, path := range []string{"wire", "pdata"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := checkProtoDepth(body, maxDepth); err != nil {
					b.Fatal(err)
				}
				var req splitRequest
				if path == "wire" {
					w, ok := scanRequest(body, "bench", 8, maxAttributeBytes)
					if !ok {
						b.Fatal("the request took pdata's path")
					}
					req = w
				} else {
					r, err := unmarshalProto(body)
					if err != nil {
						b.Fatal(err)
					}
					td := r.Traces()
					truncateAttributes(td, maxAttributeBytes)
					l, err := indexRequest(td, "bench", 8)
					if err != nil {
						b.Fatal(err)
					}
					req = &decodedRequest{layout: l, td: td}
				}
				sizes, err := req.index().assign(1<<20, 0)
				if err == nil {
					_, err = req.values(sizes)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "spans/s")
		})
	}
}

// BenchmarkScanRequest measures the two scans of a request's protobuf
// bytes before splitting, on the load generator's requests (20 traces of
// 10 spans each, workload.Requests): the nesting scan (depth) and the
// wire path's (scan). An op is one request; spans/s counts all of them.
func BenchmarkScanRequest(b *testing.B) {
	var bodies [][]byte
	spans := 0
	for _, td := range workload.Requests(b, 2000) {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
		spans += td.SpanCount()
	}
	perRequest := float64(spans) / float64(len(bodies))
	maxDepth, maxAttributeBytes := DefaultConfig().MaxAttributeDepth, 2048
	scans := []struct {
		name string
		scan func(body []byte) bool
	}{
		{"depth", func(body []byte) bool { return checkProtoDepth(body, maxDepth) == nil }},
		{"scan", func(body []byte) bool {
			_, ok := scanRequest(body, "bench", 8, maxAttributeBytes)
			return ok
		}},
	}
	for _, sc := range scans {
		b.Run(sc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if !sc.scan(bodies[i%len(bodies)]) {
					b.Fatal("the request did not pass")
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*perRequest), "ns/span")
		})
	}
}
