package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
)

// execSnapshot runs `iamd snapshot ...` in-process with the clock at *now.
func execSnapshot(t *testing.T, now *time.Time, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	for _, c := range root.Commands() {
		if c.Name() == "snapshot" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newSnapshotCmdAt(func() time.Time { return *now }))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"snapshot"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestSnapshotCommand(t *testing.T) {
	dir := t.TempDir()
	// Guard: a command that ignored --store would write here, never to
	// the user's default store.
	t.Setenv(storeEnv, filepath.Join(dir, "env-store"))
	st := filepath.Join(dir, "store")
	now := time.Date(2026, 11, 23, 10, 0, 0, 500, time.UTC)
	f, endpoint := newLiveIAM(t)

	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := execSnapshot(t, &now, args...)
		if err != nil {
			t.Fatalf("snapshot %v: err=%v\n%s", args, err, out)
		}
		return out
	}

	t.Run("save file keeps its Taken time", func(t *testing.T) {
		out := run(t, "save", "--iam", iamFixture, "--store", st)
		if want := "saved snapshot of account 111122223333 taken 2026-11-20T00:00:00Z"; !strings.Contains(out, want) {
			t.Fatalf("output %q lacks %q", out, want)
		}
	})
	t.Run("save live twice", func(t *testing.T) {
		out := run(t, "save", "--live", "--endpoint", endpoint, "--store", st)
		if want := "saved snapshot of account 444455556666 taken 2026-11-23T10:00:00Z"; !strings.Contains(out, want) {
			t.Fatalf("output %q lacks %q", out, want)
		}
		f.setAction("s3:*")
		now = now.Add(time.Hour)
		run(t, "save", "--live", "--endpoint", endpoint, "--store", st)
	})
	t.Run("list", func(t *testing.T) {
		out := run(t, "list", "--account", "444455556666", "--store", st)
		for _, c := range []string{"account 444455556666: 2 snapshots", "2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z"} {
			if !strings.Contains(out, c) {
				t.Errorf("output lacks %q:\n%s", c, out)
			}
		}
		out = run(t, "list", "--account", "111122223333", "--store", st, "--format", "json")
		var got struct {
			Account   string `json:"account"`
			Snapshots []struct {
				Taken string `json:"taken"`
			} `json:"snapshots"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if len(got.Snapshots) != 1 || got.Snapshots[0].Taken != "2026-11-20T00:00:00Z" {
			t.Fatalf("snapshots = %+v", got.Snapshots)
		}
	})
	wantChange := iam.Change{Kind: iam.ChangeInlineChanged, Principal: "arn:aws:iam::444455556666:user/alice", Policy: "work"}
	diffJSON := func(t *testing.T, args ...string) []iam.Change {
		t.Helper()
		out := run(t, append([]string{"diff", "--store", st, "--format", "json"}, args...)...)
		var got struct {
			Changes []iam.Change `json:"changes"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return got.Changes
	}
	t.Run("diff latest two", func(t *testing.T) {
		got := diffJSON(t, "--account", "444455556666")
		if len(got) != 1 || got[0] != wantChange {
			t.Fatalf("changes = %+v, want [%+v]", got, wantChange)
		}
		out := run(t, "diff", "--store", st, "--account", "444455556666")
		for _, c := range []string{"1 changes from 2026-11-23T10:00:00Z to 2026-11-23T11:00:00Z", "inline-policy-changed  arn:aws:iam::444455556666:user/alice  work"} {
			if !strings.Contains(out, c) {
				t.Errorf("output lacks %q:\n%s", c, out)
			}
		}
	})
	t.Run("diff by times, reversed and same", func(t *testing.T) {
		if got := diffJSON(t, "--account", "444455556666", "2026-11-23T11:00:00Z", "2026-11-23T10:00:00Z"); len(got) != 1 || got[0] != wantChange {
			t.Fatalf("changes = %+v", got)
		}
		if got := diffJSON(t, "--account", "444455556666", "2026-11-23T10:00:00Z", "2026-11-23T10:00:00Z"); len(got) != 0 {
			t.Fatalf("same snapshot: changes = %+v, want none", got)
		}
	})
	t.Run("diff files", func(t *testing.T) {
		// The fixture without its first user:
		// one principal-removed change.
		data, err := os.ReadFile(iamFixture)
		if err != nil {
			t.Fatal(err)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(data, &top); err != nil {
			t.Fatal(err)
		}
		var users []map[string]any
		if err := json.Unmarshal(top["UserDetailList"], &users); err != nil {
			t.Fatal(err)
		}
		removed, _ := users[0]["Arn"].(string)
		top["UserDetailList"], _ = json.Marshal(users[1:])
		newer, _ := json.Marshal(top)
		nf := filepath.Join(dir, "newer.json")
		if err := os.WriteFile(nf, newer, 0o600); err != nil {
			t.Fatal(err)
		}
		got := diffJSON(t, "--old-file", iamFixture, "--new-file", nf)
		if len(got) != 1 || got[0].Kind != iam.ChangePrincipalRemoved || got[0].Principal != removed {
			t.Fatalf("changes = %+v, want %s removed", got, removed)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"save without source", []string{"save", "--store", st}, "one of --iam FILE or --live is required"},
		{"list without account", []string{"list", "--store", st}, "--account is required"},
		{"diff one time", []string{"diff", "--store", st, "--account", "444455556666", "2026-11-23T10:00:00Z"}, "give two snapshot times"},
		{"diff bad time", []string{"diff", "--store", st, "--account", "444455556666", "yesterday", "2026-11-23T10:00:00Z"}, `snapshot time "yesterday"`},
		{"diff missing time", []string{"diff", "--store", st, "--account", "444455556666", "2026-11-23T09:00:00Z", "2026-11-23T10:00:00Z"}, "not found"},
		{"diff only one stored", []string{"diff", "--store", st, "--account", "111122223333"}, "has 1 stored snapshots"},
		{"diff one file", []string{"diff", "--old-file", iamFixture}, "--old-file and --new-file go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := execSnapshot(t, &now, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "env-store")); !os.IsNotExist(err) {
		t.Errorf("a command wrote to the %s store instead of --store: %v", storeEnv, err)
	}
}
