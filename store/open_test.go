package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
