package tracelog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Retention trims the log to Config.LogRetention. Every LogTrimInterval it
// moves the start of each partition past the records older than that, but
// never past the block-builders' committed offset: a record is deleted
// only once it is in a block, however far behind the builders are. A
// partition the builders never committed is not trimmed at all.
//
// The broker's own retention (the topic's retention.ms and
// retention.bytes) deletes records whether or not the builders committed
// them. Retention reports what that costs: records of the log the builders
// have not committed that are already past the topic's retention.ms, and
// records deleted before the builders committed them (lost: their spans
// never reach a block).
//
// Several Retentions may trim one log (one per compactor): each moves a
// partition's start only forward, to where any of them would.
type Retention struct {
	cfg         Config
	blocksGroup string
	logger      *slog.Logger
	m           retentionMetrics

	// lostThrough is, per partition, the log start up to which records
	// deleted before the builders committed them are counted as lost, so
	// that each is counted once.
	lostThrough map[int32]int64
	// reported holds the conditions that are logged once when they
	// start (the first pass reports those of the startup), and once
	// when they end, rather than at every pass.
	reported map[string]bool
}

// NewRetention returns the retention of the log cfg describes. blocksGroup
// is the block-builders' consumer group, whose committed offsets bound what
// may be deleted.
func NewRetention(cfg Config, blocksGroup string, logger *slog.Logger, reg prometheus.Registerer) (*Retention, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if blocksGroup == "" {
		return nil, errors.New("log retention: no block-builder consumer group")
	}
	r := &Retention{
		cfg:         cfg,
		blocksGroup: blocksGroup,
		logger:      logger,
		m:           newRetentionMetrics(reg),
		lostThrough: make(map[int32]int64),
		reported:    make(map[string]bool),
	}
	r.m.retention.Set(cfg.LogRetention.Seconds())
	return r, nil
}

// Run trims the log every LogTrimInterval until ctx ends.
func (r *Retention) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(r.cfg.ClientOpts("spanlog-log-retention")...)
	if err != nil {
		return fmt.Errorf("log retention kafka client: %w", err)
	}
	defer cl.Close()
	for {
		if err := r.Trim(ctx, cl); err != nil && ctx.Err() == nil {
			r.logger.Warn("trimming the log failed; retrying", "retry_in", r.cfg.LogTrimInterval, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.LogTrimInterval):
		}
	}
}

// Trim trims the log once, through cl, and publishes where each partition
// starts and ends. It must not run concurrently with itself.
func (r *Retention) Trim(ctx context.Context, cl *kgo.Client) error {
	if err := r.trim(ctx, cl); err != nil {
		r.m.failures.Inc()
		return err
	}
	r.m.lastTrim.SetToCurrentTime()
	return nil
}

func (r *Retention) trim(ctx context.Context, cl *kgo.Client) error {
	adm := kadm.NewClient(cl)
	now := time.Now()
	topicRetention := r.topicRetention(ctx, adm)

	// The starts are read before the commits: a start another
	// Retention moved since was then below a commit at least as far as
	// the one read here, so a start above a commit read here was moved
	// by something else, which is what counts as lost.
	starts, err := StartOffsets(ctx, cl, r.cfg.Topic)
	if err != nil {
		return err
	}
	ends, err := EndOffsets(ctx, cl, r.cfg.Topic)
	if err != nil {
		return err
	}
	committed, err := CommittedOffsets(ctx, cl, r.blocksGroup, r.cfg.Topic)
	if err != nil {
		return err
	}
	old, err := r.offsetsAfter(ctx, adm, now.Add(-r.cfg.LogRetention))
	if err != nil {
		return err
	}
	var expired map[int32]int64 // past the topic's own retention
	if topicRetention >= 0 {
		if expired, err = r.offsetsAfter(ctx, adm, now.Add(-topicRetention)); err != nil {
			return err
		}
	}

	var deletes kadm.Offsets
	var pastTopicRetention int64
	for p, start := range starts {
		part := strconv.Itoa(int(p))
		r.m.start.WithLabelValues(part).Set(float64(start))
		r.m.end.WithLabelValues(part).Set(float64(ends[p]))
		c, ok := committed[p]
		if !ok {
			continue
		}
		r.m.committed.WithLabelValues(part).Set(float64(c))
		r.countLost(p, start, c)
		if e, ok := expired[p]; ok {
			n := max(0, e-max(c, start))
			r.m.pastTopicRetention.WithLabelValues(part).Set(float64(n))
			pastTopicRetention += n
		}
		// The last record stays: a partition trimmed of every record
		// keeps its end offset only in the broker's memory, and the
		// embedded broker, killed with -9, starts it again at 0. Offsets
		// used again would be taken for records the blocks already hold.
		if to, ok := old[p]; ok && min(to, c, ends[p]-1) > start {
			deletes.Add(kadm.Offset{Topic: r.cfg.Topic, Partition: p, At: min(to, c, ends[p]-1)})
		}
	}
	r.report("past-topic-retention", pastTopicRetention > 0,
		"the block-builders are further behind than the topic's retention.ms: the broker deletes records they have not committed, whose spans then never reach a block",
		"records", pastTopicRetention, "retention.ms", topicRetention.Milliseconds(), "group", r.blocksGroup)
	return r.delete(ctx, adm, deletes, starts)
}

