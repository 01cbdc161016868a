package store

import (
	"bytes"
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
//
// Version 3 added the per principal × action totals (a), which Write
// keeps with the facts and the migration builds from them, and console
// sign-ins (i), which start empty: older builds did not keep sign-ins.
// Every Seen entry (access keys' source IPs and user agents, sessions'
// names and source identities) gained its first sighting, in the middle
// of the value, so key usage (k) and session (s) records are rewritten;
// their existing entries get no first sighting (zero: unknown) rather
// than a guess such as the key's own first use, which would read as
// "seen since the key was" to a check of new source IPs.
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
		{
			from:  2,
			about: "sum up each principal × action, and keep first sightings in source IP, user agent and session lists",
			count: countV2,
			apply: migrateV2,
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

// latestEventTime is the latest event time a schema 1 store recorded
// (in its layout, which version 2 kept for these records):
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
				u, err := decodeKeyUsageV2(string(k[1:]), b)
				later(u.LastSeen)
				return err
			default:
				s, err := decodeSessionsV2(string(k[1:]), b)
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

// v2Prefixes are what the step to version 3 goes through, in key order:
// the facts (one principal × action at a time), then the access keys'
// usage and the session lists to rewrite.
var v2Prefixes = [][]byte{{pfxFact}, {pfxKey}, {pfxSessions}}

// countV2 counts what migrateV2 has left from cursor: principal ×
// action pairs of the facts, access keys and session lists.
func countV2(ctx context.Context, txn *badger.Txn, cursor []byte) (int64, error) {
	var n int64
	var pair []byte
	_, _, err := eachKey(txn, v2Prefixes, cursor, -1, false, func(item *badger.Item) error {
		k := item.Key()
		if k[0] == pfxFact {
			p := factPair(k)
			if bytes.Equal(p, pair) {
				return nil
			}
			pair = append(pair[:0], p...)
		}
		if n++; n%4096 == 0 {
			return ctx.Err()
		}
		return nil
	})
	return n, err
}

// factPair is the principal × action part of a fact key (prefix and
// separators included).
func factPair(k []byte) []byte {
	n := 0
	for i := 1; i < len(k); i++ {
		if k[i] == sep {
			if n++; n == 2 {
				return k[:i+1]
			}
		}
	}
	return k
}

// migrateV2 builds the totals of up to limit principal × action pairs
// from their facts and per-day counts, then rewrites up to limit access
// key usage and session records with first sightings (unknown).
func migrateV2(m *migrationTxn, cursor []byte, limit int) ([]byte, int, error) {
	if cursor == nil || cursor[0] == pfxFact {
		next, n, err := migrateV2Actions(m.txn, cursor, limit)
		if err != nil || next != nil || n == limit {
			if next == nil && err == nil {
				// The facts ended exactly at the limit: go on with the keys.
				next = []byte{pfxKey}
			}
			return next, n, err
		}
		cursor = []byte{pfxKey}
		limit -= n
		next, k, err := migrateV2Seen(m.txn, cursor, limit)
		return next, n + k, err
	}
	return migrateV2Seen(m.txn, cursor, limit)
}

// migrateV2Actions writes the totals of up to limit pairs from cursor
// (a fact key that starts a pair; nil: the first). The calls are the
// per-day counts summed (each record counts once per action, as Write
// counts them); the rest comes from the facts. next is the first fact
// of the pair after the last one done (nil: none left).
func migrateV2Actions(txn *badger.Txn, cursor []byte, limit int) (next []byte, n int, err error) {
	prefix := []byte{pfxFact}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	start := prefix
	if cursor != nil {
		start = cursor
	}
	var (
		pair []byte
		v    actionValue
	)
	flush := func() error {
		if pair == nil {
			return nil
		}
		principal, action, _ := splitPair(pair)
		calls, err := sumDays(txn, principal, action)
		if err != nil {
			return err
		}
		v.allowed, v.denied = calls.allowed, calls.denied
		n++
		return txn.Set(key(pfxAction, principal, action), v.encode(nil))
	}
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		k := it.Item().Key()
		if p := factPair(k); !bytes.Equal(p, pair) {
			if err := flush(); err != nil {
				return nil, n, err
			}
			if n == limit {
				return it.Item().KeyCopy(nil), n, nil
			}
			pair, v = append(pair[:0], p...), actionValue{}
		}
		var f factValue
		if err := it.Item().Value(func(b []byte) (err error) { f, err = decodeFactValue(b); return err }); err != nil {
			return nil, n, fmt.Errorf("read %q: %w", k, err)
		}
		v.first = earlier(v.first, f.first)
		v.last = later(v.last, f.last)
		if f.denied > 0 {
			v.lastDenied = later(v.lastDenied, f.last)
		}
		v.addFact(string(k[len(pair):]), factValue{}, false, f)
	}
	return nil, n, flush()
}

// splitPair reads principal and action from a factPair.
func splitPair(pair []byte) (principal, action string, ok bool) {
	parts, ok := splitKey(pair[:len(pair)-1], 2)
	if !ok {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// sumDays adds up the per-day counts of principal × action.
func sumDays(txn *badger.Txn, principal, action string) (dayValue, error) {
	var sum dayValue
	prefix := scanPrefix(pfxDay, principal, action)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		err := it.Item().Value(func(b []byte) error {
			d, err := decodeDayValue(b)
			sum.allowed += d.allowed
			sum.denied += d.denied
			return err
		})
		if err != nil {
			return sum, fmt.Errorf("read %q: %w", it.Item().Key(), err)
		}
	}
	return sum, nil
}

// migrateV2Seen rewrites up to limit access key usage and session
// records from cursor in version 3's layout, keeping their Badger TTL.
func migrateV2Seen(txn *badger.Txn, cursor []byte, limit int) ([]byte, int, error) {
	return eachKey(txn, [][]byte{{pfxKey}, {pfxSessions}}, cursor, limit, true, func(item *badger.Item) error {
		k := item.KeyCopy(nil)
		var enc []byte
		err := item.Value(func(b []byte) error {
			if k[0] == pfxKey {
				u, err := decodeKeyUsageV2(string(k[1:]), b)
				enc = encodeKeyUsage(nil, u)
				return err
			}
			s, err := decodeSessionsV2(string(k[1:]), b)
			enc = encodeSessions(nil, s)
			return err
		})
		if err != nil {
			return fmt.Errorf("read %q: %w", k, err)
		}
		return txn.SetEntry(&badger.Entry{Key: k, Value: enc, ExpiresAt: item.ExpiresAt()})
	})
}

// decodeKeyUsageV2 and decodeSessionsV2 read what versions 1 and 2 wrote.
func decodeKeyUsageV2(id string, b []byte) (KeyUsage, error) {
	d := decoder{b: b}
	k := KeyUsage{AccessKeyID: id, Principal: d.str(), FirstSeen: d.time(), LastSeen: d.time(), Calls: d.uvarint()}
	k.SourceIPs = d.seenV2()
	k.UserAgents = d.seenV2()
	return k, d.done("key usage (schema 2)")
}

func decodeSessionsV2(principal string, b []byte) (PrincipalSessions, error) {
	d := decoder{b: b}
	s := PrincipalSessions{Principal: principal}
	s.SessionNames = d.seenV2()
	s.SourceIdentities = d.seenV2()
	return s, d.done("sessions (schema 2)")
}
