package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Legacy dedup entries keep the dedup promise of a store migrated from
// schema 1. Schema 1 kept one entry per event ID, without the event's
// time, so its entries cannot be placed into hour segments (dedup.go).
// The migration (migrations.go) turns each unexpired one into
//
//	l<hash:8> → uvarint(expiry)
//
// the 64-bit hash of the ID as the segments hold it, with the entry's
// expiry by Options.Now and its Badger TTL, and records in meta
// (m legacy) the latest expiry and a bound on event time: the latest
// time the schema 1 store recorded (facts, access keys, sessions) plus
// the two hours the hour segments tolerate either side. Until that
// expiry, Write and Seen also count an event older than the bound as a
// duplicate when its hash has an unexpired legacy entry, whatever its
// hour, as schema 1 did.
//
// A redelivery of an event that schema 1 counted carries that event's
// time, so it is older than the bound; everything newer cannot be one
// and is not looked up. The check costs one point read per old event,
// mostly a Bloom-filter miss (BenchmarkWriteLegacyDedup: within the
// noise of background compaction in CPU time), while ingest of new
// events, stores that never had legacy entries, and all events once they
// expired read nothing more than before. An event of schema 1 that left no timed trace (no action, no
// access key, no session) may be counted again: that changes nothing
// but the principal index it is already in.

func legacyKey(hash uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{pfxDedupLegacy}, hash)
}

// putLegacy records hash until expiry (Options.Now, unix seconds), with
// Badger TTL expiresAt (0: none). Two schema 1 IDs with one hash keep
// the later of each.
func putLegacy(txn *badger.Txn, hash uint64, expiry int64, expiresAt uint64) error {
	k := legacyKey(hash)
	item, err := txn.Get(k)
	switch {
	case err == nil:
		var old int64
		if err := item.Value(func(b []byte) error {
			d := decoder{b: b}
			old = int64(d.uvarint())
			return d.done("legacy dedup entry")
		}); err != nil {
			return fmt.Errorf("read %x: %w", k, err)
		}
		expiry = max(expiry, old)
		if item.ExpiresAt() == 0 || expiresAt == 0 {
			expiresAt = 0
		} else {
			expiresAt = max(expiresAt, item.ExpiresAt())
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return fmt.Errorf("read %x: %w", k, err)
	}
	e := encoder{}
	e.uvarint(uint64(expiry))
	return txn.SetEntry(&badger.Entry{Key: k, Value: e.b, ExpiresAt: expiresAt})
}

// legacySeen reports whether hash has a legacy entry unexpired at now.
func legacySeen(txn *badger.Txn, hash uint64, now int64) (bool, error) {
	seen := false
	err := getValue(txn, legacyKey(hash), func(b []byte) error {
		d := decoder{b: b}
		seen = int64(d.uvarint()) > now
		return d.done("legacy dedup entry")
	})
	return seen, err
}

// legacyDuplicates returns the hashes of events that have an unexpired
// legacy entry at now; nil, reading nothing, when no entry can match.
func (db *DB) legacyDuplicates(txn *badger.Txn, events []Event, now int64) (map[uint64]bool, error) {
	if now >= db.legacy.until {
		return nil, nil
	}
	var dups map[uint64]bool
	for i := range events {
		if !db.legacy.covers(events[i].Time) {
			continue
		}
		h := dedupHash(events[i].ID)
		seen, err := legacySeen(txn, h, now)
		if err != nil {
			return nil, fmt.Errorf("event %q: %w", events[i].ID, err)
		}
		if seen {
			if dups == nil {
				dups = map[uint64]bool{}
			}
			dups[h] = true
		}
	}
	return dups, nil
}

// legacyBounds is the meta record of the legacy entries: until is the
// latest expiry (unix seconds by Options.Now; 0: no entries), before the
// bound on event time (unix seconds) below which an event may match one.
type legacyBounds struct{ until, before int64 }

// covers says whether an event at t may match a legacy entry.
func (l legacyBounds) covers(t time.Time) bool { return t.Unix() < l.before }

func (l legacyBounds) encode() []byte {
	e := encoder{}
	e.uvarint(uint64(l.until))
	e.varint(l.before)
	return e.b
}

// readLegacyBounds reads the legacy bounds from meta (zero: none).
func readLegacyBounds(txn *badger.Txn) (legacyBounds, error) {
	var l legacyBounds
	err := getValue(txn, key(pfxMeta, metaLegacy), func(b []byte) error {
		d := decoder{b: b}
		l = legacyBounds{until: int64(d.uvarint()), before: d.varint()}
		return d.done("legacy dedup bounds")
	})
	return l, err
}

// loadLegacyBounds sets db.legacy from meta.
func (db *DB) loadLegacyBounds() error {
	return db.bdb.View(func(txn *badger.Txn) (err error) {
		db.legacy, err = readLegacyBounds(txn)
		if err != nil {
			return fmt.Errorf("open store %s: %w", db.dir, err)
		}
		return nil
	})
}
