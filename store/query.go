package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Queries read a consistent snapshot of the database (one Badger read
// transaction each) and may run concurrently with Write. Callbacks must
// not call back into the DB.

// view runs fn in a read transaction after checking ctx and Close.
func (db *DB) view(ctx context.Context, what string, fn func(txn *badger.Txn) error) error {
	release, err := db.enter()
	if err != nil {
		return err
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	if err := db.bdb.View(fn); err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	return nil
}

// scan calls fn for every live key with prefix, in key order (reverse:
// descending). fn returns false to stop. ctx is checked every 256 keys.
//
// prefetch has Badger read values ahead, each on a goroutine of its
// own: worth it for records that may sit in the value log (over
// ValueThreshold: snapshots, quarantined records, states), a waste for
// the small aggregates, whose values sit in the LSM tree and which
// item.Value reads as cheaply without (reading every fact of a 10 M
// record store spent a quarter of its time starting goroutines).
func scan(ctx context.Context, txn *badger.Txn, prefix []byte, prefetch, reverse bool, fn func(item *badger.Item) (bool, error)) error {
	it := txn.NewIterator(badger.IteratorOptions{
		PrefetchValues: prefetch,
		PrefetchSize:   64,
		Reverse:        reverse,
		Prefix:         prefix,
	})
	defer it.Close()
	start := prefix
	if reverse {
		start = append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, 16)...)
	}
	n := 0
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		more, err := fn(it.Item())
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	return nil
}

// FactQuery selects facts. Zero fields select everything.
type FactQuery struct {
	// Principal selects one principal's facts (an exact ARN) with a
	// prefix scan that never reads other principals. "" = all.
	Principal string
	// ActionPrefix keeps actions starting with it, case-sensitively in
	// catalog casing: "s3:" or "s3:Get". "" = all actions.
	ActionPrefix string
	// Action, with Principal, selects the facts of exactly that action
	// (ActionPrefix "s3:GetObject" would also read s3:GetObjectAcl).
	Action string
	// Since keeps facts last seen at or after it. Zero = all.
	Since time.Time
}

// EachFact calls fn for every fact q selects, ordered by principal, then
// action, then resource (byte order). It stops at fn's first error and
// returns it. Use it rather than Facts to walk all principals without
// holding every fact in memory.
func (db *DB) EachFact(ctx context.Context, q FactQuery, fn func(Fact) error) error {
	return db.view(ctx, "facts", func(txn *badger.Txn) error {
		var principals []string
		switch {
		case q.Principal != "" && q.Action != "":
			return scanFacts(ctx, txn, scanPrefix(pfxFact, q.Principal, q.Action), q.Since, fn)
		case q.Principal != "":
			principals = []string{q.Principal}
		case q.ActionPrefix != "":
			// One seek per principal instead of reading every fact.
			var err error
			if principals, err = listPrincipals(ctx, txn); err != nil {
				return err
			}
		default:
			return scanFacts(ctx, txn, []byte{pfxFact}, q.Since, fn)
		}
		for _, p := range principals {
			prefix := append(scanPrefix(pfxFact, p), q.ActionPrefix...)
			if err := scanFacts(ctx, txn, prefix, q.Since, fn); err != nil {
				return err
			}
		}
		return nil
	})
}

func scanFacts(ctx context.Context, txn *badger.Txn, prefix []byte, since time.Time, fn func(Fact) error) error {
	return scan(ctx, txn, prefix, false, false, func(item *badger.Item) (bool, error) {
		parts, ok := splitKey(item.Key(), 3)
		if !ok {
			return false, fmt.Errorf("%w: fact key %q", errCorrupt, item.Key())
		}
		var v factValue
		if err := item.Value(func(b []byte) (err error) { v, err = decodeFactValue(b); return err }); err != nil {
			return false, fmt.Errorf("fact %q: %w", item.Key(), err)
		}
		if !since.IsZero() && v.last.Before(since) {
			return true, nil
		}
		return true, fn(Fact{
			Principal: parts[0], Action: parts[1], Resource: parts[2],
			FirstSeen: v.first, LastSeen: v.last, Allowed: v.allowed, Denied: v.denied,
		})
	})
}

// Facts returns the facts q selects, in EachFact's order.
func (db *DB) Facts(ctx context.Context, q FactQuery) ([]Fact, error) {
	var out []Fact
	err := db.EachFact(ctx, q, func(f Fact) error {
		out = append(out, f)
		return nil
	})
	return out, err
}

