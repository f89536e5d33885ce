package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/tracelog"
)

// startEmbeddedKafka starts franz-go's kfake cluster in-process: one broker
// on 127.0.0.1, persisting the log to a data directory. It creates the
// topic kafka names if it is missing, and sets the configs of tracelog's
// topics on it, plus the segment size, whether it is new or was created by
// an earlier start: spanlog owns this broker. The size of the data
// directory is published to reg.
//
// The broker's ack means the records are written to its files, not synced
// to disk: they survive a kill -9 of the process, not a power cut. The
// returned group commit syncs them: the distributor acks a client only
// once it synced the partitions the client's records went to. kfake's own
// SyncWrites fsyncs every partition's batch in the broker's one
// goroutine, one after another, while the broker serves nothing else:
// most of a request's time went there (docs/benchmarks.md).
func startEmbeddedKafka(ctx context.Context, cfg EmbeddedKafkaConfig, kafka tracelog.Config, logger *slog.Logger, reg prometheus.Registerer) (*embeddedKafka, *groupCommit, error) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(cfg.Port),
		kfake.DataDir(cfg.DataDir),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(cfg.MaxMessageBytes)}),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded kafka: %w", err)
	}
	if err := configureEmbeddedTopic(ctx, c, cfg, kafka); err != nil {
		c.Close()
		return nil, nil, err
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "spanlog_embedded_kafka_disk_bytes",
		Help: "Bytes of the files in the embedded Kafka's data directory.",
	}, func() float64 {
		n, err := dirBytes(cfg.DataDir)
		if err != nil {
			logger.Warn("cannot measure the embedded kafka's data directory", "dir", cfg.DataDir, "err", err)
		}
		return float64(n)
	}))
	files := newSegmentFiles(cfg.DataDir, kafka.Topic, cfg.SegmentBytes)
	commit := newGroupCommit(files.sync, cfg.SyncRoundsInFlight, logger, reg)
	logger.Info("embedded kafka started", "addrs", c.ListenAddrs(), "dataDir", cfg.DataDir)
	return &embeddedKafka{Cluster: c, files: files}, commit, nil
}

// embeddedKafka is the broker with the segment files its group commit
// holds open.
type embeddedKafka struct {
	*kfake.Cluster
	files *segmentFiles
}

// Close stops the broker and closes the files held open, once no group
// commit uses them.
func (k *embeddedKafka) Close() {
	k.Cluster.Close()
	k.files.close()
}

// configureEmbeddedTopic creates the topic on c if it is missing and sets
// its configs. Segments are set smaller than Kafka's 1 GiB (kfake's
// 100 MiB): a trim frees only whole segment files, so each partition
// keeps up to one segment of records already trimmed.
func configureEmbeddedTopic(ctx context.Context, c *kfake.Cluster, cfg EmbeddedKafkaConfig, kafka tracelog.Config) error {
	kafka.Brokers, kafka.ReplicationFactor = c.ListenAddrs(), 1
	cl, err := kgo.NewClient(kafka.ClientOpts("spanlog-embedded-kafka")...)
	if err != nil {
		return fmt.Errorf("embedded kafka client: %w", err)
	}
	defer cl.Close()
	if _, err := tracelog.EnsureTopic(ctx, cl, kafka); err != nil {
		return fmt.Errorf("embedded kafka: %w", err)
	}
	configs := kafka.TopicConfigs(kafka.ReplicationFactor)
	configs["segment.bytes"] = kadm.StringPtr(strconv.FormatInt(cfg.SegmentBytes, 10))
	if err := tracelog.AlterTopicConfigs(ctx, cl, kafka.Topic, configs); err != nil {
		return fmt.Errorf("embedded kafka: %w", err)
	}
	return nil
}

// dirBytes returns the bytes of the regular files under dir. A file
// deleted while it walks (a segment trimmed) counts for nothing.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			var info fs.FileInfo
			if info, err = d.Info(); err == nil {
				n += info.Size()
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
	return n, err
}
