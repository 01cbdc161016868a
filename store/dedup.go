package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"
	badger "github.com/dgraph-io/badger/v4"
)

// The dedup set remembers which events were counted, so that a record
// delivered twice (overlapping files, a stream's redelivery) counts once.
//
// It is kept by the hour of the event's time rather than one key per
// event ID: one Badger entry per event made the set ~80 % of the store
// and its point reads and writes most of Write's cost. Instead each
// Write adds, per hour its events fall in, one segment
//
//	h<hour:8><seq:8> → uvarint(expiry) uvarint(n) n × hash:8
//
// holding the 64-bit xxhash of each new event ID, the expiry by the
// injected clock (Options.Now + DedupTTL) and a Badger TTL of the same
// length that reclaims the space (segments over ValueThreshold live in
// the value log, whose space CollectGarbage reclaims). An event is a duplicate when its hash
// is in an unexpired segment of its hour or of the hours either side, or
// an event counted earlier in the same Write has it in those hours: the
// neighbours absorb a record whose time differs a little between two
// deliveries (a shipper's @timestamp against CloudTrail's eventTime). One
// ID on events further apart (some sample data reuses IDs) counts once
// per event, whatever the batches; only counted events are compared
// against, so ingesting the same input again changes nothing.
//
// Write keeps recently used hours in memory (dedupCache), loaded with
// one prefix scan, so checking an event costs a few map look-ups;
// ingest reads CloudTrail roughly in time order, so a few hours are hot
// at a time.
//
// Two distinct IDs of the same three hours share a 64-bit hash with
// probability about n/2⁶⁴ per event for n events in those hours: about
// one in 10¹³ for a million events an hour. Such an event would be
// counted as a duplicate; the gain (8 bytes an event instead of ~30, and
// no per-event Badger I/O) was judged worth it.

// dedupHour is the bucket of t: whole hours since the Unix epoch.
func dedupHour(t time.Time) int64 { return unixPeriods(t, 3600) }

// dedupHash is an event ID's entry in the set.
func dedupHash(id string) uint64 { return xxhash.Sum64String(id) }

func dedupHourPrefix(hour int64) []byte {
	return putInt64([]byte{pfxDedupHour}, hour)
}

func dedupSegmentKey(hour int64, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(dedupHourPrefix(hour), seq)
}

func encodeDedupSegment(expiry int64, hashes []uint64) []byte {
	e := encoder{b: make([]byte, 0, 20+8*len(hashes))}
	e.uvarint(uint64(expiry))
	e.uvarint(uint64(len(hashes)))
	for _, h := range hashes {
		e.b = binary.LittleEndian.AppendUint64(e.b, h)
	}
	return e.b
}

// decodeDedupSegment calls fn for each hash of a segment that has not
// expired at now (unix seconds), and returns the segment's size.
func decodeDedupSegment(b []byte, now int64, fn func(h uint64, expiry int64)) (int, error) {
	d := decoder{b: b}
	expiry := int64(d.uvarint())
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) != n*8 {
		return 0, fmt.Errorf("%w: dedup segment of %d hashes has %d bytes", errCorrupt, n, len(d.b))
	}
	if fn == nil || now >= expiry {
		return int(n), nil
	}
	for i := range int(n) {
		fn(binary.LittleEndian.Uint64(d.b[8*i:]), expiry)
	}
	return int(n), nil
}

// dedupHourSet is one hour's unexpired hashes with their expiry (unix
// seconds; uint32 lasts until 2106 and saves a third of the map).
type dedupHourSet struct {
	hashes  map[uint64]uint32
	lastUse uint64
}

func expiry32(unix int64) uint32 { return uint32(min(max(unix, 0), 1<<32-1)) }

// dedupCache holds the sets of recently used hours for Write. It is only
// correct because Write is the only writer of segments and holds writeMu
// for every use; a failed commit drops it (reset). Memory is bounded by
// limit hashes (~20 bytes each), an hour's map counting as hourWeight
// more so that many empty or small hours (a sparse backfill, the
// neighbours looked at) are bounded too; the least recently used hours
// are dropped first, never the hours of the Write in progress.
type dedupCache struct {
	limit int
	hours map[int64]*dedupHourSet
	total int
	clock uint64
	// seq is the next segment number; 0 until read from the meta key.
	seq uint64
}

