package store

import (
	"errors"
	"fmt"
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
