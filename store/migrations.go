package store

import (
	"context"
	"encoding/hex"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// migrations are the steps from each released schema version to the
// next, in order: migrations()[i] migrates version i+1 (migrate.go says
// how to add one).
//
// Between version 1 (0bb9ac5) and 2 (8df75c1) only the dedup set changed:
// its per-event keys (u, e) became hour segments (h) with their sequence
// (m dseq, absent reads as none used). Every other key and value kept its
// layout; the State records (S) came within version 1 and cross-account
// recipients (x) within version 2, each under a new prefix.
func migrations() []migration {
	return []migration{
		{
			from:  1,
			about: "keep the per-event dedup entries of schema 1 as legacy dedup entries",
			count: func(ctx context.Context, txn *badger.Txn, cursor []byte) (int64, error) {
				return countKeys(ctx, txn, v1DedupPrefixes, cursor)
			},
			apply: migrateV1Dedup,
		},
	}
}

// v1DedupPrefixes are schema 1's dedup keys, ascending: e<eventID> for
// any event ID, u<uuid:16> for canonical lowercase UUIDs.
var v1DedupPrefixes = [][]byte{{'e'}, {'u'}}

// migrateV1Dedup moves schema 1 dedup entries to legacy entries
// (legacydedup.go): their keys held the event ID but not its time, so
// they cannot go into hour segments. An entry already expired by
// Options.Now is dropped; the others keep their expiry and Badger TTL.
func migrateV1Dedup(m *migrationTxn, cursor []byte, limit int) ([]byte, int, error) {
	now := m.now.Unix()
	until, err := legacyUntil(m.txn)
	if err != nil {
		return nil, 0, err
	}
	next, n, err := eachKey(m.txn, v1DedupPrefixes, cursor, limit, true, func(item *badger.Item) error {
		k := item.KeyCopy(nil)
		id, err := v1EventID(k)
		if err != nil {
			return err
		}
		var expiry int64
		if err := item.Value(func(b []byte) error {
			d := decoder{b: b}
			expiry = int64(d.uvarint())
			return d.done("schema 1 dedup entry")
		}); err != nil {
			return fmt.Errorf("read %q: %w", k, err)
		}
		if err := m.txn.Delete(k); err != nil {
			return err
		}
		if expiry <= now {
			return nil
		}
		until = max(until, expiry)
		return putLegacy(m.txn, dedupHash(id), expiry, item.ExpiresAt())
	})
	if err != nil {
		return nil, n, err
	}
	if until > 0 {
		e := encoder{}
		e.uvarint(uint64(until))
		if err := m.txn.Set(key(pfxMeta, metaLegacy), e.b); err != nil {
			return nil, n, err
		}
	}
	return next, n, nil
}

// v1EventID is the event ID of a schema 1 dedup key: u keys packed a
// canonical lowercase UUID into 16 bytes, e keys held the ID as is.
func v1EventID(k []byte) (string, error) {
	switch {
	case len(k) == 17 && k[0] == 'u':
		h := hex.EncodeToString(k[1:])
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
	case len(k) > 1 && k[0] == 'e':
		return string(k[1:]), nil
	}
	return "", fmt.Errorf("%w: schema 1 dedup key %q", errCorrupt, k)
}