// delete moves the partitions' starts to deletes, and counts the records
// trimmed.
func (r *Retention) delete(ctx context.Context, adm *kadm.Client, deletes kadm.Offsets, starts map[int32]int64) error {
	if len(deletes) == 0 {
		return nil
	}
	resp, err := adm.DeleteRecords(ctx, deletes)
	if err != nil {
		return fmt.Errorf("delete records of %s: %w", r.cfg.Topic, err)
	}
	var errs []error
	var trimmed int64
	resp.Each(func(d kadm.DeleteRecordsResponse) {
		switch {
		case errors.Is(d.Err, kerr.OffsetOutOfRange):
			// Below the start: another Retention trimmed further
			// meanwhile. The next pass reads the new start.
		case d.Err != nil:
			errs = append(errs, fmt.Errorf("partition %d: %w", d.Partition, d.Err))
		default:
			part := strconv.Itoa(int(d.Partition))
			n := max(0, d.LowWatermark-starts[d.Partition])
			r.m.trimmed.WithLabelValues(part).Add(float64(n))
			r.m.start.WithLabelValues(part).Set(float64(d.LowWatermark))
			trimmed += n
		}
	})
	r.logger.Debug("log trimmed", "records", trimmed)
	if len(errs) > 0 {
		return fmt.Errorf("delete records of %s: %w", r.cfg.Topic, errors.Join(errs...))
	}
	return nil
}

// countLost counts the records of partition p deleted before the builders
// committed them: those between their commit and the partition's start.
func (r *Retention) countLost(p int32, start, committed int64) {
	from := max(committed, r.lostThrough[p])
	if start <= from {
		return
	}
	r.m.lost.WithLabelValues(strconv.Itoa(int(p))).Add(float64(start - from))
	r.lostThrough[p] = start
	r.logger.Error("records were deleted from the log before the block-builders committed them: their spans are lost",
		"partition", p, "records", start-from, "committed", committed, "log_start", start, "group", r.blocksGroup)
}

