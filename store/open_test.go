package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/ristretto/v2/z"
)

func TestIsEmptyMemtableFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"sentinel", z.NewFile, true},
		{"wrapped", fmt.Errorf("while opening memtable: %w", z.NewFile), true},
		{"text only", errors.New("while opening memtables error: while opening fid: 3 error: while updating skiplist error: Create a new file"), true},
		{"other", errors.New("Cannot acquire directory lock"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isEmptyMemtableFile(tc.err); got != tc.want {
				t.Fatalf("isEmptyMemtableFile(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// MustExist refuses a directory that holds no store and creates nothing
// there; a store that exists opens.
func TestOpenMustExist(t *testing.T) {
	root := t.TempDir()
	made := filepath.Join(root, "made")
	db, err := Open(Options{Dir: made})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		dir     string
		wantErr error
	}{
		{"missing", filepath.Join(root, "missing"), ErrNoStore},
		{"empty directory", empty, ErrNoStore},
		{"existing store", made, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(Options{Dir: tc.dir, MustExist: true})
			if err == nil {
				defer db.Close()
			}
			if got, want := err, tc.wantErr; !errors.Is(got, want) || (want == nil) != (got == nil) {
				t.Fatalf("Open(MustExist) err = %v, want %v", got, want)
			}
			if tc.wantErr == nil {
				return
			}
			// Nothing created: the missing directory is still missing,
			// the empty one still empty.
			entries, err := os.ReadDir(tc.dir)
			if tc.dir != empty && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("after Open(MustExist), ReadDir(%s) err = %v, want it not to exist", tc.dir, err)
			}
			if len(entries) != 0 {
				t.Fatalf("Open(MustExist) created %d entries in %s, want none", len(entries), tc.dir)
			}
		})
	}
}

// A second Open of a store another holder has open fails with ErrLocked,
// Badger's reason kept after it.
func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, mustExist := range []bool{false, true} {
		db2, err := Open(Options{Dir: dir, MustExist: mustExist})
		if err == nil {
			db2.Close()
			t.Fatalf("second Open (MustExist %v) succeeded", mustExist)
		}
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "Cannot acquire directory lock") {
			t.Errorf("second Open (MustExist %v) err = %v, want ErrLocked with Badger's reason", mustExist, err)
		}
	}
}

// A directory holding someone's files and no store is refused, and left
// as it was; files Badger writes before its MANIFEST do not count.
func TestOpenForeignDirectory(t *testing.T) {
	root := t.TempDir()
	mine := filepath.Join(root, "mine")
	if err := os.MkdirAll(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mine, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := Open(Options{Dir: mine})
	if err == nil {
		db.Close()
		t.Fatal("Open of a folder with other files succeeded")
	}
	if !errors.Is(err, ErrNotStore) || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("err = %v, want ErrNotStore naming notes.txt", err)
	}
	if entries, _ := os.ReadDir(mine); len(entries) != 1 {
		t.Fatalf("Open left %d entries in the folder, want only notes.txt", len(entries))
	}
	crashed := filepath.Join(root, "crashed")
	if err := os.MkdirAll(crashed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crashed, "LOCK"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(Options{Dir: crashed})
	if err != nil {
		t.Fatalf("Open of a directory with only Badger's LOCK: %v", err)
	}
	db.Close()
}
