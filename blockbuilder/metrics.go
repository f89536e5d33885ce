package blockbuilder

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spanlog/spanlog/consumer"
)

type metrics struct {
	lag             *consumer.Lag
	recordsConsumed prometheus.Counter
	recordsInvalid  prometheus.Counter
	blocksFlushed   *prometheus.CounterVec
	flushFailures   prometheus.Counter
	flushDuration   prometheus.Histogram
	blockBytes      prometheus.Histogram
	commitFailures  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lag: consumer.NewLag(reg, "block_builder"),
		recordsConsumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_block_builder_records_consumed_total",
			Help: "Records read from the log.",
		}),
		recordsInvalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_block_builder_records_invalid_total",
			Help: "Records skipped because they do not decode as OTLP traces.",
		}),
		blocksFlushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_block_builder_blocks_flushed_total",
			Help: "Blocks written to object storage.",
		}, []string{"tenant"}),
		flushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_block_builder_flush_failures_total",
			Help: "Block writes that failed and will be retried.",
		}),
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_block_builder_flush_duration_seconds",
			Help:    "Time to write one block (data and meta) to object storage.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		blockBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_block_builder_block_size_bytes",
			Help:    "Size of the data object of each block written.",
			Buckets: prometheus.ExponentialBuckets(4<<10, 4, 10),
		}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_block_builder_commit_failures_total",
			Help: "Offset commits that failed; the blocks are rebuilt by whoever replays them.",
		}),
	}
	reg.MustRegister(m.recordsConsumed, m.recordsInvalid, m.blocksFlushed, m.flushFailures,
		m.flushDuration, m.blockBytes, m.commitFailures)
	return m
}
