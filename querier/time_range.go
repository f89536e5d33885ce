package querier

import (
	"time"

	"github.com/spanlog/spanlog/schema"
)

// TimeRange limits a query to spans that overlap [Start, End]; a zero bound
// is open.
type TimeRange struct {
	Start, End time.Time
}

func (r TimeRange) overlaps(m *schema.BlockMeta) bool {
	return (r.End.IsZero() || !m.MinStart.After(r.End)) && (r.Start.IsZero() || !m.MaxEnd.Before(r.Start))
}
