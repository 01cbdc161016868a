package rotator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/iamd/iamd/store"
)

func openMem(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSaveIsCompareAndSet: two processes that read the same record cannot
// both write it, even under a clock that does not move.
func TestSaveIsCompareAndSet(t *testing.T) {
	ctx := context.Background()
	db := openMem(t)
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	rec := &Record{User: "alice", UserARN: "arn:aws:iam::111122223333:user/alice", Phase: PhasePlanned, OldKey: "AKIAOLD"}
	if err := save(ctx, db, now, rec, "planned"); err != nil {
		t.Fatal(err)
	}
	recs, err := loadRecords(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	a, b := recs[rec.UserARN], *recs[rec.UserARN]
	a.Phase = PhaseCreated
	if err := save(ctx, db, now, a, ""); err != nil {
		t.Fatalf("first writer: %v", err)
	}
	b.Phase = PhaseWaiting
	if err := save(ctx, db, now, &b, ""); !errors.Is(err, ErrConcurrent) {
		t.Fatalf("second writer with a stale copy: err = %v, want ErrConcurrent", err)
	}
	// A new record where one exists is refused too.
	fresh := &Record{User: "alice", UserARN: rec.UserARN, Phase: PhaseAnnounced}
	if err := save(ctx, db, now, fresh, ""); !errors.Is(err, ErrConcurrent) {
		t.Fatalf("blind create over an existing record: err = %v", err)
	}
	recs, _ = loadRecords(ctx, db)
	if got := recs[rec.UserARN]; got.Phase != PhaseCreated || len(got.History) != 2 {
		t.Errorf("stored = %+v", got)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	ctx := context.Background()
	db := openMem(t)
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	rec := &Record{User: "bob", UserARN: "arn:aws:iam::111122223333:user/bob", Phase: PhasePlanned}
	for i := range 3 * maxHistory {
		rec.Phase = []Phase{PhaseDraining, PhaseDeactivated, PhaseRecovering}[i%3]
		if err := save(ctx, db, now.Add(time.Duration(i)*time.Minute), rec, ""); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.History) != maxHistory || rec.History[0].Phase != PhaseDraining || !rec.History[0].At.Equal(now) {
		t.Errorf("history %d entries, first %+v; want %d keeping the first", len(rec.History), rec.History[0], maxHistory)
	}
}

func TestDecodeRejectsOtherVersions(t *testing.T) {
	_, err := decodeRecord(store.State{Kind: StateKind, ID: "arn:x", Data: []byte(`{"v":2,"userArn":"arn:x"}`)})
	if err == nil {
		t.Fatal("a record of a newer layout was accepted")
	}
	_, err = decodeRecord(store.State{Kind: StateKind, ID: "arn:x", Data: []byte(`{"v":1,"userArn":"arn:y"}`)})
	if err == nil {
		t.Fatal("a record under another user's ID was accepted")
	}
}
