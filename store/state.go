package store

import (
	"context"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// State is a small record a component keeps for itself, such as the
// rotator's per-key rotation state. The store does not interpret Data;
// the owner encodes it (and versions its own format). Kind names the
// owner and record type ("rotation"), ID the record ("AKIA…").
type State struct {
	Kind    string
	ID      string
	Data    []byte
	Updated time.Time // set by PutState from the injected clock when zero
}

// MaxStateSize caps State.Data: state is meant to be small.
const MaxStateSize = 256 << 10

func stateKey(kind, id string) []byte { return key(pfxState, kind, id) }

func validateState(kind, id string) error {
	if err := component("State.Kind", kind, true); err != nil {
		return err
	}
	return component("State.ID", id, true)
}

// PutState stores s, replacing the record with the same Kind and ID. If
// prev is not nil, the write happens only when the stored Updated time
// equals *prev (the zero time: no record yet), else it fails with
// ErrConflict; this lets two processes (daemon and CLI) update a record
// without losing each other's change.
func (db *DB) PutState(ctx context.Context, s State, prev *time.Time) error {
	if err := validateState(s.Kind, s.ID); err != nil {
		return fmt.Errorf("store put state: %w", err)
	}
	if len(s.Data) > MaxStateSize {
		return fmt.Errorf("store put state %s/%s: %d bytes, limit %d: %w", s.Kind, s.ID, len(s.Data), MaxStateSize, ErrTooLarge)
	}
	release, err := db.enter()
	if err != nil {
		return err
	}
	defer release()
	// Serialized with Write so the compare-and-set holds (conflict
	// detection is off).
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store put state: %w", err)
	}
	if s.Updated.IsZero() {
		s.Updated = db.opts.Now()
	}
	k := stateKey(s.Kind, s.ID)
	err = db.bdb.Update(func(txn *badger.Txn) error {
		if prev != nil {
			var cur State
			if err := getValue(txn, k, func(b []byte) (err error) { cur, err = decodeState(s.Kind, s.ID, b); return err }); err != nil {
				return err
			}
			if !cur.Updated.Equal(*prev) {
				return fmt.Errorf("%w: stored version %s, expected %s", ErrConflict,
					cur.Updated.Format(time.RFC3339Nano), prev.Format(time.RFC3339Nano))
			}
		}
		e := encoder{}
		e.time(s.Updated)
		e.bytes(s.Data)
		return txn.Set(k, e.b)
	})
	if err != nil {
		return fmt.Errorf("store put state %s/%s: %w", s.Kind, s.ID, err)
	}
	return nil
}

func decodeState(kind, id string, b []byte) (State, error) {
	d := decoder{b: b}
	s := State{Kind: kind, ID: id, Updated: d.time(), Data: d.bytes()}
	return s, d.done("state")
}

// GetState returns the record kind/id; false if there is none.
func (db *DB) GetState(ctx context.Context, kind, id string) (State, bool, error) {
	var (
		s     State
		found bool
	)
	err := db.view(ctx, "state", func(txn *badger.Txn) error {
		return getValue(txn, stateKey(kind, id), func(b []byte) (err error) {
			found = true
			s, err = decodeState(kind, id, b)
			return err
		})
	})
	return s, found, err
}

// States returns every record of kind, ordered by ID.
func (db *DB) States(ctx context.Context, kind string) ([]State, error) {
	var out []State
	prefix := scanPrefix(pfxState, kind)
	err := db.view(ctx, "states", func(txn *badger.Txn) error {
		return scan(ctx, txn, prefix, true, false, func(item *badger.Item) (bool, error) {
			id := string(item.Key()[len(prefix):])
			var s State
			if err := item.Value(func(b []byte) (err error) { s, err = decodeState(kind, id, b); return err }); err != nil {
				return false, err
			}
			out = append(out, s)
			return true, nil
		})
	})
	return out, err
}

// DeleteState removes the record kind/id; deleting a missing record is
// not an error.
func (db *DB) DeleteState(ctx context.Context, kind, id string) error {
	if err := validateState(kind, id); err != nil {
		return fmt.Errorf("store delete state: %w", err)
	}
	release, err := db.enter()
	if err != nil {
		return err
	}
	defer release()
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store delete state: %w", err)
	}
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Delete(stateKey(kind, id)) }); err != nil {
		return fmt.Errorf("store delete state %s/%s: %w", kind, id, err)
	}
	return nil
}
