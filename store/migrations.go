package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

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
// The first chunk also computes the bound on event time, from the latest
// time the schema 1 store holds; every chunk saves the bounds.
func migrateV1Dedup(m *migrationTxn, cursor []byte, limit int) ([]byte, int, error) {
	now := m.now.Unix()
	l, err := readLegacyBounds(m.txn)
	if err != nil {
		return nil, 0, err
	}
	if cursor == nil {
		latest, err := latestEventTime(m.txn)
		if err != nil {
			return nil, 0, err
		}
		// The hour segments count the same ID in the hours either side
		// as one event; so does the legacy set.
		l.before = latest.Unix() + 2*3600
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
		l.until = max(l.until, expiry)
		return putLegacy(m.txn, dedupHash(id), expiry, item.ExpiresAt())
	})
	if err != nil {
		return nil, n, err
	}
	// Saved whatever this chunk kept: the bound is computed by the first
	// chunk alone, and one that kept nothing (every entry it met had
	// expired) would otherwise leave the later chunks a zero bound, which
	// no event is older than. With no entry kept at all, until stays 0
	// and Write reads nothing more.
	if err := m.txn.Set(key(pfxMeta, metaLegacy), l.encode()); err != nil {
		return nil, n, err
	}
	return next, n, nil
}

// latestEventTime is the latest event time a schema 1 store recorded:
// the last use of a fact, an access key or a session name or source
// identity. It reads every such record once, in the migration.
func latestEventTime(txn *badger.Txn) (time.Time, error) {
	var latest time.Time
	later := func(t time.Time) {
		if t.After(latest) {
			latest = t
		}
	}
	_, _, err := eachKey(txn, [][]byte{{pfxFact}, {pfxKey}, {pfxSessions}}, nil, -1, true, func(item *badger.Item) error {
		k := item.Key()
		return item.Value(func(b []byte) error {
			switch k[0] {
			case pfxFact:
				v, err := decodeFactValue(b)
				later(v.last)
				return err
			case pfxKey:
				u, err := decodeKeyUsage(string(k[1:]), b)
				later(u.LastSeen)
				return err
			default:
				s, err := decodeSessions(string(k[1:]), b)
				for _, x := range append(s.SessionNames, s.SourceIdentities...) {
					later(x.LastSeen)
				}
				return err
			}
		})
	})
	return latest, err
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