// hourWeight is an hour set's own cost in hashes (~200 bytes of map).
const hourWeight = 10

func newDedupCache(limit int) *dedupCache {
	return &dedupCache{limit: limit, hours: map[int64]*dedupHourSet{}}
}

// hour returns the set of hour h, loading it from txn if needed.
func (c *dedupCache) hour(txn *badger.Txn, h int64, now int64) (*dedupHourSet, error) {
	c.clock++
	if s := c.hours[h]; s != nil {
		s.lastUse = c.clock
		return s, nil
	}
	s := &dedupHourSet{hashes: map[uint64]uint32{}, lastUse: c.clock}
	if err := loadDedupHour(txn, h, now, func(hash uint64, expiry int64) {
		if e := expiry32(expiry); e > s.hashes[hash] {
			s.hashes[hash] = e
		}
	}); err != nil {
		return nil, err
	}
	c.hours[h] = s
	c.total += len(s.hashes) + hourWeight
	return s, nil
}

// insert puts hash into s, an hour set of c, until expiry.
func (c *dedupCache) insert(s *dedupHourSet, hash uint64, expiry int64) {
	n := len(s.hashes)
	s.hashes[hash] = expiry32(expiry)
	c.total += len(s.hashes) - n
}

// remove takes hashes out of hour h (an abandoned transaction's).
func (c *dedupCache) remove(h int64, hashes []uint64) {
	s := c.hours[h]
	if s == nil {
		return
	}
	for _, hash := range hashes {
		if _, ok := s.hashes[hash]; ok {
			delete(s.hashes, hash)
			c.total--
		}
	}
}

// evict drops least recently used hours until the cache is within its
// limit, keeping hours used since mark.
func (c *dedupCache) evict(mark uint64) {
	for c.total > c.limit {
		var (
			oldest int64
			found  bool
			at     uint64
		)
		for h, s := range c.hours {
			if s.lastUse < mark && (!found || s.lastUse < at) {
				oldest, at, found = h, s.lastUse, true
			}
		}
		if !found {
			return
		}
		c.total -= len(c.hours[oldest].hashes) + hourWeight
		delete(c.hours, oldest)
	}
}

// reset forgets everything, including the segment sequence.
func (c *dedupCache) reset() {
	c.hours = map[int64]*dedupHourSet{}
	c.total = 0
	c.seq = 0
}

// loadDedupHour calls fn for every unexpired hash of hour h.
func loadDedupHour(txn *badger.Txn, h int64, now int64, fn func(hash uint64, expiry int64)) error {
	prefix := dedupHourPrefix(h)
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		if item.IsDeletedOrExpired() {
			continue
		}
		err := item.Value(func(v []byte) error {
			_, err := decodeDedupSegment(v, now, fn)
			return err
		})
		if err != nil {
			return fmt.Errorf("read %x: %w", item.Key(), err)
		}
	}
	return nil
}

// nextDedupSeq returns the first of n segment numbers and records their
// use in txn.
func (db *DB) nextDedupSeq(txn *badger.Txn, n int) (uint64, error) {
	c := db.dedup
	if c.seq == 0 {
		// Assigned only once read: a failed read must not leave the
		// sequence at 1, where new segments would overwrite old ones.
		seq := uint64(1)
		if err := getValue(txn, key(pfxMeta, metaDedupSeq), func(b []byte) error {
			d := decoder{b: b}
			seq = d.uvarint()
			return d.done("dedup sequence")
		}); err != nil {
			return 0, err
		}
		c.seq = seq
	}
	first := c.seq
	e := encoder{}
	e.uvarint(first + uint64(n))
	if err := txn.Set(key(pfxMeta, metaDedupSeq), e.b); err != nil {
		return 0, err
	}
	return first, nil
}