// Principals returns every principal with at least one counted event,
// sorted.
func (db *DB) Principals(ctx context.Context) ([]string, error) {
	var out []string
	err := db.view(ctx, "principals", func(txn *badger.Txn) (err error) {
		out, err = listPrincipals(ctx, txn)
		return err
	})
	return out, err
}

func listPrincipals(ctx context.Context, txn *badger.Txn) ([]string, error) {
	var out []string
	err := scan(ctx, txn, []byte{pfxPrincipal}, false, false, func(item *badger.Item) (bool, error) {
		out = append(out, string(item.Key()[1:]))
		return true, nil
	})
	return out, err
}

// DayCounts returns the per-day counts of principal × action, oldest day
// first; days without calls are absent.
func (db *DB) DayCounts(ctx context.Context, principal, action string) ([]DayCount, error) {
	var out []DayCount
	prefix := scanPrefix(pfxDay, principal, action)
	err := db.view(ctx, "day counts", func(txn *badger.Txn) error {
		return scan(ctx, txn, prefix, false, false, func(item *badger.Item) (bool, error) {
			k := item.Key()
			if len(k) != len(prefix)+8 {
				return false, fmt.Errorf("%w: day key %q", errCorrupt, k)
			}
			var v dayValue
			if err := item.Value(func(b []byte) (err error) { v, err = decodeDayValue(b); return err }); err != nil {
				return false, err
			}
			day := getInt64(k[len(prefix):])
			out = append(out, DayCount{Day: time.Unix(day*86400, 0).UTC(), Allowed: v.allowed, Denied: v.denied})
			return true, nil
		})
	})
	return out, err
}

// KeyUsage returns what is known about one access key ID; false if it was
// never seen. Long-term keys (AKIA…) are kept for good; temporary STS
// keys (ASIA…) are dropped DedupTTL after their last write (Badger TTL,
// wall clock).
func (db *DB) KeyUsage(ctx context.Context, accessKeyID string) (KeyUsage, bool, error) {
	var (
		k     KeyUsage
		found bool
	)
	err := db.view(ctx, "key usage", func(txn *badger.Txn) (err error) {
		k, found, err = getKeyUsage(txn, accessKeyID)
		return err
	})
	return k, found, err
}

func getKeyUsage(txn *badger.Txn, id string) (KeyUsage, bool, error) {
	var (
		k     KeyUsage
		found bool
	)
	err := getValue(txn, key(pfxKey, id), func(b []byte) (err error) {
		found = true
		k, err = decodeKeyUsage(id, b)
		return err
	})
	return k, found, err
}

