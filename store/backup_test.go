package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
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

// restoreChildEnv names the store a re-executed test binary restores
// into (TestRestoreChild).
const restoreChildEnv = "IAMD_TEST_RESTORE_CHILD"

// A restore killed with SIGKILL at any step of its swap leaves a whole
// store at its directory, the one it held before or the restored one,
// once the next Open (or Inspect, Backup, Restore) has looked: never no
// store, never a mix; and nothing of the restore is left behind.
func TestRestoreKilled(t *testing.T) {
	ctx := context.Background()
	v1, _ := released(t, 1)
	var buf bytes.Buffer
	if _, err := store.Backup(ctx, v1, &buf); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "v1.backup")
	if err := os.WriteFile(backup, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kill     string
		restored bool // else the store it replaced
	}{
		{kill: "staged"},
		{kill: "replaced", restored: true},
		{kill: "renamed", restored: true},
		{kill: "removed", restored: true},
	} {
		t.Run("killed after "+tc.kill, func(t *testing.T) {
			// The store to replace: the same data, migrated to this
			// build's version, so the two tell apart by version.
			dir, gf := released(t, 1)
			if err := store.Migrate(ctx, store.Options{Dir: dir, Now: at(gf.Probe.Now)}); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreChild$")
			cmd.Env = append(os.Environ(), restoreChildEnv+"="+dir, "IAMD_TEST_RESTORE_BACKUP="+backup, "IAMD_TEST_RESTORE_KILL="+tc.kill)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != -1 {
				t.Fatalf("the restoring child ended with %v, want killed by a signal:\n%s", err, out)
			}
			in, err := store.Inspect(ctx, dir)
			if err != nil {
				t.Fatalf("after the kill: %v", err)
			}
			if want := map[bool]int{true: 1, false: store.SchemaVersion}[tc.restored]; in.Version != want {
				t.Errorf("after the kill the store is at version %d, want %d (restored %v)", in.Version, want, tc.restored)
			}
			db, err := store.Open(store.Options{Dir: dir, Now: at(gf.Probe.Now)})
			if err != nil {
				t.Fatal(err)
			}
			checkAnswers(t, db, gf)
			db.Close()
			// What the killed restore left is cleaned by the next one.
			if _, err := store.Restore(ctx, dir, bytes.NewReader(buf.Bytes()), store.RestoreOptions{Replace: true}); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(filepath.Dir(dir))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.Contains(e.Name(), ".restore-") {
					t.Errorf("%s left behind", e.Name())
				}
			}
		})
	}
}

// TestRestoreChild is the process TestRestoreKilled kills: it restores
// the backup over the store and kills itself after the step named.
func TestRestoreChild(t *testing.T) {
	dir := os.Getenv(restoreChildEnv)
	if dir == "" {
		t.Skip("run by TestRestoreKilled")
	}
	f, err := os.Open(os.Getenv("IAMD_TEST_RESTORE_BACKUP"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kill := os.Getenv("IAMD_TEST_RESTORE_KILL")
	opts := store.RestoreOptions{Replace: true}
	store.SetRestoreHook(&opts, func(step string) {
		if step == kill {
			p, _ := os.FindProcess(os.Getpid())
			p.Kill()
			select {} // the signal ends the process
		}
	})
	if _, err := store.Restore(context.Background(), dir, f, opts); err != nil {
		t.Fatal(err)
	}
	t.Fatal("the restore finished before it was killed")
}
