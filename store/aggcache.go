package store

// aggCache remembers the stored values of fact, action-total and
// day-count keys, and
// which principals are indexed, so that Write need not read back what an
// earlier Write left there: those point reads were a third of Write's
// CPU. It is only correct because
//
//   - Write is the only writer of these keys, and it holds writeMu for
//     every use of the cache;
//   - these keys carry no Badger TTL, so nothing changes them behind the
//     store's back;
//   - a Write adds its values only after its transaction committed
//     (aggPending is applied by the caller of Commit), and drops the
//     whole cache if a commit fails, since Badger's state is then
//     unknown.
//
// Access-key usage is cached too, with its Badger expiry: temporary
// keys (ASIA…) carry a wall-clock TTL, so Write trusts a cached one only
// while that TTL is well ahead (keyCacheMargin) and reads Badger
// otherwise. Sessions and cross-account recipients are not cached: a
// few per batch.
//
// Memory is bounded by two generations of at most limit/2 entries each:
// when the young one is full the old one is dropped and the young one
// takes its place, so recently used keys survive (an old-generation hit
// is promoted). One entry costs ~350 bytes of heap with a 111-byte fact
// key (measured: 65,536 entries took 22 MiB).
type aggCache struct {
	limit      int // total entries; <= 0 disables the cache
	young, old map[string]aggValue
}

// aggValue is a cached fact, day count, action total or access-key usage
// (by the key's prefix), or a principal index entry (nothing to hold).
//
// Action totals and key usage are held encoded, as Badger holds them
// (enc), not decoded: their lists of resources and Seen values, with a
// time.Time each, took ~4 times the memory, all of it pointers for the
// collector to scan, and made the cache twice as big as before action
// totals came, on a heap that ingest keeps near its limit.
type aggValue struct {
	fact    factValue
	day     dayValue
	enc     []byte
	expires uint64 // Badger ExpiresAt of a temporary key's usage, else 0
}

// aggPut is one value to cache once its transaction has committed.
type aggPut struct {
	key string
	v   aggValue
}

func newAggCache(limit int) *aggCache {
	return &aggCache{limit: limit}
}

// enabled reports whether the cache is on; Write skips preparing values
// for it otherwise.
func (c *aggCache) enabled() bool { return c.limit > 0 }

// get returns the cached value of k; k is copied only when an old entry
// is promoted.
func (c *aggCache) get(k []byte) (aggValue, bool) {
	if c.limit <= 0 {
		return aggValue{}, false
	}
	if v, ok := c.young[string(k)]; ok {
		return v, true
	}
	if v, ok := c.old[string(k)]; ok {
		c.put(string(k), v)
		return v, true
	}
	return aggValue{}, false
}

func (c *aggCache) put(k string, v aggValue) {
	if c.limit <= 0 {
		return
	}
	gen := max(c.limit/2, 1)
	if c.young == nil {
		c.young = make(map[string]aggValue, min(gen, 4096))
	}
	// Looked up only when the young generation is full: a look-up per
	// put was a third of the cache's cost.
	if len(c.young) >= gen {
		if _, ok := c.young[k]; !ok {
			c.old, c.young = c.young, make(map[string]aggValue, min(gen, 4096))
		}
	}
	c.young[k] = v
}

// apply caches the values of a committed transaction.
func (c *aggCache) apply(puts []aggPut) {
	for _, p := range puts {
		c.put(p.key, p.v)
	}
}

// reset forgets everything.
func (c *aggCache) reset() {
	c.young, c.old = nil, nil
}

// len is the number of cached entries (tests).
func (c *aggCache) len() int { return len(c.young) + len(c.old) }