// KeysOf returns the usage of every access key owned by principal,
// ordered by access key ID.
func (db *DB) KeysOf(ctx context.Context, principal string) ([]KeyUsage, error) {
	var out []KeyUsage
	prefix := scanPrefix(pfxKeyOwner, principal)
	err := db.view(ctx, "keys of principal", func(txn *badger.Txn) error {
		var ids []string
		err := scan(ctx, txn, prefix, false, false, func(item *badger.Item) (bool, error) {
			ids = append(ids, string(item.Key()[len(prefix):]))
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			k, found, err := getKeyUsage(txn, id)
			if err != nil {
				return err
			}
			if !found {
				// A temporary key whose usage expired a moment before
				// its index entry.
				continue
			}
			out = append(out, k)
		}
		return nil
	})
	return out, err
}

// Sessions returns the role session names and source identities seen
// inside principal (most recent first, at most MaxSessionSeen each);
// false if there were none.
func (db *DB) Sessions(ctx context.Context, principal string) (PrincipalSessions, bool, error) {
	var (
		s     PrincipalSessions
		found bool
	)
	err := db.view(ctx, "sessions", func(txn *badger.Txn) error {
		return getValue(txn, key(pfxSessions, principal), func(b []byte) (err error) {
			found = true
			s, err = decodeSessions(principal, b)
			return err
		})
	})
	return s, found, err
}

// ConsoleSignIns returns principal's console sign-ins; false if it has
// none (or none since the store kept them: schema version 3).
func (db *DB) ConsoleSignIns(ctx context.Context, principal string) (ConsoleSignIns, bool, error) {
	var (
		s     ConsoleSignIns
		found bool
	)
	err := db.view(ctx, "console sign-ins", func(txn *badger.Txn) error {
		return getValue(txn, key(pfxSignIns, principal), func(b []byte) (err error) {
			found = true
			s, err = decodeSignIns(principal, b)
			return err
		})
	})
	return s, found, err
}

// CrossAccount returns the accounts other than its own that principal's
// calls landed in (most recent first, at most MaxRecipientAccounts);
// false if it made no cross-account call.
func (db *DB) CrossAccount(ctx context.Context, principal string) (CrossAccount, bool, error) {
	var (
		c     CrossAccount
		found bool
	)
	err := db.view(ctx, "cross-account", func(txn *badger.Txn) error {
		return getValue(txn, key(pfxCrossAcct, principal), func(b []byte) (err error) {
			found = true
			c, err = decodeCrossAccount(principal, b)
			return err
		})
	})
	return c, found, err
}

// EachCrossAccount calls fn for every principal that made cross-account
// calls, ordered by principal; it reads no other principal. It stops at
// fn's first error and returns it.
func (db *DB) EachCrossAccount(ctx context.Context, fn func(CrossAccount) error) error {
	return db.view(ctx, "cross-account", func(txn *badger.Txn) error {
		return scan(ctx, txn, []byte{pfxCrossAcct}, false, false, func(item *badger.Item) (bool, error) {
			p := string(item.Key()[1:])
			var c CrossAccount
			if err := item.Value(func(b []byte) (err error) { c, err = decodeCrossAccount(p, b); return err }); err != nil {
				return false, fmt.Errorf("cross-account %q: %w", p, err)
			}
			return true, fn(c)
		})
	})
}

// Checkpoint returns the checkpoint of source; false if there is none.
func (db *DB) Checkpoint(ctx context.Context, source string) (Checkpoint, bool, error) {
	var (
		c     Checkpoint
		found bool
	)
	err := db.view(ctx, "checkpoint", func(txn *badger.Txn) error {
		return getValue(txn, key(pfxCheckpoint, source), func(b []byte) (err error) {
			found = true
			c, err = decodeCheckpoint(source, b)
			return err
		})
	})
	return c, found, err
}

// Checkpoints returns the checkpoints whose Source starts with prefix
// ("" = all), ordered by Source.
func (db *DB) Checkpoints(ctx context.Context, prefix string) ([]Checkpoint, error) {
	var out []Checkpoint
	p := key(pfxCheckpoint, prefix)
	err := db.view(ctx, "checkpoints", func(txn *badger.Txn) error {
		return scan(ctx, txn, p, false, false, func(item *badger.Item) (bool, error) {
			src := string(item.Key()[1:])
			var c Checkpoint
			if err := item.Value(func(b []byte) (err error) { c, err = decodeCheckpoint(src, b); return err }); err != nil {
				return false, err
			}
			out = append(out, c)
			return true, nil
		})
	})
	return out, err
}

// Quarantine returns up to limit quarantined records, most recently
// added first (limit <= 0: all). A record re-quarantined with the same
// Where keeps its original position.
func (db *DB) Quarantine(ctx context.Context, limit int) ([]Quarantined, error) {
	var out []Quarantined
	err := db.view(ctx, "quarantine", func(txn *badger.Txn) error {
		return scan(ctx, txn, []byte{pfxQuarantine}, true, true, func(item *badger.Item) (bool, error) {
			var q Quarantined
			if err := item.Value(func(b []byte) (err error) { q, err = decodeQuarantined(b); return err }); err != nil {
				return false, err
			}
			out = append(out, q)
			return limit <= 0 || len(out) < limit, nil
		})
	})
	return out, err
}

// QuarantineCounts returns how many quarantined records there are per
// Reason.
func (db *DB) QuarantineCounts(ctx context.Context) (map[string]uint64, error) {
	out := map[string]uint64{}
	err := db.view(ctx, "quarantine counts", func(txn *badger.Txn) error {
		return scan(ctx, txn, []byte{pfxQReason}, false, false, func(item *badger.Item) (bool, error) {
			reason := string(item.Key()[1:])
			return true, item.Value(func(b []byte) error {
				d := decoder{b: b}
				out[reason] = d.uvarint()
				return d.done("quarantine count")
			})
		})
	})
	return out, err
}

// Seen reports whether the event eventID of time t is in the dedup set
// (within DedupTTL of its counting, by Options.Now): whether Write would
// skip it as a duplicate.
func (db *DB) Seen(ctx context.Context, eventID string, t time.Time) (bool, error) {
	var seen bool
	now := db.opts.Now().Unix()
	hour, hash := dedupHour(t.UTC()), dedupHash(eventID)
	err := db.view(ctx, "seen", func(txn *badger.Txn) error {
		for _, h := range [3]int64{hour, hour - 1, hour + 1} {
			err := loadDedupHour(txn, h, now, func(x uint64, _ int64) {
				seen = seen || x == hash
			})
			if err != nil || seen {
				return err
			}
		}
		if now >= db.legacy.until || !db.legacy.covers(t) {
			return nil
		}
		var err error
		seen, err = legacySeen(txn, hash, now)
		return err
	})
	return seen, err
}

// Raw returns the retained raw record of eventID; false when raw
// retention is off, the event was not kept, or its retention is over.
func (db *DB) Raw(ctx context.Context, eventID string) ([]byte, bool, error) {
	var (
		raw   []byte
		found bool
	)
	now := db.opts.Now()
	err := db.view(ctx, "raw record", func(txn *badger.Txn) error {
		return getValue(txn, key(pfxRaw, eventID), func(b []byte) error {
			d := decoder{b: b}
			expiry := d.uvarint()
			raw = d.bytes()
			found = now.Unix() < int64(expiry)
			return d.done("raw record")
		})
	})
	if !found {
		raw = nil
	}
	return raw, found, err
}

// Stats counts what the store holds.
type Stats struct {
	Facts        int64 // principal × action × resource aggregates
	Actions      int64 // principal × action totals
	DayCounts    int64 // principal × action × day counters
	Principals   int64
	Keys         int64 // access key IDs
	Sessions     int64 // principals with session names or source identities
	CrossAccount int64 // principals with calls into other accounts
	SignIns      int64 // principals with console sign-ins
	Dedup        int64 // event IDs in the dedup set, legacy entries included (Badger TTL not yet passed)
	Raw          int64 // retained raw records
	Checkpoints  int64
	Quarantined  int64
	Snapshots    int64
	LSMBytes     int64 // on-disk size of the LSM tree (0 in memory)
	VLogBytes    int64 // on-disk size of the value log (0 in memory)
}

// Stats walks every key once (keys only, no values), so it costs a
// fraction of a second per million keys.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := db.view(ctx, "stats", func(txn *badger.Txn) (err error) {
		s, err = countRecords(ctx, txn)
		return err
	})
	if err != nil {
		return s, err
	}
	if !db.opts.InMemory {
		s.LSMBytes, s.VLogBytes = diskSizes(db.opts.Dir)
	}
	return s, nil
}

