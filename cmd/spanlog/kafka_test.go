package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/tracelog"
)

// embedded starts the embedded Kafka on a free port in dataDir, and
// returns the log's configuration on it and a client of it.
func embedded(t *testing.T, cfg EmbeddedKafkaConfig, kafka tracelog.Config, reg prometheus.Registerer) (tracelog.Config, *kgo.Client) {
	t.Helper()
	c, _, err := startEmbeddedKafka(t.Context(), cfg, kafka, (&logtest.Buffer{}).Logger(), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kafka.Brokers = c.ListenAddrs()
	cl, err := kgo.NewClient(append(kafka.ClientOpts("test"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(int32(cfg.MaxMessageBytes)-1024),
		kgo.ProducerBatchCompression(kgo.NoCompression()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kafka, cl
}

// The embedded topic gets the configs of a topic spanlog creates, and its
// segment size, when it is new and when an earlier version created it
// without them.
func TestEmbeddedTopicConfigs(t *testing.T) {
	cfg := defaultConfig()
	cfg.EmbeddedKafka.Port = 0
	cfg.Kafka.LogRetention, cfg.Kafka.LogRetentionMargin = time.Minute, 30*time.Second
	for _, existing := range []bool{false, true} {
		t.Run("existing="+strconv.FormatBool(existing), func(t *testing.T) {
			cfg.EmbeddedKafka.DataDir = t.TempDir()
			if existing {
				c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(cfg.EmbeddedKafka.DataDir), kfake.SeedTopics(cfg.Kafka.Partitions, cfg.Kafka.Topic))
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
			}
			kafka, cl := embedded(t, cfg.EmbeddedKafka, cfg.Kafka, prometheus.NewRegistry())
			rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(t.Context(), kafka.Topic)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := rcs.On(kafka.Topic, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := make(map[string]string)
			for _, c := range rc.Configs {
				got[c.Key] = c.MaybeValue()
			}
			want := map[string]string{"retention.ms": "90000", "min.insync.replicas": "1", "segment.bytes": strconv.Itoa(16 << 20)}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if n, err := tracelog.Partitions(t.Context(), cl, kafka.Topic); err != nil || n != cfg.Kafka.Partitions {
				t.Errorf("topic has %d partitions (%v), want %d", n, err, cfg.Kafka.Partitions)
			}
		})
	}
}

// Under steady load, with the block-builders one round behind, trimming
// keeps the embedded log's bytes on disk within the records not yet
// trimmed plus a segment per partition, however long the load goes on.
func TestEmbeddedLogBytesLevelOff(t *testing.T) {
	const (
		partitions  = 4
		recordBytes = 4 << 10
		roundBytes  = 160 << 10 // per partition and round, unaligned with segments
		rounds      = 24
		segment     = 256 << 10
	)
	cfg := defaultConfig()
	cfg.EmbeddedKafka.Port, cfg.EmbeddedKafka.DataDir = 0, t.TempDir()
	cfg.EmbeddedKafka.MaxMessageBytes, cfg.EmbeddedKafka.SegmentBytes = 64<<10, segment
	cfg.Kafka.Partitions = partitions
	reg := prometheus.NewRegistry()
	kafka, cl := embedded(t, cfg.EmbeddedKafka, cfg.Kafka, reg)
	retention, err := tracelog.NewRetention(kafka, cfg.BlockBuilder.ConsumerGroup, (&logtest.Buffer{}).Logger(), reg)
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	value := make([]byte, recordBytes)
	// Older than log-retention, within the topic's own retention: only
	// the builders' commits hold the records back.
	stamp := time.Now().Add(-cfg.Kafka.LogRetention - time.Hour)

	// The records the builders have not committed, a round's worth;
	// up to a segment per partition of records trimmed but still in the
	// partition's first file; and the index files and group log beside.
	bound := float64(partitions*(roundBytes+segment) + 128<<10)
	var committed kadm.Offsets
	for round := range rounds {
		var recs []*kgo.Record
		for p := range int32(partitions) {
			for range roundBytes / recordBytes {
				recs = append(recs, &kgo.Record{Topic: kafka.Topic, Partition: p, Timestamp: stamp, Value: value})
			}
		}
		if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if committed != nil {
			if _, err := adm.CommitOffsets(t.Context(), cfg.BlockBuilder.ConsumerGroup, committed); err != nil {
				t.Fatal(err)
			}
		}
		ends, err := adm.ListEndOffsets(t.Context(), kafka.Topic)
		if err != nil {
			t.Fatal(err)
		}
		committed = ends.Offsets()
		if err := retention.Trim(t.Context(), cl); err != nil {
			t.Fatal(err)
		}
		disk := promtest.Value(t, reg, "spanlog_embedded_kafka_disk_bytes")
		t.Logf("round %d: %.0f KiB on disk, %d KiB written", round, disk/1024, (round+1)*partitions*roundBytes>>10)
		if disk > bound {
			t.Fatalf("round %d: %.0f bytes on disk, over the bound of %.0f", round, disk, bound)
		}
	}
	trimmed := promtest.Value(t, reg, "spanlog_log_trimmed_records_total")
	if want := float64((rounds - 1) * partitions * roundBytes / recordBytes); trimmed != want {
		t.Errorf("trimmed %v records, want %v", trimmed, want)
	}
}
