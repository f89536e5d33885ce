package live

import (
	"strings"
	"sync"
)

// keyTable numbers the attribute keys of a tail's indexes, so that an
// index names a key in a byte or two rather than in full: keys repeat from
// span to span and from record to record. It numbers at most
// maxIndexedKeys keys, the first it sees of at most maxIndexedString
// bytes, and never forgets one, so that a key has one name in every index;
// an index names the others in full.
type keyTable struct {
	mu   sync.RWMutex
	ids  map[string]uint64
	keys []string
}

// maxIndexedKeys bounds the keys a keyTable numbers: many more than the
// attribute keys of a deployment's instrumentation, and at most about a
// megabyte.
const maxIndexedKeys = 4096

// keyCost is what a key costs in a keyTable beside its bytes: its map
// entry and its place in the list.
const keyCost = 64

func newKeyTable() *keyTable { return &keyTable{ids: make(map[string]uint64)} }

// intern returns key's ID, numbering it if the table has room, and what
// the table grew by; false when the table lacks the key.
func (t *keyTable) intern(key string) (id uint64, cost int64, ok bool) {
	if id, ok := t.lookup(key); ok || len(key) > maxIndexedString {
		return id, 0, ok
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.ids[key]; ok {
		return id, 0, true
	}
	if len(t.keys) >= maxIndexedKeys {
		return 0, 0, false
	}
	key = strings.Clone(key) // not the record's memory
	id = uint64(len(t.keys))
	t.ids[key] = id
	t.keys = append(t.keys, key)
	return id, int64(len(key)) + keyCost, true
}

// lookup returns key's ID; false when the table lacks it.
func (t *keyTable) lookup(key string) (uint64, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	id, ok := t.ids[key]
	return id, ok
}

// canonical returns the string an index builder holds key as: the
// table's when it has id, else a copy, so that the builder holds no
// record's memory.
func (t *keyTable) canonical(key string, id uint64, ok bool) string {
	if !ok {
		return strings.Clone(key)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.keys[id]
}