// diskSizes sums the sizes of the LSM tables and value-log files in dir.
// Badger's own DB.Size reads its metrics, which the store turns off, so
// it would say 0.
func diskSizes(dir string) (lsm, vlog int64) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		switch filepath.Ext(e.Name()) {
		case ".sst":
			lsm += info.Size()
		case ".vlog":
			vlog += info.Size()
		}
	}
	return lsm, vlog
}

// countRecords counts the records of each kind in txn.
func countRecords(ctx context.Context, txn *badger.Txn) (Stats, error) {
	var s Stats
	err := scan(ctx, txn, nil, false, false, func(item *badger.Item) (bool, error) {
		switch item.Key()[0] {
		case pfxFact:
			s.Facts++
		case pfxAction:
			s.Actions++
		case pfxDay:
			s.DayCounts++
		case pfxPrincipal:
			s.Principals++
		case pfxKey:
			s.Keys++
		case pfxSessions:
			s.Sessions++
		case pfxCrossAcct:
			s.CrossAccount++
		case pfxSignIns:
			s.SignIns++
		case pfxDedupLegacy:
			s.Dedup++
		case pfxDedupHour:
			err := item.Value(func(v []byte) error {
				n, err := decodeDedupSegment(v, 0, nil)
				s.Dedup += int64(n)
				return err
			})
			if err != nil {
				return false, fmt.Errorf("read %x: %w", item.Key(), err)
			}
		case pfxRaw:
			s.Raw++
		case pfxCheckpoint:
			s.Checkpoints++
		case pfxQuarantine:
			s.Quarantined++
		case pfxSnapshot:
			s.Snapshots++
		}
		return true, nil
	})
	return s, err
}
