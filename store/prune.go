package store

import (
	"context"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// pruneChunk is how many records one pruning transaction deletes; well
// inside a transaction's entry limit.
const pruneChunk = 1000

// PruneQuarantine deletes quarantined records whose Time is before
// before, with their index entries and per-reason counts, and returns
// how many it deleted. The quarantine has no TTL because records are
// kept for inspection and replay; call this from a retention job.
func (db *DB) PruneQuarantine(ctx context.Context, before time.Time) (int, error) {
	release, err := db.enter()
	if err != nil {
		return 0, err
	}
	defer release()
	deleted := 0
	var from []byte
	for {
		if err := ctx.Err(); err != nil {
			return deleted, fmt.Errorf("store prune quarantine: %w", err)
		}
		n, next, err := db.pruneQuarantineChunk(ctx, before, from)
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("store prune quarantine: %w", err)
		}
		if next == nil {
			return deleted, nil
		}
		from = next
	}
}

// pruneQuarantineChunk deletes up to pruneChunk old records at or after
// key from; next is where to continue, nil when the scan is done.
func (db *DB) pruneQuarantineChunk(ctx context.Context, before time.Time, from []byte) (n int, next []byte, err error) {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	err = db.bdb.Update(func(txn *badger.Txn) error {
		var old []Quarantined
		var keys [][]byte
		prefix := []byte{pfxQuarantine}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: prefix})
		defer it.Close()
		start := prefix
		if from != nil {
			start = from
		}
		for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
			if len(old) == pruneChunk {
				next = it.Item().KeyCopy(nil)
				break
			}
			var q Quarantined
			if err := it.Item().Value(func(b []byte) (err error) { q, err = decodeQuarantined(b); return err }); err != nil {
				return err
			}
			if q.Time.Before(before) {
				old = append(old, q)
				keys = append(keys, it.Item().KeyCopy(nil))
			}
		}
		delta := map[string]int64{}
		for i, q := range old {
			if err := txn.Delete(keys[i]); err != nil {
				return err
			}
			if err := txn.Delete(key(pfxQWhere, q.Where)); err != nil {
				return err
			}
			delta[q.Reason]--
		}
		n = len(old)
		return applyReasonDelta(txn, delta)
	})
	if err != nil {
		return 0, nil, err
	}
	return n, next, ctx.Err()
}

// DeleteSnapshot removes the snapshot of accountID taken at taken;
// deleting a missing snapshot is not an error.
func (db *DB) DeleteSnapshot(ctx context.Context, accountID string, taken time.Time) error {
	release, err := db.enter()
	if err != nil {
		return err
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store delete snapshot: %w", err)
	}
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Delete(snapshotKey(accountID, taken)) }); err != nil {
		return fmt.Errorf("store delete snapshot %s: %w", accountID, err)
	}
	return nil
}
