package generator

// What a generator derives from one partition of the log is a function of
// the partition's records alone, in their order: the counts, the
// histograms, which series exist (the limit applies in log order), and
// which are stale (by the records' timestamps, not the wall clock). So the
// state saved with an offset is what any generator reading the partition
// up to that offset would hold, and a generator that takes the partition
// over resumes the same cumulative values (see docs/design.md,
// "Exactness").

// partitionState is what a generator derived from one partition.
type partitionState struct {
	partition int32
	// offset is the next record to read: the state counts every span
	// of the records below it.
	offset int64
	// logTime is the latest record timestamp read, in Unix nanoseconds:
	// the partition's clock for staleness and for unpaired spans.
	logTime int64
	// sweptAt is the sweep period logTime was in at the last sweep of
	// stale series, expiredAt the expiry period at the last expiry of
	// unpaired halves.
	sweptAt, expiredAt int64
	tenants            map[string]*tenantState
	// saved is whether the state in storage is this one.
	saved bool
}

func newPartitionState(partition int32, offset int64) *partitionState {
	return &partitionState{partition: partition, offset: offset, tenants: make(map[string]*tenantState)}
}

// tenant returns the state of tenant id, created if missing.
func (p *partitionState) tenant(id string) *tenantState {
	t := p.tenants[id]
	if t == nil {
		t = &tenantState{entries: make(map[string]*entry), edges: &edgeStore{}}
		p.tenants[id] = t
	}
	return t
}

// tenantState is what a partition's spans of one tenant made.
type tenantState struct {
	entries map[string]*entry // by kind and label values (see appendKey)
	// active is the Prometheus series the entries make, which
	// the tenant's max-active-series bounds.
	active int
	// edges are the halves of requests waiting for their other half.
	edges *edgeStore
}

// entry is one label set of one kind, and what was counted under it.
type entry struct {
	kind   kind
	labels []string // values, in the order of the kind's label names
	count  uint64
	failed uint64
	hists  []histogram
	// lastSeen is the log time of the last span counted, in Unix
	// nanoseconds.
	lastSeen int64
	// fresh marks an entry not yet published: remote write first sends
	// its series at zero, so that Prometheus counts the first increase.
	fresh bool
}

// newEntry returns an entry of n histograms, allocated with them: each
// span counted under the entry writes both, and one allocation spares it
// a cache miss.
func newEntry(n int) *entry {
	switch n {
	case 0:
		return &entry{}
	case 1:
		m := &struct {
			e entry
			h [1]histogram
		}{}
		m.e.hists = m.h[:]
		return &m.e
	case 2:
		m := &struct {
			e entry
			h [2]histogram
		}{}
		m.e.hists = m.h[:]
		return &m.e
	}
	return &entry{hists: make([]histogram, n)}
}

// histogram is a Prometheus histogram: per bucket the observations at or
// below its bound and above the previous one (the last bucket is +Inf),
// their sum, and the last observation as an exemplar.
type histogram struct {
	counts   []uint64
	sum      float64
	exemplar exemplar
}

// exemplar is one observation and the trace it comes from.
type exemplar struct {
	traceID [16]byte
	value   float64
	set     bool
}

func (h *histogram) observe(bounds []float64, v float64, traceID [16]byte) {
	if h.counts == nil {
		h.counts = make([]uint64, len(bounds)+1)
	}
	// The first bucket whose bound is v or more, as
	// sort.SearchFloat64s finds it, without its call per step.
	i, j := 0, len(bounds)
	for i < j {
		m := int(uint(i+j) >> 1)
		if bounds[m] < v {
			i = m + 1
		} else {
			j = m
		}
	}
	h.counts[i]++
	h.sum += v
	h.exemplar = exemplar{traceID: traceID, value: v, set: true}
}

// count returns the observations of h.
func (h *histogram) count() uint64 {
	var n uint64
	for _, c := range h.counts {
		n += c
	}
	return n
}

// appendKey appends the key of an entry of kind k with label values
// values. 0xff is no byte of UTF-8, so no two label sets share a key.
func appendKey(b []byte, k kind, values []string) []byte {
	b = append(b, byte(k))
	for _, v := range values {
		b = append(b, v...)
		b = append(b, 0xff)
	}
	return b
}

// sweep drops the entries of p that saw no span for stale, in log time.
// It runs when the log time enters a new quarter of stale, so that when it
// runs depends on the records alone.
func (p *partitionState) sweep(stale int64, cost func(kind) int) {
	period := max(stale/4, 1)
	if p.logTime/period == p.sweptAt {
		return
	}
	p.sweptAt = p.logTime / period
	for id, t := range p.tenants {
		for key, e := range t.entries {
			if e.lastSeen < p.logTime-stale {
				delete(t.entries, key)
				t.active -= cost(e.kind)
			}
		}
		if len(t.entries) == 0 && t.edges.len() == 0 {
			delete(p.tenants, id)
		}
	}
}
