package store

import (
	"context"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// EachDayCountOf calls fn for every per-day count of principal, ordered
// by action, then day (oldest first): one prefix scan, where DayCounts
// needs one per action. It stops at fn's first error and returns it.
func (db *DB) EachDayCountOf(ctx context.Context, principal string, fn func(action string, d DayCount) error) error {
	prefix := scanPrefix(pfxDay, principal)
	return db.view(ctx, "day counts of principal", func(txn *badger.Txn) error {
		return scan(ctx, txn, prefix, false, false, func(item *badger.Item) (bool, error) {
			k := item.Key()
			rest := k[len(prefix):]
			// rest is <action> sep <day:8>.
			if len(rest) < 10 || rest[len(rest)-9] != sep {
				return false, fmt.Errorf("%w: day key %q", errCorrupt, k)
			}
			var v dayValue
			if err := item.Value(func(b []byte) (err error) { v, err = decodeDayValue(b); return err }); err != nil {
				return false, err
			}
			day := getInt64(rest[len(rest)-8:])
			d := DayCount{Day: time.Unix(day*86400, 0).UTC(), Allowed: v.allowed, Denied: v.denied}
			return true, fn(string(rest[:len(rest)-9]), d)
		})
	})
}

// EachActionOf calls fn with the totals of every action principal
// called, ordered by action: one record per action, however many
// resources it touched. It stops at fn's first error and returns it.
func (db *DB) EachActionOf(ctx context.Context, principal string, fn func(ActionUsage) error) error {
	return db.view(ctx, "actions of principal", func(txn *badger.Txn) error {
		return scanActions(ctx, txn, scanPrefix(pfxAction, principal), fn)
	})
}

// EachAction calls fn with the totals of every principal × action,
// ordered by principal, then action. It stops at fn's first error and
// returns it.
func (db *DB) EachAction(ctx context.Context, fn func(ActionUsage) error) error {
	return db.view(ctx, "actions", func(txn *badger.Txn) error {
		return scanActions(ctx, txn, []byte{pfxAction}, fn)
	})
}

func scanActions(ctx context.Context, txn *badger.Txn, prefix []byte, fn func(ActionUsage) error) error {
	return scan(ctx, txn, prefix, false, false, func(item *badger.Item) (bool, error) {
		parts, ok := splitKey(item.Key(), 2)
		if !ok {
			return false, fmt.Errorf("%w: action key %q", errCorrupt, item.Key())
		}
		var v actionValue
		if err := item.Value(func(b []byte) (err error) { v, err = decodeActionValue(b); return err }); err != nil {
			return false, fmt.Errorf("action usage %q: %w", item.Key(), err)
		}
		return true, fn(v.usage(parts[0], parts[1]))
	})
}
