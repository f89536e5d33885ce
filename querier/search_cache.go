package querier

import (
	"bytes"
	"container/list"
	"slices"
	"sync"
	"unsafe"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/schema"
)

// partList is what phase 1 of a search learns of one block: its parts in
// trace ID order. It is never written once made, so searches share it.
//
// Most lists are of bare parts: a trace ID and a start (the summaries a
// search without trace-level conditions reads, the matches of a filter),
// all matched and verified alike. Those are held as the IDs and starts
// alone, 28 bytes a part with the order rather than 108, so that the
// search cache holds the summaries of blocks four times the size.
type partList struct {
	// full holds the parts, or, for a lean list, is nil and ids and
	// starts hold them, each with the flags matched and verified.
	full              []part
	ids               [][16]byte
	starts            []uint64
	matched, verified bool

	once   sync.Once
	newest []int32
}

func newPartList(parts []part) *partList {
	lean := true
	for i := range parts {
		p := &parts[i]
		if p.End != 0 || p.Spans != 0 || p.Errors != 0 || p.Root != (schema.RootSpan{}) ||
			p.matched != parts[0].matched || p.verified != parts[0].verified {
			lean = false
			break
		}
	}
	if !lean || len(parts) == 0 {
		return &partList{full: slices.Clip(parts)}
	}
	l := &partList{ids: make([][16]byte, len(parts)), starts: make([]uint64, len(parts)), matched: parts[0].matched, verified: parts[0].verified}
	for i := range parts {
		l.ids[i], l.starts[i] = parts[i].ID, parts[i].Start
	}
	return l
}

func (l *partList) len() int {
	if l.full != nil {
		return len(l.full)
	}
	return len(l.ids)
}

func (l *partList) id(i int) [16]byte {
	if l.full != nil {
		return l.full[i].ID
	}
	return l.ids[i]
}

func (l *partList) start(i int) uint64 {
	if l.full != nil {
		return l.full[i].Start
	}
	return l.starts[i]
}

// at returns part i.
func (l *partList) at(i int) part {
	if l.full != nil {
		return l.full[i]
	}
	return part{TraceSummary: schema.TraceSummary{ID: l.ids[i], Start: l.starts[i]}, matched: l.matched, verified: l.verified}
}

// all returns the parts, made anew for a lean list.
func (l *partList) all() []part {
	if l.full != nil || l.len() == 0 {
		return l.full
	}
	out := make([]part, l.len())
	for i := range out {
		out[i] = l.at(i)
	}
	return out
}

// newestFirst returns the indexes of the parts in the order a candidate
// queue takes them: latest start first, then lower trace ID (see
// candidate.before). It is sorted once per list.
func (l *partList) newestFirst() []int32 {
	l.once.Do(func() {
		l.newest = make([]int32, l.len())
		for i := range l.newest {
			l.newest[i] = int32(i)
		}
		slices.SortFunc(l.newest, func(a, b int32) int {
			sa, sb := l.start(int(a)), l.start(int(b))
			if sa != sb {
				if sa > sb {
					return -1
				}
				return 1
			}
			ia, ib := l.id(int(a)), l.id(int(b))
			return bytes.Compare(ia[:], ib[:])
		})
	})
	return l.newest
}

// bytes is about what the list holds in memory, its order included.
func (l *partList) bytes() int64 {
	n := int64(unsafe.Sizeof(partList{}))
	if l.full == nil {
		return n + int64(l.len())*(16+8+4)
	}
	n += int64(len(l.full)) * int64(unsafe.Sizeof(part{})+4)
	for i := range l.full {
		n += int64(len(l.full[i].Root.Name) + len(l.full[i].Root.Service))
	}
	return n
}

// searchCache keeps what phase 1 of searches learned of blocks, the most
// recently used first, up to a number of bytes: a block's trace summaries
// (per set of fields read), and the traces of a block that pass a query's
// span filter (per query). Blocks never change once written (a block ID
// names the offsets it holds, and a block rebuilt from them holds the
// same spans), so neither goes stale; entries of blocks the blocklist no
// longer holds are dropped after each poll. A search that hits it reads
// neither the summary columns nor the filter's: a dashboard refreshed
// over the same blocks scans only the blocks that are new.
type searchCache struct {
	max int64

	mu      sync.Mutex
	used    int64
	lru     *list.List // of *cacheEntry, most recent first
	entries map[cacheKey]*list.Element

	requests  *prometheus.CounterVec
	evictions prometheus.Counter
	size      prometheus.GaugeFunc
}

type cacheKey struct {
	block uuid.UUID
	// what names what was read of the block: summary fields, or a query.
	what string
}

type cacheEntry struct {
	key cacheKey
	// value is a *partList, or a traceRowsEntry.
	value any
	bytes int64
}

func newSearchCache(max int64, reg prometheus.Registerer) *searchCache {
	c := &searchCache{max: max, lru: list.New(), entries: make(map[cacheKey]*list.Element)}
	c.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spanlog_querier_search_cache_requests_total",
		Help: "Reads of a block's trace summaries, filter matches or traces read whole by searches, by whether the search cache held them (hit) or the block was read (miss).",
	}, []string{"result"})
	c.evictions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "spanlog_querier_search_cache_evictions_total",
		Help: "Entries the search cache dropped to stay within querier.search-cache-bytes.",
	})
	c.size = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "spanlog_querier_search_cache_bytes",
		Help: "Bytes the search cache holds, bounded by querier.search-cache-bytes.",
	}, func() float64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return float64(c.used)
	})
	reg.MustRegister(c.requests, c.evictions, c.size)
	return c
}

// get returns the list cached under key, or reads it with read and
// caches it if it fits. Two searches that miss at once both read; an
// error is not cached.
func (c *searchCache) get(key cacheKey, read func() ([]part, error)) (*partList, error) {
	if v, ok := c.peekValue(key); ok {
		return v.(*partList), nil
	}
	c.requests.WithLabelValues("miss").Inc()
	parts, err := read()
	if err != nil {
		return nil, err
	}
	l := newPartList(parts)
	c.add(key, l, l.bytes())
	return l, nil
}

// peek returns the list cached under key, if it is.
func (c *searchCache) peek(key cacheKey) (*partList, bool) {
	v, ok := c.peekValue(key)
	if !ok {
		return nil, false
	}
	return v.(*partList), true
}

// peekValue returns what is cached under key, if anything is, and counts
// a hit.
func (c *searchCache) peekValue(key cacheKey) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	c.requests.WithLabelValues("hit").Inc()
	return e.Value.(*cacheEntry).value, true
}

// add caches value, of about n bytes, under key.
func (c *searchCache) add(key cacheKey, value any, n int64) {
	n += int64(len(key.what))
	if n > c.max/4 {
		// One block's list taking a large share would push out the
		// rest for one search; it is read again when needed.
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		return
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, value: value, bytes: n})
	c.used += n
	for c.used > c.max {
		c.remove(c.lru.Back())
		c.evictions.Inc()
	}
}

func (c *searchCache) remove(e *list.Element) {
	ce := e.Value.(*cacheEntry)
	c.lru.Remove(e)
	delete(c.entries, ce.key)
	c.used -= ce.bytes
}

// retain drops the entries of the blocks keep rejects.
func (c *searchCache) retain(keep func(uuid.UUID) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		if !keep(e.Value.(*cacheEntry).key.block) {
			c.remove(e)
		}
		e = next
	}
}
