package producer

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

// BenchmarkPush measures an OTLP request of 100 spans with 10 attributes
// each (20 traces of 5 spans) from its protobuf bytes to Kafka's ack,
// decoded as the receivers decode it (the nesting scan included), against
// an in-process kfake broker: one client at a time, and GOMAXPROCS times 8
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
		req, err := decodeRequest(body, false, d.cfg.MaxAttributeDepth)
		if err != nil {
			return err
		}
		_, err = d.Push(ctx, "bench", req.Traces())
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

// BenchmarkSplit measures the part of Push before Kafka, decoding
// included: validation, partitioning and splitting.
func BenchmarkSplit(b *testing.B) {
	body, err := ptraceotlp.NewExportRequestFromTraces(testTraces(20, 5, 10)).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req, err := decodeRequest(body, false, DefaultConfig().MaxAttributeDepth)
		if err != nil {
			b.Fatal(err)
		}
		td := req.Traces()
		l, err := indexRequest(td, "bench", 8)
		if err != nil {
			b.Fatal(err)
		}
		sizes, err := l.assign(1<<20, 0)
		if err != nil {
			b.Fatal(err)
		}
		l.build(td, sizes)
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "spans/s")
}
