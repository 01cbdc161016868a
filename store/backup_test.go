package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iamd/iamd/store"
)

// A backup taken before an upgrade restores the store as it was, old
// schema version included, which the next Open migrates; restore never
// overwrites what it should not and leaves nothing behind when the
// backup is cut short.
func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	dir, gf := released(t, 1)
	var buf bytes.Buffer
	info, err := store.Backup(ctx, dir, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != 1 || info.Bytes != int64(buf.Len()) || info.Bytes == 0 {
		t.Fatalf("Backup = %+v (%d bytes written), want version 1 and its size", info, buf.Len())
	}
	if in, err := store.Inspect(ctx, dir); err != nil || in.Version != 1 {
		t.Fatalf("after Backup the store is at version %d (%v), want 1: backup must not migrate", in.Version, err)
	}
	backup := buf.Bytes()

	root := t.TempDir()
	target := filepath.Join(root, "restored")
	rinfo, err := store.Restore(ctx, target, bytes.NewReader(backup), store.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rinfo.Version != 1 || rinfo.Bytes != int64(len(backup)) {
		t.Errorf("Restore = %+v, want version 1, %d bytes", rinfo, len(backup))
	}
	db, err := store.Open(store.Options{Dir: target, Now: at(gf.Probe.Now)})
	if err != nil {
		t.Fatal(err)
	}
	checkAnswers(t, db, gf)

	t.Run("store in use", func(t *testing.T) {
		if _, err := store.Backup(ctx, target, &bytes.Buffer{}); !errors.Is(err, store.ErrLocked) {
			t.Errorf("Backup of an open store err = %v, want ErrLocked", err)
		}
		if _, err := store.Restore(ctx, target, bytes.NewReader(backup), store.RestoreOptions{Replace: true}); !errors.Is(err, store.ErrLocked) {
			t.Errorf("Restore over an open store err = %v, want ErrLocked", err)
		}
	})
	db.Close()

	t.Run("not empty", func(t *testing.T) {
		if _, err := store.Restore(ctx, target, bytes.NewReader(backup), store.RestoreOptions{}); !errors.Is(err, store.ErrNotEmpty) {
			t.Errorf("Restore over a store err = %v, want ErrNotEmpty", err)
		}
		other := filepath.Join(root, "other")
		if err := os.MkdirAll(other, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Restore(ctx, other, bytes.NewReader(backup), store.RestoreOptions{Replace: true}); !errors.Is(err, store.ErrNotEmpty) {
			t.Errorf("Restore with Replace over other files err = %v, want ErrNotEmpty", err)
		}
		if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
			t.Errorf("Restore touched a directory of other files: %v", err)
		}
	})

	t.Run("replace", func(t *testing.T) {
		// The migrated store is replaced by the backup: version 1 again.
		if _, err := store.Restore(ctx, target, bytes.NewReader(backup), store.RestoreOptions{Replace: true}); err != nil {
			t.Fatal(err)
		}
		if in, err := store.Inspect(ctx, target); err != nil || in.Version != 1 {
			t.Errorf("after Restore with Replace: version %d (%v), want 1", in.Version, err)
		}
	})

	t.Run("truncated backup", func(t *testing.T) {
		fresh := filepath.Join(root, "fresh")
		if _, err := store.Restore(ctx, fresh, bytes.NewReader(backup[:len(backup)/2]), store.RestoreOptions{}); err == nil {
			t.Fatal("Restore of half a backup succeeded")
		}
		if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a failed Restore left %s: %v", fresh, err)
		}
		if _, err := store.Restore(ctx, target, bytes.NewReader(backup[:len(backup)/2]), store.RestoreOptions{Replace: true}); err == nil {
			t.Fatal("Restore with Replace of half a backup succeeded")
		}
		if in, err := store.Inspect(ctx, target); err != nil || in.Version != 1 {
			t.Errorf("a failed Restore changed the store it was to replace: version %d (%v)", in.Version, err)
		}
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".restore-") {
				t.Errorf("a failed Restore left %s behind", e.Name())
			}
		}
	})

	t.Run("not a store", func(t *testing.T) {
		if _, err := store.Restore(ctx, filepath.Join(root, "x"), strings.NewReader(""), store.RestoreOptions{}); err == nil {
			t.Error("Restore of an empty stream succeeded")
		}
		if _, err := store.Backup(ctx, filepath.Join(root, "missing"), &bytes.Buffer{}); !errors.Is(err, store.ErrNoStore) {
			t.Errorf("Backup of a missing store err = %v, want ErrNoStore", err)
		}
	})
}
