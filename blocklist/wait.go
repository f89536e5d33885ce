package blocklist

import (
	"context"
	"maps"
	"time"
)

// Run polls every PollInterval, and at once when Require raises what it
// needs, until ctx ends, calling changed after each poll that listed the
// tenants. A tenant that failed is polled again with the others.
func (bl *Blocklist) Run(ctx context.Context, changed func()) {
	for {
		bl.needMu.Lock()
		need := maps.Clone(bl.need)
		bl.needMu.Unlock()
		if err := bl.Poll(ctx, need); err == nil {
			changed()
		} else if ctx.Err() == nil {
			bl.logger.Warn("blocklist poll failed; keeping the previous one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-bl.wake:
		case <-time.After(bl.cfg.PollInterval):
		}
	}
}

// Require raises, per partition, the offset below which Run's polls must
// know every block (as Poll's need), and has Run poll at once if that is
// more than its last poll met. A querier requires a partition's blocks up
// to where its live tail of the partition starts.
func (bl *Blocklist) Require(need map[int32]int64) {
	bl.needMu.Lock()
	defer bl.needMu.Unlock()
	raised := false
	for p, off := range need {
		if off > bl.need[p] {
			bl.need[p], raised = off, true
		}
	}
	if raised {
		select {
		case bl.wake <- struct{}{}:
		default:
		}
	}
}

// WaitRequiredFor waits until polls met need (see Require) for each of
// tenants, or ctx ends: the tenants' blocks are then known below need,
// whatever the polls of other tenants did. A tenant without blocks is
// met by any poll that listed the tenants with need.
func (bl *Blocklist) WaitRequiredFor(ctx context.Context, tenants []string, need map[int32]int64) error {
	for {
		bl.mu.RLock()
		met, next := bl.met(tenants, need), bl.pollC
		bl.mu.RUnlock()
		if met {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-next:
		}
	}
}

// met reports whether need is met for each of tenants. bl.mu must be held.
func (bl *Blocklist) met(tenants []string, need map[int32]int64) bool {
	for _, t := range tenants {
		met := bl.polled
		if tb := bl.tenants[t]; tb != nil {
			met = tb.met
		}
		for p, off := range need {
			if met[p] < off {
				return false
			}
		}
	}
	return true
}

// WaitLoaded waits for the first poll that listed the tenants, or for ctx
// to end.
func (bl *Blocklist) WaitLoaded(ctx context.Context) error {
	select {
	case <-bl.loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
