package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/store"
)

// TestModelRefreshStoresChanges: a refresh stores a snapshot the first
// time and whenever the model changed, not when it is the same.
func TestModelRefreshStoresChanges(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "iam.json")
	generate(t, filepath.Join(dir, "trail"), 9, 10, file)
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m := newModel(configs.IAM{File: file}, db, slog.New(slog.DiscardHandler), func() time.Time { return now })
	ctx := context.Background()
	snapshots := func() int {
		t.Helper()
		n, err := db.Snapshots(ctx, m.Account())
		if err != nil {
			t.Fatal(err)
		}
		return len(n)
	}

	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Current() == nil || snapshots() != 1 {
		t.Fatalf("after the first refresh: model %v, %d snapshots; want a model and 1", m.Current() != nil, snapshots())
	}
	now = now.Add(time.Hour)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := snapshots(); got != 1 {
		t.Fatalf("an unchanged model stored a snapshot: %d", got)
	}

	// A user is renamed (one removed, one added): the next refresh stores it.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(data, []byte(`"UserName": "alice"`), []byte(`"UserName": "alice2"`), 1)
	changed = bytes.ReplaceAll(changed, []byte(`user/alice"`), []byte(`user/alice2"`))
	if bytes.Equal(changed, data) {
		t.Fatal("the generated snapshot has no user alice to rename")
	}
	if err := os.WriteFile(file, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := snapshots(); got != 2 || m.saved.Load() != 2 {
		t.Fatalf("after a change: %d snapshots (%d saved), want 2", got, m.saved.Load())
	}

	// A broken file keeps the model served and reports the error.
	if err := os.WriteFile(file, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Refresh(ctx); err == nil || m.Err() == "" || m.Current() == nil {
		t.Fatalf("broken file: err %v, Err() %q, model kept %v", err, m.Err(), m.Current() != nil)
	}

	// A restarted live-mode model serves the stored snapshot before its
	// first refresh.
	m2 := newModel(configs.IAM{Live: configs.IAMLive{Enabled: true}}, db, slog.New(slog.DiscardHandler), time.Now)
	if err := m2.loadStored(ctx); err != nil || m2.Account() != m.Account() {
		t.Fatalf("loadStored: %v, account %q want %q", err, m2.Account(), m.Account())
	}
}
