// Package tracelog is spanlog's handle on the trace log: the Kafka topic that
// is the source of truth. It owns how to reach the cluster, the topic's
// creation and configs, the offsets of the log and of a consumer group
// (offsets.go), what every reader of the log reports (Lag, Skipped), and
// the log's retention (Retention). It does not own the records' format,
// which is schema's, nor what is done with records: writing them is the
// producer's, and each reader (blockbuilder, querier) runs its own
// consumer loop.
package tracelog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/schema"
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
	// LogRetention is how long a record stays in the log once the
	// block-builders have committed it: Retention deletes the records
	// older than this, and never one the builders have not committed.
	// Default 24h.
	LogRetention time.Duration `yaml:"log-retention" help:"Records older than this are deleted from the log once the block-builders have committed them."`
	// LogRetentionMargin is added to LogRetention to make the retention.ms
	// of a topic spanlog creates, and of the embedded one. That is the
	// broker's own retention, which deletes records whether or not the
	// builders committed them: it bounds the log where no Retention runs,
	// and costs the records of builders stalled longer than
	// log-retention plus this margin. Default 24h.
	LogRetentionMargin time.Duration `yaml:"log-retention-margin" help:"Added to log-retention for the retention.ms of a topic spanlog creates: how long block-builders may stall past log-retention before the broker deletes records they have not committed."`
	// LogTrimInterval is how often Retention trims the log. Default 1m.
	LogTrimInterval time.Duration `yaml:"log-trim-interval" help:"How often the compactor trims the log to log-retention."`
	// ForeignTenantHeader names the record header, matched without
	// regard to case, that gives the tenant of a record another writer
	// than spanlog put in the topic (an OpenTelemetry Collector's kafka
	// exporter, with record_headers or include_metadata_keys); such a
	// record without it, or with it empty, belongs to the default tenant
	// (schema.RecordTenancy). It needs multi-tenancy: without it every
	// query reads the default tenant alone. Default "": every foreign
	// record is the default tenant's.
	ForeignTenantHeader string `yaml:"foreign-tenant-header" help:"Record header naming the tenant of records other writers (an OpenTelemetry Collector's kafka exporter) put in the topic; without it they belong to the default tenant (empty: always the default tenant)."`
	// Compression is the codec the distributor compresses its record
	// batches with: none, snappy, lz4 or zstd. Readers decompress
	// whatever batches they fetch, so it may change at any time, and
	// the log may hold batches of several. Snappy cost the least CPU of
	// all, none included, even with the embedded Kafka in the same
	// process: the bytes it saves cost more to write, sync, fetch and
	// collect than compressing them does; zstd stores a fifth less than
	// snappy for a third more CPU (docs/design.md, "The log's
	// compression"). Empty means snappy. Default snappy.
	Compression string `yaml:"compression" help:"Codec of the record batches the distributor writes: none, snappy, lz4 or zstd."`
}

// Tenancy returns whom the records of the log belong to when they name no
// tenant in spanlog's own header.
func (c Config) Tenancy(defaultTenant string) schema.RecordTenancy {
	return schema.RecordTenancy{Default: defaultTenant, ForeignHeader: c.ForeignTenantHeader}
}

// DefaultConfig returns the configuration of the embedded log.
func DefaultConfig() Config {
	return Config{
		Brokers:            []string{"127.0.0.1:9092"},
		Topic:              "spanlog-traces",
		Partitions:         8,
		ReplicationFactor:  -1,
		DialTimeout:        5 * time.Second,
		LogRetention:       24 * time.Hour,
		LogRetentionMargin: 24 * time.Hour,
		LogTrimInterval:    time.Minute,
		Compression:        CompressionSnappy,
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
	case c.LogRetention < time.Millisecond:
		return fmt.Errorf("kafka: log-retention must be at least 1ms, got %v", c.LogRetention)
	case c.LogRetentionMargin < 0:
		return fmt.Errorf("kafka: log-retention-margin must not be negative, got %v", c.LogRetentionMargin)
	case c.LogTrimInterval <= 0:
		return fmt.Errorf("kafka: log-trim-interval must be positive, got %v", c.LogTrimInterval)
	}
	return checkCompression(c.Compression)
}

