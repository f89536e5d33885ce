// Package blocklist knows which blocks exist in object storage, per tenant,
// by polling: a tenant's index when it is recent enough, a listing when it
// is not. It owns reading the blocklist; the index is written by the
// compactor, and the blocks themselves belong to the block package.
//
// One bad object blinds nothing but itself: a block whose meta cannot be
// used is skipped (and counted), and a tenant that cannot be polled keeps
// the blocks it had while every other tenant is served.
//
// It also decides which of the blocks it knows readers read (Metas): not
// a block another known block supersedes, such as a compaction's input
// once the compaction's block exists, nor one past its tenant's
// retention. Both depend only on the blocks known and the clock, never on
// how far the compactor got deleting them, so every reader gives the same
// answer before, during and after a compaction or a deletion.
package blocklist

import (
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// Blocklist is one process's view of the blocks in a bucket.
type Blocklist struct {
	cfg     Config
	bucket  objstore.Bucket
	opts    Options
	logger  *slog.Logger
	metrics *metrics
	reports reports

	mu      sync.RWMutex
	tenants map[string]*tenantBlocks
	// polled is the need of the last poll that listed the tenants: what a
	// tenant without blocks, which tenants does not hold, is complete to.
	polled map[int32]int64
	pollC  chan struct{} // closed and replaced after each such poll
	loaded chan struct{} // closed when the first such poll completed

	needMu sync.Mutex
	need   map[int32]int64 // what Run's polls must find; see Require
	wake   chan struct{}   // asks Run to poll now
}

// tenantBlocks is what a poll found of one tenant. It is never changed
// once installed in Blocklist.tenants; a poll installs a new one.
type tenantBlocks struct {
	metas   map[uuid.UUID]*schema.BlockMeta
	covered map[int32]int64 // per partition, the furthest block end
	// supersededBy holds, for each block of metas another one
	// supersedes, one that does (see supersession).
	supersededBy map[uuid.UUID]*schema.BlockMeta
	// met is, per partition, the offset below which metas holds every
	// block of the tenant: the highest need a poll of it met.
	met map[int32]int64
	// unreadable counts the blocks the last listing skipped because their
	// meta cannot be used.
	unreadable int
	// err is why the last poll of the tenant failed: metas are then those
	// of the poll before.
	err error
}

// Options say how a blocklist polls and which blocks it hands readers.
type Options struct {
	// UseIndex has a poll read each tenant's index, and list only when
	// the index is missing or behind what the caller needs. Without it a
	// poll always lists: the compactor, which writes the indexes, must
	// see the bucket itself.
	UseIndex bool
	// Retention returns how long tenant's blocks are kept: Metas leaves
	// out a block whose spans all ended longer ago, as the compactor
	// deletes it. Zero keeps a tenant's blocks for ever, and so does a
	// nil Retention.
	Retention func(tenant string) time.Duration
}

// New returns an empty blocklist of bucket.
func New(cfg Config, bucket objstore.Bucket, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Blocklist, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Blocklist{
		cfg:     cfg,
		bucket:  bucket,
		opts:    opts,
		logger:  logger,
		metrics: newMetrics(reg),
		reports: newReports(),
		tenants: make(map[string]*tenantBlocks),
		polled:  make(map[int32]int64),
		pollC:   make(chan struct{}),
		loaded:  make(chan struct{}),
		need:    make(map[int32]int64),
		wake:    make(chan struct{}, 1),
	}, nil
}

func newTenantBlocks(metas []*schema.BlockMeta) *tenantBlocks {
	tb := &tenantBlocks{
		metas:   make(map[uuid.UUID]*schema.BlockMeta, len(metas)),
		covered: make(map[int32]int64),
	}
	for _, m := range metas {
		tb.add(m)
	}
	tb.supersededBy = supersession(tb.metas)
	return tb
}

func (tb *tenantBlocks) add(m *schema.BlockMeta) {
	tb.metas[m.BlockID] = m
	for _, r := range m.KafkaRanges {
		tb.covered[r.Partition] = max(tb.covered[r.Partition], r.End)
	}
}

// failed returns what a failed poll of the tenant leaves: the blocks of
// prev, the poll before, if any.
func failed(prev *tenantBlocks, err error) *tenantBlocks {
	tb := newTenantBlocks(nil)
	if prev != nil {
		maps.Copy(tb.metas, prev.metas)
		maps.Copy(tb.covered, prev.covered)
		tb.supersededBy = prev.supersededBy
		tb.met = prev.met
		tb.unreadable = prev.unreadable
	}
	tb.err = err
	return tb
}

// withLearned returns tb plus what cur, installed meanwhile by a poll
// that ran alongside the one that made tb from base, learnt beyond base:
// both polls saw those blocks exist, and neither may make the blocklist
// forget a block the other found.
func (tb *tenantBlocks) withLearned(cur, base *tenantBlocks) *tenantBlocks {
	if cur == nil || cur == base {
		return tb
	}
	metas := slices.Collect(maps.Values(tb.metas))
	for id, m := range cur.metas {
		if base == nil || base.metas[id] == nil {
			metas = append(metas, m)
		}
	}
	out := newTenantBlocks(metas)
	out.met = maxNeed(tb.met, cur.met)
	out.unreadable, out.err = tb.unreadable, tb.err
	return out
}

// maxNeed returns, per partition, the higher offset of a and b.
func maxNeed(a, b map[int32]int64) map[int32]int64 {
	out := maps.Clone(a)
	if out == nil {
		out = make(map[int32]int64, len(b))
	}
	for p, off := range b {
		out[p] = max(out[p], off)
	}
	return out
}

// Tenants returns the tenants that have blocks, or had them when a poll
// of them failed (see TenantErr).
func (bl *Blocklist) Tenants() []string {
	bl.mu.RLock()
	defer bl.mu.RUnlock()
	out := make([]string, 0, len(bl.tenants))
	for t := range bl.tenants {
		out = append(out, t)
	}
	return out
}

// TenantErr returns why the last poll of tenant failed, or nil if it did
// not. While it fails, Metas and CoveredEnd answer what the poll before
// found, and each poll tries the tenant again.
func (bl *Blocklist) TenantErr(tenant string) error {
	bl.mu.RLock()
	defer bl.mu.RUnlock()
	if tb := bl.tenants[tenant]; tb != nil {
		return tb.err
	}
	return nil
}

// Metas returns the blocks of tenant that readers read: those known,
// less each that another known block supersedes (every span of it is in
// the other) and each past the tenant's retention (see Options). They
// hold every span of the tenant's known blocks within retention, each in
// as few blocks as the blocklist allows.
func (bl *Blocklist) Metas(tenant string) []*schema.BlockMeta {
	var cutoff time.Time
	if bl.opts.Retention != nil {
		if r := bl.opts.Retention(tenant); r > 0 {
			cutoff = time.Now().Add(-r)
		}
	}
	bl.mu.RLock()
	defer bl.mu.RUnlock()
	tb := bl.tenants[tenant]
	if tb == nil {
		return nil
	}
	out := make([]*schema.BlockMeta, 0, len(tb.metas)-len(tb.supersededBy))
	for id, m := range tb.metas {
		if tb.supersededBy[id] == nil && !Expired(m, cutoff) {
			out = append(out, m)
		}
	}
	return out
}

// Expired reports whether block m is past a retention that keeps the
// blocks holding spans that ended after cutoff; a zero cutoff keeps all.
func Expired(m *schema.BlockMeta, cutoff time.Time) bool {
	return m.MaxEnd.Before(cutoff)
}

// Known returns every block of tenant the blocklist knows, superseded
// and expired ones too: the compactor deletes those.
func (bl *Blocklist) Known(tenant string) []*schema.BlockMeta {
	bl.mu.RLock()
	defer bl.mu.RUnlock()
	tb := bl.tenants[tenant]
	if tb == nil {
		return nil
	}
	return slices.Collect(maps.Values(tb.metas))
}

// SupersededBy returns, for each known block of tenant that Metas leaves
// out because another known block supersedes it, one such block.
func (bl *Blocklist) SupersededBy(tenant string) map[uuid.UUID]*schema.BlockMeta {
	bl.mu.RLock()
	defer bl.mu.RUnlock()
	if tb := bl.tenants[tenant]; tb != nil {
		return maps.Clone(tb.supersededBy)
	}
	return nil
}

// CoveredEnd returns the offset of partition below which every record of
// tenant is in a known block. A block-builder commits a range only after
// writing all of that range's blocks, so a tenant's blocks in a partition
// leave no hole below the furthest end. (A block whose meta cannot be
// used is the exception: its records are in no known block, and not
// served; spanlog_blocklist_unreadable_blocks counts such blocks.)
func (bl *Blocklist) CoveredEnd(tenant string, partition int32) int64 {
	bl.mu.RLock()
	defer bl.mu.RUnlock()
	if tb := bl.tenants[tenant]; tb != nil {
		return tb.covered[partition]
	}
	return 0
}
