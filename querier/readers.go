package querier

import (
	"container/list"
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// readers keeps the most recently used block readers open. An open reader
// holds the block's footer, bloom filters and page indexes, so a lookup that
// the bloom filter rules out costs no request to object storage at all.
type readers struct {
	bucket objstore.Bucket
	max    int

	mu   sync.Mutex
	lru  *list.List // of *openReader, most recent first
	byID map[uuid.UUID]*list.Element
}

type openReader struct {
	id      uuid.UUID
	r       *block.Reader
	refs    int
	evicted bool
}

func newReaders(bucket objstore.Bucket, max int) *readers {
	return &readers{bucket: bucket, max: max, lru: list.New(), byID: make(map[uuid.UUID]*list.Element)}
}

// get returns an open reader of m's block and a release to call when done
// with it. A reader evicted while in use is closed by its last release.
func (c *readers) get(ctx context.Context, m *schema.BlockMeta) (*block.Reader, func(), error) {
	c.mu.Lock()
	if e, ok := c.byID[m.BlockID]; ok {
		c.lru.MoveToFront(e)
		o := e.Value.(*openReader)
		o.refs++
		c.mu.Unlock()
		return o.r, c.releaser(o), nil
	}
	c.mu.Unlock()

	// The reader outlives this request, and a backend's ranged reads may
	// keep the context they were opened with: detach it from the request.
	// Each read is still bounded by the backend's own request timeout.
	r, err := block.Open(context.WithoutCancel(ctx), c.bucket, m)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[m.BlockID]; ok { // opened concurrently: keep the first
		r.Close()
		o := e.Value.(*openReader)
		o.refs++
		return o.r, c.releaser(o), nil
	}
	o := &openReader{id: m.BlockID, r: r, refs: 1}
	c.byID[m.BlockID] = c.lru.PushFront(o)
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*openReader)
		delete(c.byID, old.id)
		old.evicted = true
		if old.refs == 0 {
			old.r.Close()
		}
	}
	return r, c.releaser(o), nil
}

func (c *readers) releaser(o *openReader) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			o.refs--
			if o.evicted && o.refs == 0 {
				o.r.Close()
			}
		})
	}
}

// close closes every reader not in use; the ones in use close on release.
func (c *readers) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; e = e.Next() {
		o := e.Value.(*openReader)
		o.evicted = true
		if o.refs == 0 {
			o.r.Close()
		}
	}
	c.lru.Init()
	clear(c.byID)
}