// topicRetention reads the topic's retention configs, publishes its
// retention.ms, and reports those that delete records before Retention
// would. It returns the topic's retention.ms, or -1 when it is unlimited
// or cannot be read.
func (r *Retention) topicRetention(ctx context.Context, adm *kadm.Client) time.Duration {
	configs, err := adm.DescribeTopicConfigs(ctx, r.cfg.Topic)
	var rc kadm.ResourceConfig
	if err == nil {
		rc, err = configs.On(r.cfg.Topic, nil)
	}
	if err == nil {
		err = rc.Err
	}
	r.report("describe-configs", err != nil,
		"cannot read the topic's configs to check its retention", "topic", r.cfg.Topic, "err", err)
	if err != nil {
		return -1
	}
	retentionMs, bytes := int64(-1), int64(-1)
	for _, c := range rc.Configs {
		v, perr := strconv.ParseInt(c.MaybeValue(), 10, 64)
		switch {
		case perr != nil:
		case c.Key == "retention.ms":
			retentionMs = v
		case c.Key == "retention.bytes":
			bytes = v
		}
	}
	retention := time.Duration(retentionMs) * time.Millisecond
	if retentionMs < 0 {
		retention = -1
		r.m.topicRetention.Set(math.Inf(1))
	} else {
		r.m.topicRetention.Set(retention.Seconds())
	}
	r.report("topic-retention-short", retention >= 0 && retention < r.cfg.LogRetention,
		"the topic's retention.ms is shorter than kafka.log-retention: the broker deletes records sooner, whether or not the block-builders have committed them",
		"topic", r.cfg.Topic, "retention.ms", retentionMs, "log_retention", r.cfg.LogRetention)
	r.report("topic-retention-bytes", bytes >= 0,
		"the topic has a retention.bytes: past it the broker deletes the oldest records, whether or not the block-builders have committed them",
		"topic", r.cfg.Topic, "retention.bytes", bytes)
	return retention
}

// offsetsAfter is OffsetsAfter of the trace log.
func (r *Retention) offsetsAfter(ctx context.Context, adm *kadm.Client, t time.Time) (map[int32]int64, error) {
	return offsetsAfter(ctx, adm, r.cfg.Topic, t)
}

// report logs a condition of the log as a warning when it starts to hold,
// and once more when it ends.
func (r *Retention) report(condition string, holds bool, msg string, args ...any) {
	switch {
	case holds && !r.reported[condition]:
		r.logger.Warn(msg, args...)
	case !holds && r.reported[condition]:
		r.logger.Info("no longer: "+msg, "topic", r.cfg.Topic)
	}
	r.reported[condition] = holds
}

// retentionMetrics are Retention's view of the log, per partition where it
// says partition.
type retentionMetrics struct {
	start, end, committed *prometheus.GaugeVec
	pastTopicRetention    *prometheus.GaugeVec
	trimmed, lost         *prometheus.CounterVec
	retention             prometheus.Gauge
	topicRetention        prometheus.Gauge
	lastTrim              prometheus.Gauge
	failures              prometheus.Counter
}

func newRetentionMetrics(reg prometheus.Registerer) retentionMetrics {
	partition := []string{"partition"}
	m := retentionMetrics{
		start: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_log_start_offset",
			Help: "First offset the log still holds.",
		}, partition),
		end: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_log_end_offset",
			Help: "Offset the next record will get.",
		}, partition),
		committed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_log_committed_offset",
			Help: "Offset the block-builders committed: every record below it is in blocks. Above the log start, records the builders never read were deleted.",
		}, partition),
		pastTopicRetention: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_log_uncommitted_past_topic_retention_records",
			Help: "Records the block-builders have not committed that are older than the topic's retention.ms: the broker deletes them, and their spans never reach a block.",
		}, partition),
		trimmed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_log_trimmed_records_total",
			Help: "Records deleted from the log by spanlog's retention, all of them committed by the block-builders.",
		}, partition),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_log_lost_records_total",
			Help: "Records deleted from the log (by the broker's retention or anything else) before the block-builders committed them.",
		}, partition),
		retention: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spanlog_log_retention_seconds",
			Help: "kafka.log-retention: how long committed records stay in the log.",
		}),
		topicRetention: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spanlog_log_topic_retention_seconds",
			Help: "The topic's retention.ms, in seconds (+Inf when unlimited): the broker deletes older records, committed or not.",
		}),
		lastTrim: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spanlog_log_last_trim_timestamp_seconds",
			Help: "When the log was last trimmed without an error.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_log_trim_failures_total",
			Help: "Passes of the log's retention that failed and will be retried.",
		}),
	}
	reg.MustRegister(m.start, m.end, m.committed, m.pastTopicRetention, m.trimmed, m.lost,
		m.retention, m.topicRetention, m.lastTrim, m.failures)
	return m
}
