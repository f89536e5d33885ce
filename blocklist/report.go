package blocklist

import (
	"sync"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/block"
)

// reports remembers which unreadable objects were logged, so that each is
// logged when found, not again at every poll for as long as it stays: a
// bad object can stay for months, and a log line per poll would bury
// everything else. Metrics say it is still there.
type reports struct {
	mu      sync.Mutex
	tenants map[string]*tenantReports
}

type tenantReports struct {
	index bool               // the tenant's index
	metas map[uuid.UUID]bool // block metas
}

func newReports() reports {
	return reports{tenants: make(map[string]*tenantReports)}
}

func (r *reports) tenant(t string) *tenantReports {
	tr := r.tenants[t]
	if tr == nil {
		tr = &tenantReports{metas: make(map[uuid.UUID]bool)}
		r.tenants[t] = tr
	}
	return tr
}

// indexUnreadable records that tenant's index is unreadable and reports
// whether that is news.
func (r *reports) indexUnreadable(tenant string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.tenant(tenant)
	news := !tr.index
	tr.index = true
	return news
}

// indexRead records that tenant's index was read, so that it is logged
// again if it turns unreadable again.
func (r *reports) indexRead(tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tr := r.tenants[tenant]; tr != nil {
		tr.index = false
	}
}

// metasUnreadable records the blocks of tenant a listing found with an
// unusable meta, and returns those not reported before. A block that
// reads again, or is gone, is forgotten, to be logged again should it
// turn bad again.
func (r *reports) metasUnreadable(tenant string, ids map[uuid.UUID]error) map[uuid.UUID]error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.tenant(tenant)
	news := make(map[uuid.UUID]error)
	metas := make(map[uuid.UUID]bool, len(ids))
	for id, err := range ids {
		if !tr.metas[id] {
			news[id] = err
		}
		metas[id] = true
	}
	tr.metas = metas
	return news
}

// forgetTenant drops what is known of a tenant no longer in the bucket.
func (r *reports) forgetTenant(tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tenants, tenant)
}

// reportUnreadable logs the blocks of tenant whose meta cannot be used
// that were not logged yet, with the object to fix or delete.
func (bl *Blocklist) reportUnreadable(tenant string, unreadable map[uuid.UUID]error) {
	for id, err := range bl.reports.metasUnreadable(tenant, unreadable) {
		bl.logger.Warn("block skipped: its meta cannot be used; its spans are not served until it is fixed or deleted",
			"tenant", tenant, "block", id, "object", block.MetaName(tenant, id), "err", err)
	}
}
