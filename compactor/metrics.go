package compactor

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/schema"
)

type metrics struct {
	indexWrites        prometheus.Counter
	indexFailures      prometheus.Counter
	compactions        *prometheus.CounterVec
	compactionFailures prometheus.Counter
	compactedBlocks    prometheus.Counter
	compactedBytes     prometheus.Counter
	compactionDuration prometheus.Histogram
	setAside           prometheus.Gauge
	deleted            *prometheus.CounterVec
	uploadsRemoved     prometheus.Counter
	cleanupFailures    prometheus.Counter
	cycleFailures      prometheus.Counter
	stats              *blockStats
}

func newMetrics(reg prometheus.Registerer, own *ownership) *metrics {
	m := &metrics{
		indexWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_compactor_index_writes_total",
			Help: "Tenant indexes written.",
		}),
		indexFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_compactor_index_failures_total",
			Help: "Index rebuilds that failed and will be retried: of every tenant (commits or tenants not read), or of one (its blocks not listed, its index not written).",
		}),
		compactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_compactor_compactions_total",
			Help: "Blocks written by merging others, by the level of the block written.",
		}, []string{"level"}),
		compactionFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_compactor_compaction_failures_total",
			Help: "Compactions that failed; their inputs are merged in smaller jobs, and set aside for a while after three failures in a row.",
		}),
		compactedBlocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_compactor_compacted_blocks_total",
			Help: "Blocks merged into others.",
		}),
		compactedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_compactor_compacted_bytes_total",
			Help: "Bytes of the blocks merged into others.",
		}),
		compactionDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_compactor_compaction_duration_seconds",
			Help:    "Time to merge blocks into one, from the first read to the meta written.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}),
		setAside: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spanlog_compactor_blocks_set_aside",
			Help: "Blocks left out of compactions for now because their jobs failed three times in a row; they are read as before.",
		}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_compactor_blocks_deleted_total",
			Help: "Blocks deleted, by reason: compacted (merged into another), retention, leftover (objects of a block without a meta).",
		}, []string{"reason"}),
		uploadsRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_compactor_abandoned_uploads_removed_total",
			Help: "Uploads a crash left unfinished that were removed: S3 multipart uploads, or a directory's temporary files.",
		}),
		cleanupFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_compactor_cleanup_failures_total",
			Help: "Deletions that failed and will be tried again.",
		}),
		cycleFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanlog_compactor_cycle_failures_total",
			Help: "Turns of compaction skipped because the bucket could not be listed or the block-builders' commits read.",
		}),
		stats: newBlockStats(),
	}
	for _, reason := range []string{reasonCompacted, reasonRetention, reasonLeftover} {
		m.deleted.WithLabelValues(reason)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "spanlog_compactor_partitions",
		Help: "Partitions whose blocks this compactor compacts and deletes, as the compactors' group assigned them.",
	}, func() float64 { return float64(len(own.owned())) }))
	reg.MustRegister(m.indexWrites, m.indexFailures, m.compactions, m.compactionFailures,
		m.compactedBlocks, m.compactedBytes, m.compactionDuration, m.setAside, m.deleted, m.uploadsRemoved,
		m.cleanupFailures, m.cycleFailures, m.stats)
	return m
}

func levelLabel(level int) string { return strconv.Itoa(level) }

// tenantStats sums up the blocks of a tenant readers read, in the
// partitions a compactor holds.
type tenantStats struct {
	blocks, bytes map[int]int64 // by compaction level
	oldestEnd     time.Time     // the earliest MaxEnd of its blocks
}

// blockStats reports the last tenantStats of a compactor: each scrape
// sees the whole of one turn of the compaction loop.
type blockStats struct {
	blocks, bytes, oldest *prometheus.Desc

	mu       sync.Mutex
	byTenant map[string]*tenantStats
}

func newBlockStats() *blockStats {
	return &blockStats{
		blocks: prometheus.NewDesc("spanlog_compactor_blocks",
			"Blocks readers read, by tenant and compaction level, in the partitions this compactor holds; sum over compactors.",
			[]string{"tenant", "level"}, nil),
		bytes: prometheus.NewDesc("spanlog_compactor_block_bytes",
			"Bytes of the blocks readers read, by tenant and compaction level, in the partitions this compactor holds; sum over compactors.",
			[]string{"tenant", "level"}, nil),
		oldest: prometheus.NewDesc("spanlog_compactor_oldest_block_age_seconds",
			"Time since the last span of the tenant's oldest block ended, in the partitions this compactor holds; retention keeps it below the tenant's block retention plus the deletion grace. Take the max over compactors.",
			[]string{"tenant"}, nil),
	}
}

func (s *blockStats) set(byTenant map[string]*tenantStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byTenant = byTenant
}

func (s *blockStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.blocks
	ch <- s.bytes
	ch <- s.oldest
}

func (s *blockStats) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tenant, ts := range s.byTenant {
		for level, n := range ts.blocks {
			ch <- prometheus.MustNewConstMetric(s.blocks, prometheus.GaugeValue, float64(n), tenant, levelLabel(level))
			ch <- prometheus.MustNewConstMetric(s.bytes, prometheus.GaugeValue, float64(ts.bytes[level]), tenant, levelLabel(level))
		}
		if !ts.oldestEnd.IsZero() {
			ch <- prometheus.MustNewConstMetric(s.oldest, prometheus.GaugeValue, time.Since(ts.oldestEnd).Seconds(), tenant)
		}
	}
}

// blockStats sums up the blocks of tenants readers read in the
// partitions owned.
func (c *Compactor) blockStats(tenants []string, owned []int32) map[string]*tenantStats {
	held := make(map[int32]bool, len(owned))
	for _, p := range owned {
		held[p] = true
	}
	out := make(map[string]*tenantStats)
	for _, tenant := range tenants {
		var ts *tenantStats
		for _, m := range c.blocklist.Metas(tenant) {
			if !heldBlock(m, held) {
				continue
			}
			if ts == nil {
				ts = &tenantStats{blocks: make(map[int]int64), bytes: make(map[int]int64), oldestEnd: m.MaxEnd}
				out[tenant] = ts
			}
			ts.blocks[m.CompactionLevel]++
			ts.bytes[m.CompactionLevel] += m.Size
			if m.MaxEnd.Before(ts.oldestEnd) {
				ts.oldestEnd = m.MaxEnd
			}
		}
	}
	return out
}

// heldBlock reports whether block m is in a partition of held.
func heldBlock(m *schema.BlockMeta, held map[int32]bool) bool {
	return len(m.KafkaRanges) > 0 && held[m.KafkaRanges[0].Partition]
}
