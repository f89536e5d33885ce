package tracelog_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/promtest"
	"github.com/spanlog/spanlog/tracelog"
)

const buildersGroup = "builders"

// retentionSetup is a log on kfake, a client of it, and a Retention of it
// with its registry and log lines.
type retentionSetup struct {
	kafka *kafkatest.Cluster
	cfg   tracelog.Config
	cl    *kgo.Client
	ret   *tracelog.Retention
	reg   *prometheus.Registry
	lines *logtest.Buffer
}

// newRetentionSetup starts kfake with a log of partitions and a Retention
// of it keeping an hour. create, when set, creates the topic instead of
// tracelog.EnsureTopic, as an operator would.
func newRetentionSetup(t *testing.T, partitions int32, create func(*kgo.Client, tracelog.Config)) *retentionSetup {
	t.Helper()
	s := &retentionSetup{kafka: kafkatest.New(t), reg: prometheus.NewRegistry(), lines: &logtest.Buffer{}}
	s.cfg = tracelog.DefaultConfig()
	s.cfg.Brokers, s.cfg.Topic, s.cfg.Partitions = s.kafka.Brokers(), kafkatest.Topic, partitions
	s.cfg.LogRetention = time.Hour
	cl, err := kgo.NewClient(append(s.cfg.ClientOpts("test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	s.cl = cl
	if create != nil {
		create(cl, s.cfg)
	} else if _, err := tracelog.EnsureTopic(t.Context(), cl, s.cfg); err != nil {
		t.Fatal(err)
	}
	if s.ret, err = tracelog.NewRetention(s.cfg, buildersGroup, s.lines.Logger(), s.reg); err != nil {
		t.Fatal(err)
	}
	return s
}

// produce writes n records to partition p, stamped at ts.
func (s *retentionSetup) produce(t *testing.T, p int32, n int, ts time.Time) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: s.cfg.Topic, Partition: p, Timestamp: ts, Value: []byte("r" + strconv.Itoa(i))}
	}
	if err := s.cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// commit commits the builders' group at offset of each partition.
func (s *retentionSetup) commit(t *testing.T, offsets map[int32]int64) {
	t.Helper()
	var os kadm.Offsets
	for p, at := range offsets {
		os.Add(kadm.Offset{Topic: s.cfg.Topic, Partition: p, At: at, LeaderEpoch: -1})
	}
	resp, err := kadm.NewClient(s.cl).CommitOffsets(t.Context(), buildersGroup, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (s *retentionSetup) trim(t *testing.T) {
	t.Helper()
	if err := s.ret.Trim(t.Context(), s.cl); err != nil {
		t.Fatal(err)
	}
}

// wantStarts checks the log starts of the partitions, as Kafka lists them
// and as the metrics say.
func (s *retentionSetup) wantStarts(t *testing.T, want map[int32]int64) {
	t.Helper()
	starts, err := tracelog.StartOffsets(t.Context(), s.cl, s.cfg.Topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, w := range want {
		if starts[p] != w {
			t.Errorf("partition %d starts at %d, want %d", p, starts[p], w)
		}
		if got := promtest.Value(t, s.reg, "spanlog_log_start_offset", "partition", strconv.Itoa(int(p))); got != float64(w) {
			t.Errorf("spanlog_log_start_offset{partition=%d} = %v, want %d", p, got, w)
		}
	}
}

func TestRetentionDeletesOnlyCommittedRecordsOlderThanRetention(t *testing.T) {
	s := newRetentionSetup(t, 4, nil)
	now := time.Now()
	old, ancient := now.Add(-2*time.Hour), now.Add(-30*24*time.Hour)
	s.produce(t, 0, 10, old) // committed past the old records
	s.produce(t, 0, 10, now)
	s.produce(t, 1, 10, old) // committed within the old records
	s.produce(t, 1, 10, now)
	s.produce(t, 2, 10, ancient) // never committed
	s.produce(t, 3, 10, ancient) // committed within records far older than any retention
	s.commit(t, map[int32]int64{0: 15, 1: 5, 3: 3})

	s.trim(t)
	want := map[int32]int64{0: 10, 1: 5, 2: 0, 3: 3}
	s.wantStarts(t, want)
	if got := promtest.Value(t, s.reg, "spanlog_log_trimmed_records_total"); got != 18 {
		t.Errorf("trimmed %v records, want 18", got)
	}

	// However often it runs, nothing uncommitted goes.
	s.trim(t)
	s.trim(t)
	s.wantStarts(t, want)

	// The builders move on: so does the start, as far as the records
	// older than retention, but never past a partition's last record,
	// so that its end outlives a restart of the broker.
	s.commit(t, map[int32]int64{1: 20, 2: 4, 3: 10})
	s.trim(t)
	s.wantStarts(t, map[int32]int64{0: 10, 1: 10, 2: 4, 3: 9})
	if got := promtest.Value(t, s.reg, "spanlog_log_trimmed_records_total"); got != 18+5+4+6 {
		t.Errorf("trimmed %v records, want %d", got, 18+5+4+6)
	}
	if got := promtest.Value(t, s.reg, "spanlog_log_end_offset", "partition", "1"); got != 20 {
		t.Errorf("spanlog_log_end_offset{partition=1} = %v, want 20", got)
	}
	if got := promtest.Value(t, s.reg, "spanlog_log_lost_records_total"); got != 0 {
		t.Errorf("%v records counted lost, want none", got)
	}
	// Only the ancient records the builders have not committed are
	// at risk, from the broker's own retention (log-retention plus its
	// margin), which is said once.
	if n := strings.Count(s.lines.String(), "level="); n != 1 || !strings.Contains(s.lines.String(), "further behind than the topic's retention.ms") {
		t.Errorf("want one warning, of records past the topic's retention:\n%s", s.lines)
	}
}

// A topic whose own retention is shorter than the builders' lag, or than
// log-retention, is reported; records it deletes before the builders
// committed them are counted lost.
func TestRetentionReportsATopicRetentionThatOvertakesTheBuilders(t *testing.T) {
	s := newRetentionSetup(t, 1, func(cl *kgo.Client, cfg tracelog.Config) {
		configs := map[string]*string{"retention.ms": kadm.StringPtr("600000"), "retention.bytes": kadm.StringPtr("1000000000")}
		if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 1, 1, configs, cfg.Topic); err != nil {
			t.Fatal(err)
		}
	})
	s.produce(t, 0, 10, time.Now().Add(-20*time.Minute))
	s.produce(t, 0, 10, time.Now())
	s.commit(t, map[int32]int64{0: 2})

	s.trim(t)
	s.wantStarts(t, map[int32]int64{0: 0}) // nothing is older than log-retention
	if got := promtest.Value(t, s.reg, "spanlog_log_topic_retention_seconds"); got != 600 {
		t.Errorf("spanlog_log_topic_retention_seconds = %v, want 600", got)
	}
	if got := promtest.Value(t, s.reg, "spanlog_log_retention_seconds"); got != 3600 {
		t.Errorf("spanlog_log_retention_seconds = %v, want 3600", got)
	}
	if got := promtest.Value(t, s.reg, "spanlog_log_uncommitted_past_topic_retention_records", "partition", "0"); got != 8 {
		t.Errorf("uncommitted records past the topic's retention = %v, want 8", got)
	}
	for _, want := range []string{
		"the topic's retention.ms is shorter than kafka.log-retention",
		"the topic has a retention.bytes",
		"the block-builders are further behind than the topic's retention.ms",
	} {
		if n := strings.Count(s.lines.String(), want); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", want, n, s.lines)
		}
	}

	// The broker's retention runs: what the builders had not committed
	// is gone, and counted once however often the log is trimmed.
	s.kafka.ApplyRetention()
	s.trim(t)
	s.trim(t)
	s.wantStarts(t, map[int32]int64{0: 10})
	if got := promtest.Value(t, s.reg, "spanlog_log_lost_records_total", "partition", "0"); got != 8 {
		t.Errorf("lost %v records, want 8", got)
	}
	if got := promtest.Value(t, s.reg, "spanlog_log_committed_offset", "partition", "0"); got != 2 {
		t.Errorf("spanlog_log_committed_offset = %v, want 2", got)
	}
	if got := promtest.Value(t, s.reg, "spanlog_log_uncommitted_past_topic_retention_records", "partition", "0"); got != 0 {
		t.Errorf("uncommitted records past the topic's retention = %v once deleted, want 0", got)
	}
	if n := strings.Count(s.lines.String(), "before the block-builders committed them"); n != 1 {
		t.Errorf("loss logged %d times, want once:\n%s", n, s.lines)
	}
	// Each warning was logged once, when it started; the last has ended.
	if n := strings.Count(s.lines.String(), "the topic's retention.ms is shorter"); n != 1 {
		t.Errorf("short retention logged %d times, want once", n)
	}
	if !strings.Contains(s.lines.String(), "no longer: the block-builders are further behind") {
		t.Errorf("the end of the overtaking is not logged:\n%s", s.lines)
	}
}

func TestEnsureTopicGivesTheTopicItsConfigs(t *testing.T) {
	for _, tc := range []struct {
		brokers     int
		replication int16
		minInsync   string
	}{
		{1, -1, "1"},
		{3, -1, "2"}, // kfake's default replication factor is 3
		{3, 2, "1"},
		{3, 3, "2"},
	} {
		t.Run(strconv.Itoa(tc.brokers)+"brokers,rf"+strconv.Itoa(int(tc.replication)), func(t *testing.T) {
			kafka := kafkatest.New(t, kfake.NumBrokers(tc.brokers))
			cfg := tracelog.DefaultConfig()
			cfg.Brokers, cfg.Topic, cfg.ReplicationFactor = kafka.Brokers(), kafkatest.Topic, tc.replication
			cfg.LogRetention, cfg.LogRetentionMargin = 90*time.Second, 30*time.Second
			cl, err := kgo.NewClient(cfg.ClientOpts("test")...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if n, err := tracelog.EnsureTopic(t.Context(), cl, cfg); err != nil || n != cfg.Partitions {
				t.Fatalf("EnsureTopic = %d, %v; want %d partitions", n, err, cfg.Partitions)
			}
			got := topicConfigs(t.Context(), t, cl, cfg.Topic)
			if got["retention.ms"] != "120000" || got["min.insync.replicas"] != tc.minInsync {
				t.Errorf("retention.ms %s, min.insync.replicas %s; want 120000, %s", got["retention.ms"], got["min.insync.replicas"], tc.minInsync)
			}

			// An existing topic keeps its own configs.
			cfg.LogRetention = time.Hour
			if n, err := tracelog.EnsureTopic(t.Context(), cl, cfg); err != nil || n != cfg.Partitions {
				t.Fatalf("EnsureTopic of an existing topic = %d, %v", n, err)
			}
			if got := topicConfigs(t.Context(), t, cl, cfg.Topic)["retention.ms"]; got != "120000" {
				t.Errorf("retention.ms of an existing topic changed to %s", got)
			}
		})
	}
}

func topicConfigs(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) map[string]string {
	t.Helper()
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, c := range rc.Configs {
		out[c.Key] = c.MaybeValue()
	}
	return out
}
