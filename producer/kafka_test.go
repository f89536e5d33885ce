package producer

import (
	"cmp"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tracelog"
)

// TestSplitOnBroker has a broker enforce a small message.max.bytes and
// checks that a large request arrives whole, in records under it.
func TestSplitOnBroker(t *testing.T) {
	const limit = 4 << 10
	cluster := kafkatest.New(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(limit)}))
	d := startDistributor(t, cluster.Brokers(), func(s *testSetup) { s.cfg.MaxRecordBytes = limit })
	td := testTraces(300, 3, 4)
	if err := exportGRPC(t, d.GRPCAddr(), "", td); err != nil {
		t.Fatal(err)
	}
	records := readLog(t, cluster.Brokers(), kafkatest.Topic)
	if len(records) < 2*testPartitions {
		t.Errorf("%d records, want several per partition", len(records))
	}
	for _, r := range records {
		if size := len(r.Value) + recordFraming(r); size > limit {
			t.Errorf("record at %d/%d takes up to %d bytes, limit %d", r.Partition, r.Offset, size, limit)
		}
	}
	checkSpansOnce(t, logSpans(t, records, "single-tenant", testPartitions), keysOf(td))
}

// TestWaitsForKafka starts the distributor before Kafka: it must serve,
// answer Unavailable, and become ready once Kafka is up.
func TestWaitsForKafka(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()

	d := runDistributor(t, []string{addr.String()}, func(s *testSetup) { s.kafka.DialTimeout = 200 * time.Millisecond })
	if err := d.Ready(); err == nil {
		t.Fatal("ready without Kafka")
	}
	err = exportGRPC(t, d.GRPCAddr(), "", testTraces(1, 1, 1))
	if st := grpcstatus.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), errNotReady.Error()) {
		t.Fatalf("before Kafka: %v, want Unavailable, not ready", err)
	}

	cluster := kafkatest.New(t, kfake.Ports(addr.Port))
	select {
	case <-d.ready:
	case <-time.After(30 * time.Second):
		t.Fatal("not ready 30s after Kafka started")
	}
	if err := d.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	td := testTraces(3, 2, 1)
	if err := exportGRPC(t, d.GRPCAddr(), "", td); err != nil {
		t.Fatal(err)
	}
	checkSpansOnce(t, logSpans(t, readLog(t, cluster.Brokers(), kafkatest.Topic), "single-tenant", testPartitions), keysOf(td))
}

// TestUsesExistingTopic checks that the partition count comes from the
// topic, not from the configuration, when the topic exists.
func TestUsesExistingTopic(t *testing.T) {
	const partitions = 3
	cluster := kafkatest.New(t, kfake.SeedTopics(partitions, kafkatest.Topic))
	d := startDistributor(t, cluster.Brokers(), nil) // configured with testPartitions
	td := testTraces(30, 1, 1)
	want := keysOf(td)
	if _, err := d.Push(context.Background(), "t1", td); err != nil {
		t.Fatal(err)
	}
	records := readLog(t, cluster.Brokers(), kafkatest.Topic)
	checkSpansOnce(t, logSpans(t, records, "t1", partitions), want)
	for _, r := range records {
		if r.Partition >= partitions {
			t.Errorf("record on partition %d of a %d-partition topic", r.Partition, partitions)
		}
		if got, _, err := schema.DecodeRecord(r, schema.RecordTenancy{Default: ""}); err != nil || got != "t1" {
			t.Errorf("record tenant %q, %v", got, err)
		}
	}
}

// TestWritesWithTheConfiguredCompression checks that the batches the
// distributor writes are compressed with kafka.compression, and that they
// read back whole.
func TestWritesWithTheConfiguredCompression(t *testing.T) {
	for _, tc := range []struct {
		compression string
		want        uint8 // the codec in a batch's attributes
	}{
		{"", 2},
		{tracelog.CompressionNone, 0},
		{tracelog.CompressionSnappy, 2},
		{tracelog.CompressionLZ4, 3},
		{tracelog.CompressionZstd, 4},
	} {
		t.Run(cmp.Or(tc.compression, "empty"), func(t *testing.T) {
			cluster := kafkatest.New(t)
			d := startDistributor(t, cluster.Brokers(), func(s *testSetup) { s.kafka.Compression = tc.compression })
			td := testTraces(20, 3, 4)
			if err := exportGRPC(t, d.GRPCAddr(), "", td); err != nil {
				t.Fatal(err)
			}
			records := readLog(t, cluster.Brokers(), kafkatest.Topic)
			for _, r := range records {
				if got := r.Attrs.CompressionType(); got != tc.want {
					t.Errorf("record at %d/%d in a batch of codec %d, want %d", r.Partition, r.Offset, got, tc.want)
				}
			}
			checkSpansOnce(t, logSpans(t, records, "single-tenant", testPartitions), keysOf(td))
		})
	}
}
