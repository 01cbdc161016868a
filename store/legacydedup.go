package store

import (
	"encoding/binary"
	"errors"
	"fmt"

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
// expiry by Options.Now and its Badger TTL, and records the latest expiry
// in meta (m legacy). Until then Write and Seen also count an event as a
// duplicate when its hash has an unexpired legacy entry, whatever the
// event's time, as schema 1 did. The check costs one point read per
// event, paid only while a legacy entry can still match (DedupTTL after
// the migration at most): on a store that never had any, or once they
// expired, Write reads nothing more than it did before.

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
// legacy entry at now; nil, reading nothing, when no entry can.
func (db *DB) legacyDuplicates(txn *badger.Txn, events []Event, now int64) (map[uint64]bool, error) {
	if now >= db.legacyUntil {
		return nil, nil
	}
	var dups map[uint64]bool
	for i := range events {
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

// legacyUntil reads the latest legacy expiry from meta (0: none).
func legacyUntil(txn *badger.Txn) (int64, error) {
	var until int64
	err := getValue(txn, key(pfxMeta, metaLegacy), func(b []byte) error {
		d := decoder{b: b}
		until = int64(d.uvarint())
		return d.done("legacy dedup expiry")
	})
	return until, err
}

// loadLegacyUntil sets db.legacyUntil from meta.
func (db *DB) loadLegacyUntil() error {
	return db.bdb.View(func(txn *badger.Txn) (err error) {
		db.legacyUntil, err = legacyUntil(txn)
		if err != nil {
			return fmt.Errorf("open store %s: %w", db.dir, err)
		}
		return nil
	})
}
