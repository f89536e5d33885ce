// Package tracelog is spanlog's handle on the trace log: the Kafka topic that
// is the source of truth. It owns how to reach the cluster, the topic's
// creation, and offset look-ups shared by writers and readers. The records'
// format is schema's; writing is the producer's and reading the consumer's.
package tracelog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config says where the log is.
type Config struct {
	// Brokers are the seed brokers. Default 127.0.0.1:9092.
	Brokers []string `yaml:"brokers" help:"Kafka seed brokers."`
	// Topic is the topic of trace records. Default spanlog-traces.
	Topic string `yaml:"topic" help:"Kafka topic that holds the trace log."`
	// Partitions is the partition count the topic is created with if it is
	// missing; an existing topic keeps its own. Default 8.
	Partitions int32 `yaml:"partitions" help:"Partitions of the topic when spanlog creates it."`
	// ReplicationFactor of a created topic; -1 means the broker default.
	// Default -1.
	ReplicationFactor int16 `yaml:"replication-factor" help:"Replication factor of the topic when spanlog creates it (-1: broker default)."`
	// DialTimeout bounds connecting to a broker. Default 5s.
	DialTimeout time.Duration `yaml:"dial-timeout" help:"Timeout to connect to a broker."`
}

// DefaultConfig returns the configuration of the embedded log.
func DefaultConfig() Config {
	return Config{
		Brokers:           []string{"127.0.0.1:9092"},
		Topic:             "spanlog-traces",
		Partitions:        8,
		ReplicationFactor: -1,
		DialTimeout:       5 * time.Second,
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("kafka: no brokers")
	case c.Topic == "":
		return errors.New("kafka: no topic")
	case c.Partitions <= 0:
		return fmt.Errorf("kafka: partitions must be positive, got %d", c.Partitions)
	}
	return nil
}

// ClientOpts returns the options every spanlog client starts from.
func (c Config) ClientOpts(clientID string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(clientID),
		kgo.DialTimeout(c.DialTimeout),
	}
}

// EnsureTopic creates the topic if it does not exist and returns its
// partition count.
func EnsureTopic(ctx context.Context, cl *kgo.Client, c Config) (int32, error) {
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, c.Partitions, c.ReplicationFactor, nil, c.Topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("create topic %s: %w", c.Topic, err)
	}
	if err == nil && resp.Err == nil {
		return c.Partitions, nil
	}
	return Partitions(ctx, cl, c.Topic)
}

// Partitions returns the partition count of topic.
func Partitions(ctx context.Context, cl *kgo.Client, topic string) (int32, error) {
	topics, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	td, ok := topics[topic]
	if !ok || td.Err != nil {
		return 0, fmt.Errorf("describe topic %s: %v", topic, td.Err)
	}
	return int32(len(td.Partitions)), nil
}

// EndOffsets returns, per partition of topic, the offset the next record
// will get: everything acked so far lies below it.
func EndOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	return listOffsets(ctx, "end", kadm.NewClient(cl).ListEndOffsets, topic)
}

// StartOffsets returns, per partition of topic, the first offset retention
// has kept.
func StartOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	return listOffsets(ctx, "start", kadm.NewClient(cl).ListStartOffsets, topic)
}

func listOffsets(ctx context.Context, which string, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string) (map[int32]int64, error) {
	offs, err := list(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list %s offsets of %s: %w", which, topic, err)
	}
	out := make(map[int32]int64)
	var errs []string
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Sprintf("partition %d: %v", o.Partition, o.Err))
			return
		}
		out[o.Partition] = o.Offset
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("list %s offsets of %s: %s", which, topic, strings.Join(errs, "; "))
	}
	return out, nil
}
