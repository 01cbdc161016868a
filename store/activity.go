package store

import (
	"bytes"
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
		return scan(ctx, txn, prefix, true, false, func(item *badger.Item) (bool, error) {
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

// EachLastDay calls fn once per principal × action with the newest day
// (midnight UTC) on which the principal called the action, allowed or
// denied, ordered by principal, then action. It reads keys only, so it
// walks a million day counts in a fraction of a second: enough to find
// where a store's activity ends and which actions were called lately
// without reading a single fact. It stops at fn's first error.
func (db *DB) EachLastDay(ctx context.Context, fn func(principal, action string, day time.Time) error) error {
	return db.view(ctx, "last days", func(txn *badger.Txn) error {
		var (
			run  []byte // <principal> sep <action> of the current run of keys
			last int64
		)
		emit := func() error {
			p, a, ok := bytes.Cut(run, []byte{sep})
			if !ok {
				return fmt.Errorf("%w: day key %q", errCorrupt, run)
			}
			return fn(string(p), string(a), time.Unix(last*86400, 0).UTC())
		}
		err := scan(ctx, txn, []byte{pfxDay}, false, false, func(item *badger.Item) (bool, error) {
			k := item.Key()
			if len(k) < 11 || k[len(k)-9] != sep {
				return false, fmt.Errorf("%w: day key %q", errCorrupt, k)
			}
			head := k[1 : len(k)-9]
			if !bytes.Equal(head, run) {
				if run != nil {
					if err := emit(); err != nil {
						return false, err
					}
				}
				run = append(run[:0], head...)
			}
			// Days of one run ascend: the last key is the newest.
			last = getInt64(k[len(k)-8:])
			return true, nil
		})
		if err != nil || run == nil {
			return err
		}
		return emit()
	})
}
