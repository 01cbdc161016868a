package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Profiles are written whether the command succeeds or fails.
func TestProfiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"success", []string{"simulate", "--principal", "arn:aws:iam::111122223333:user/a", "--action", "s3:GetObject", "--resource", "arn:aws:s3:::b/k"}, false},
		{"failure", []string{"usage", "--store", "/nonexistent/dir/\x00"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
			root, prof := newRoot()
			root.SetArgs(append(tc.args, "--cpuprofile", cpu, "--memprofile", mem))
			root.SetOut(new(discard))
			root.SetErr(new(discard))
			err := root.ExecuteContext(context.Background())
			if serr := prof.stop(); serr != nil {
				t.Fatalf("stop: %v", serr)
			}
			if (err != nil) != tc.wantErr || (err != nil && strings.Contains(err.Error(), "profile")) {
				t.Fatalf("command err = %v, want error %v (not from profiling)", err, tc.wantErr)
			}
			for _, f := range []string{cpu, mem} {
				fi, err := os.Stat(f)
				if err != nil || fi.Size() == 0 {
					t.Errorf("%s: %v, size %d; want a written profile", filepath.Base(f), err, sizeOf(fi))
				}
			}
		})
	}
}

type discard struct{}

func (*discard) Write(b []byte) (int, error) { return len(b), nil }

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return -1
	}
	return fi.Size()
}