// ClientOpts returns the options every spanlog client starts from.
func (c Config) ClientOpts(clientID string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(clientID),
		kgo.DialTimeout(c.DialTimeout),
	}
}

// EnsureTopic creates the topic if it does not exist, with the configs of
// TopicConfigs, and returns its partition count. An existing topic is left
// as it is: its configs are its operator's (Retention reports those that
// put records at risk).
func EnsureTopic(ctx context.Context, cl *kgo.Client, c Config) (int32, error) {
	adm := kadm.NewClient(cl)
	// A validation first, to learn the replication factor the broker
	// would give the topic, which the topic's min.insync.replicas
	// depends on, and whether it exists.
	validated, err := adm.ValidateCreateTopics(ctx, c.Partitions, c.ReplicationFactor, nil, c.Topic)
	valid, ok := validated[c.Topic]
	if err == nil && !ok {
		err = errors.New("no answer for the topic")
	}
	if err == nil {
		err = valid.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return Partitions(ctx, cl, c.Topic)
	}
	if err != nil {
		return 0, fmt.Errorf("create topic %s: %w", c.Topic, err)
	}
	rf := c.ReplicationFactor
	if rf < 0 {
		rf = valid.ReplicationFactor
	}
	_, err = adm.CreateTopic(ctx, c.Partitions, c.ReplicationFactor, c.TopicConfigs(rf), c.Topic)
	if errors.Is(err, kerr.TopicAlreadyExists) { // created meanwhile by another process
		return Partitions(ctx, cl, c.Topic)
	}
	if err != nil {
		return 0, fmt.Errorf("create topic %s: %w", c.Topic, err)
	}
	return c.Partitions, nil
}

// TopicConfigs returns the configs of a topic spanlog creates with
// replicationFactor replicas:
//
//   - retention.ms: LogRetention plus LogRetentionMargin. Retention trims
//     the log precisely, below the block-builders' commits; the broker's
//     retention is the backstop for when Retention does not run.
//   - min.insync.replicas: 2 from 3 replicas up, so that an acked record
//     (acks=all) is on two brokers; 1 below, since with 2 replicas a
//     minimum of 2 would refuse every write while either broker is down.
//
// A replication factor unknown (below 1) gets no min.insync.replicas: the
// broker's default applies.
func (c Config) TopicConfigs(replicationFactor int16) map[string]*string {
	configs := map[string]*string{
		"retention.ms": kadm.StringPtr(strconv.FormatInt((c.LogRetention + c.LogRetentionMargin).Milliseconds(), 10)),
	}
	if replicationFactor >= 1 {
		configs["min.insync.replicas"] = kadm.StringPtr(strconv.Itoa(minInsyncReplicas(replicationFactor)))
	}
	return configs
}

// minInsyncReplicas is the min.insync.replicas spanlog gives a topic of
// replicationFactor replicas: 2 when there are 3 or more, else 1.
func minInsyncReplicas(replicationFactor int16) int {
	if replicationFactor >= 3 {
		return 2
	}
	return 1
}

// AlterTopicConfigs sets configs on topic, leaving its other configs as
// they are.
func AlterTopicConfigs(ctx context.Context, cl *kgo.Client, topic string, configs map[string]*string) error {
	alter := make([]kadm.AlterConfig, 0, len(configs))
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: configs[name]})
	}
	resp, err := kadm.NewClient(cl).AlterTopicConfigs(ctx, alter, topic)
	if err == nil {
		_, err = resp.On(topic, nil)
	}
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("set configs of topic %s: %w", topic, err)
	}
	return nil
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
