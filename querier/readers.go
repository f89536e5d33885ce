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

	mu      sync.Mutex
	lru     *list.List // of *openReader, most recent first
	byID    map[uuid.UUID]*list.Element
	opening map[uuid.UUID]*opening
	closed  bool
	// opens are the goroutines opening blocks, which close waits for.
	opens sync.WaitGroup
}

type openReader struct {
	id      uuid.UUID
	r       *block.Reader
	refs    int
	evicted bool
}

// opening is a block being opened; done is closed when it is open, or
// failed with err.
type opening struct {
	done chan struct{}
	err  error
}

func newReaders(bucket objstore.Bucket, max int) *readers {
	return &readers{bucket: bucket, max: max, lru: list.New(), byID: make(map[uuid.UUID]*list.Element), opening: make(map[uuid.UUID]*opening)}
}

// get returns an open reader of m's block and a release to call when done
// with it. A reader evicted while in use is closed by its last release.
//
// A block is opened once for all the requests that want it at the same
// time, and apart from them: the reader outlives each of them. A request
// that ends while the block is being opened returns at once, and the
// block, once open, stays for the next one.
func (c *readers) get(ctx context.Context, m *schema.BlockMeta) (*block.Reader, func(), error) {
	for {
		c.mu.Lock()
		if e, ok := c.byID[m.BlockID]; ok {
			c.lru.MoveToFront(e)
			o := e.Value.(*openReader)
			o.refs++
			c.mu.Unlock()
			return o.r, c.releaser(o), nil
		}
		op, ok := c.opening[m.BlockID]
		if !ok {
			if c.closed {
				c.mu.Unlock()
				return nil, nil, ErrStopping
			}
			op = &opening{done: make(chan struct{})}
			c.opening[m.BlockID] = op
			// Detached from the request, which may end first: each read
			// is still bounded by the backend's own request timeout.
			c.opens.Go(func() { c.open(context.WithoutCancel(ctx), m, op) })
		}
		c.mu.Unlock()
		select {
		case <-op.done:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if op.err != nil {
			return nil, nil, op.err
		}
		// Open now, unless evicted already by other opens: then again.
	}
}

// open opens m's block and adds it to the readers, unused.
func (c *readers) open(ctx context.Context, m *schema.BlockMeta, op *opening) {
	r, err := block.Open(ctx, c.bucket, m)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.opening, m.BlockID)
	op.err = err
	defer close(op.done)
	if err != nil {
		return
	}
	if c.closed { // the querier stopped while the block was opened
		r.Close()
		op.err = ErrStopping
		return
	}
	c.byID[m.BlockID] = c.lru.PushFront(&openReader{id: m.BlockID, r: r})
	for c.lru.Len() > c.max {
		c.evict(c.lru.Back())
	}
}

// retain closes the readers of the blocks that keep rejects: blocks no
// query reads any more (merged into another, past retention, deleted).
// Left to the LRU, they stayed open until open-blocks newer ones pushed
// them out, holding their memory and, on a directory bucket, the disk of
// their deleted files. A reader in use closes on its last release; a
// block asked for again is opened again.
func (c *readers) retain(keep func(uuid.UUID) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		if !keep(e.Value.(*openReader).id) {
			c.evict(e)
		}
		e = next
	}
}

// evict takes e's reader out of the readers, and closes it unless in use.
func (c *readers) evict(e *list.Element) {
	o := c.lru.Remove(e).(*openReader)
	delete(c.byID, o.id)
	o.evicted = true
	if o.refs == 0 {
		o.r.Close()
	}
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

// close closes every reader not in use, and waits for the blocks being
// opened; the readers in use close on release.
func (c *readers) close() {
	defer c.opens.Wait()
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
	c.closed = true
}
