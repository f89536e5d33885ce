package main

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startEmbeddedKafka starts franz-go's kfake cluster in-process: one broker
// on 127.0.0.1, persisting the log to a data directory with every write
// synced, so acked spans survive a kill -9 of the process.
func startEmbeddedKafka(cfg EmbeddedKafkaConfig, topic string, partitions int32, logger *slog.Logger) (*kfake.Cluster, error) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(cfg.Port),
		kfake.DataDir(cfg.DataDir),
		kfake.SyncWrites(),
		kfake.SeedTopics(partitions, topic),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(cfg.MaxMessageBytes)}),
	)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka: %w", err)
	}
	logger.Info("embedded kafka started", "addrs", c.ListenAddrs(), "dataDir", cfg.DataDir)
	return c, nil
}
