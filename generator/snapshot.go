package generator

import (
	"slices"
	"strconv"
	"time"
)

// snapshot is a partition's series as saved, which the scrape endpoint
// and remote write publish until the next save.
type snapshot struct {
	partition string // the partition label's value
	taken     time.Time
	tenants   map[string][]entry
}

// takeSnapshot copies the entries of p.
func takeSnapshot(p *partitionState, now time.Time) *snapshot {
	s := &snapshot{
		partition: strconv.Itoa(int(p.partition)),
		taken:     now,
		tenants:   make(map[string][]entry, len(p.tenants)),
	}
	for id, t := range p.tenants {
		if len(t.entries) == 0 {
			continue
		}
		entries := make([]entry, 0, len(t.entries))
		for _, e := range t.entries {
			c := *e
			c.hists = slices.Clone(e.hists)
			for i := range c.hists {
				c.hists[i].counts = slices.Clone(c.hists[i].counts)
			}
			entries = append(entries, c)
		}
		s.tenants[id] = entries
	}
	return s
}

// clearFresh marks the entries of p published.
func clearFresh(p *partitionState) {
	for _, t := range p.tenants {
		for _, e := range t.entries {
			e.fresh = false
		}
	}
}
