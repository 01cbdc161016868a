package store

import (
	"context"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// SnapshotInfo describes a stored snapshot without its data.
type SnapshotInfo struct {
	AccountID string
	Taken     time.Time
	Stored    int64 // bytes on disk after compression
}

// PutSnapshot stores s, compressed, under its AccountID and Taken time
// (nanosecond precision). A snapshot with the same AccountID and Taken
// replaces the earlier one.
func (db *DB) PutSnapshot(ctx context.Context, s Snapshot) error {
	if err := component("Snapshot.AccountID", s.AccountID, true); err != nil {
		return fmt.Errorf("store put snapshot: %w", err)
	}
	if s.Taken.IsZero() {
		return fmt.Errorf("store put snapshot: %w", &ValidationError{Field: "Snapshot.Taken", Reason: "zero"})
	}
	release, err := db.enter()
	if err != nil {
		return err
	}
	defer release()
	data := db.zenc.EncodeAll(s.Data, nil)
	// Badger keeps a value within one value-log file.
	if limit := db.opts.ValueLogFileSize / 2; int64(len(data)) > limit {
		return fmt.Errorf("store put snapshot %s: %d bytes compressed, limit %d (raise ValueLogFileSize): %w",
			s.AccountID, len(data), limit, ErrTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store put snapshot: %w", err)
	}
	err = db.bdb.Update(func(txn *badger.Txn) error {
		return txn.Set(snapshotKey(s.AccountID, s.Taken), data)
	})
	if err != nil {
		return fmt.Errorf("store put snapshot %s: %w", s.AccountID, err)
	}
	return nil
}

// Snapshots lists the snapshots of accountID, oldest first.
func (db *DB) Snapshots(ctx context.Context, accountID string) ([]SnapshotInfo, error) {
	var out []SnapshotInfo
	prefix := scanPrefix(pfxSnapshot, accountID)
	err := db.view(ctx, "snapshots", func(txn *badger.Txn) error {
		return scan(ctx, txn, prefix, false, false, func(item *badger.Item) (bool, error) {
			info, err := snapshotInfo(prefix, accountID, item)
			out = append(out, info)
			return err == nil, err
		})
	})
	return out, err
}

// SnapshotAccounts lists the accounts that have stored snapshots,
// sorted.
func (db *DB) SnapshotAccounts(ctx context.Context) ([]string, error) {
	var out []string
	err := db.view(ctx, "snapshot accounts", func(txn *badger.Txn) error {
		return scan(ctx, txn, []byte{pfxSnapshot}, false, false, func(item *badger.Item) (bool, error) {
			k := item.Key()[1:]
			i := indexByte(k, sep)
			if i < 0 {
				return false, fmt.Errorf("%w: snapshot key %q", errCorrupt, item.Key())
			}
			if acct := string(k[:i]); len(out) == 0 || out[len(out)-1] != acct {
				out = append(out, acct)
			}
			return true, nil
		})
	})
	return out, err
}

func snapshotInfo(prefix []byte, accountID string, item *badger.Item) (SnapshotInfo, error) {
	k := item.Key()
	if len(k) != len(prefix)+8 {
		return SnapshotInfo{}, fmt.Errorf("%w: snapshot key %q", errCorrupt, k)
	}
	return SnapshotInfo{
		AccountID: accountID,
		Taken:     time.Unix(0, getInt64(k[len(prefix):])).UTC(),
		Stored:    item.ValueSize(),
	}, nil
}

// Snapshot returns the snapshot of accountID taken at taken; ErrNotFound
// if there is none.
func (db *DB) Snapshot(ctx context.Context, accountID string, taken time.Time) (Snapshot, error) {
	var (
		s     Snapshot
		found bool
	)
	err := db.view(ctx, "snapshot", func(txn *badger.Txn) error {
		return getValue(txn, snapshotKey(accountID, taken), func(b []byte) (err error) {
			found = true
			s, err = db.decodeSnapshot(accountID, taken, b)
			return err
		})
	})
	if err == nil && !found {
		err = fmt.Errorf("store snapshot %s at %s: %w", accountID, taken.UTC().Format(time.RFC3339Nano), ErrNotFound)
	}
	return s, err
}

// LatestSnapshot returns the most recent snapshot of accountID; false if
// there is none.
func (db *DB) LatestSnapshot(ctx context.Context, accountID string) (Snapshot, bool, error) {
	var (
		s     Snapshot
		found bool
	)
	prefix := scanPrefix(pfxSnapshot, accountID)
	err := db.view(ctx, "latest snapshot", func(txn *badger.Txn) error {
		return scan(ctx, txn, prefix, true, true, func(item *badger.Item) (bool, error) {
			info, err := snapshotInfo(prefix, accountID, item)
			if err != nil {
				return false, err
			}
			found = true
			return false, item.Value(func(b []byte) (err error) {
				s, err = db.decodeSnapshot(accountID, info.Taken, b)
				return err
			})
		})
	})
	return s, found, err
}

func (db *DB) decodeSnapshot(accountID string, taken time.Time, b []byte) (Snapshot, error) {
	data, err := db.zdec.DecodeAll(b, nil)
	if err != nil {
		return Snapshot{}, fmt.Errorf("decompress snapshot %s: %w", accountID, err)
	}
	return Snapshot{AccountID: accountID, Taken: taken.UTC(), Data: data}, nil
}
