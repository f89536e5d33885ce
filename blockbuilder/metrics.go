package blockbuilder

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spanlog/spanlog/tracelog"
)

type metrics struct {
	lag              *tracelog.Lag
	skipped          *tracelog.Skipped
	recordsConsumed  prometheus.Counter
	blocksFlushed    *prometheus.CounterVec
	flushFailures    prometheus.Counter
	blocksUnwritable prometheus.Counter
	flushesAbandoned prometheus.Counter
	partsDecoded     prometheus.Counter
	flushDuration    prometheus.Histogram
	blockBytes       prometheus.Histogram
	commitFailures   prometheus.Counter
	bufferedBytes    prometheus.Gauge
	pausedPartitions prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, logger *slog.Logger) *metrics {
	m := &metrics{
		lag:     tracelog.NewLag(reg, "block_builder"),
		skipped: tracelog.NewSkipped(reg, "block_builder", logger),
		recordsConsumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_block_builder_records_consumed_total",
			Help: "Records read from the log.",
		}),
		blocksFlushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_block_builder_blocks_flushed_total",
			Help: "Blocks written to object storage.",
		}, []string{"tenant"}),
		flushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_block_builder_flush_failures_total",
			Help: "Block writes that failed on object storage and will be retried.",
		}),
		blocksUnwritable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_block_builder_blocks_unwritable_total",
			Help: "Tenant blocks given up on an error no retry can cure; their spans are in the log only.",
		}),
		flushesAbandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_block_builder_flushes_abandoned_total",
			Help: "Flushes abandoned, uncommitted, after holding a rebalance for half the rebalance timeout.",
		}),
		partsDecoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_block_builder_parts_decoded_total",
			Help: "Parts of tenant blocks decoded and encoded one at a time; a block over block-builder.max-part-bytes takes several.",
		}),
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_block_builder_flush_duration_seconds",
			Help:    "Time to decode, encode and write one block (data and meta) to object storage, waits between retries left out.",
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
		bufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spanlog_block_builder_buffered_bytes",
			Help: "Memory the records read and not yet in blocks take, compressed, against block-builder.max-buffered-bytes.",
		}),
		pausedPartitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spanlog_block_builder_paused_partitions",
			Help: "Owned partitions not read while the records held are over block-builder.max-buffered-bytes.",
		}),
	}
	reg.MustRegister(m.recordsConsumed, m.blocksFlushed, m.flushFailures, m.blocksUnwritable,
		m.flushesAbandoned, m.partsDecoded, m.flushDuration, m.blockBytes, m.commitFailures, m.bufferedBytes, m.pausedPartitions)
	return m
}
