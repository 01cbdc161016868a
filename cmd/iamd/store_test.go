package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iamd/iamd/store"
)

// releasedStore copies the testdata store of schema version 1 (written
// by store/internal/genstore) into a new directory.
func releasedStore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(dir, os.DirFS("../../store/testdata/v1/store")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func storeInfo(t *testing.T, dir string) storeInfoJSON {
	t.Helper()
	out, err := runIamdStdout(t, "store", "info", "--store", dir, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var in storeInfoJSON
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("store info --format json: %v\n%s", err, out)
	}
	return in
}

func TestStoreMigrate(t *testing.T) {
	dir := releasedStore(t)
	in := storeInfo(t, dir)
	if in.SchemaVersion != 1 || len(in.Pending) != store.SchemaVersion-1 || in.Pending[0].Records == 0 {
		t.Fatalf("store info of a schema 1 store = %+v, want version 1 and %d pending steps with records", in, store.SchemaVersion-1)
	}

	out, err := runIamd(t, "store", "migrate", "--dry-run", "--store", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("schema version 1, this build migrates it to %d", store.SchemaVersion), "1 → 2", "2 → 3", "dry run: nothing written", "120 records", "16 records"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate --dry-run output lacks %q:\n%s", want, out)
		}
	}
	if in := storeInfo(t, dir); in.SchemaVersion != 1 {
		t.Fatalf("after --dry-run the store is at version %d, want 1 (unchanged)", in.SchemaVersion)
	}

	out, err = runIamd(t, "store", "migrate", "--store", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("migrated from schema version 1 to %d", store.SchemaVersion), "1 → 2", "120 records", "2 → 3", "16 records"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate output lacks %q:\n%s", want, out)
		}
	}
	in = storeInfo(t, dir)
	if in.SchemaVersion != store.SchemaVersion || len(in.Pending) != 0 || in.LegacyDedupUntil == nil || in.WrittenBy == "" || in.Records.Dedup != 120 || in.Records.Actions != 10 {
		t.Errorf("store info after migrate = %+v, want version %d, nothing pending, legacy dedup, 120 dedup entries, 10 action totals, a build", in, store.SchemaVersion)
	}
	if out, err = runIamd(t, "store", "migrate", "--store", dir); err != nil || !strings.Contains(out, "nothing to migrate") {
		t.Errorf("migrate of a current store: %v\n%s", err, out)
	}
	if out, err = runIamd(t, "store", "info", "--store", dir); err != nil || !strings.Contains(out, "none pending") || !strings.Contains(out, "facts 14") {
		t.Errorf("store info table: %v\n%s", err, out)
	}
	if _, err := runIamd(t, "store", "info", "--store", filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no such store") {
		t.Errorf("store info of a missing store: err = %v", err)
	}
}

// Any command migrates an old store when it opens it, and says so.
func TestOldStoreMigratesOnOpen(t *testing.T) {
	dir := releasedStore(t)
	out, err := runIamd(t, "usage", "--store", dir, "--principal", "arn:aws:iam::111122223333:user/alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "s3:GetObject") {
		t.Errorf("usage of a migrated store lacks alice's facts:\n%s", out)
	}
	if in := storeInfo(t, dir); in.SchemaVersion != store.SchemaVersion {
		t.Errorf("after usage the store is at version %d, want %d", in.SchemaVersion, store.SchemaVersion)
	}
}

func TestStoreBackupRestore(t *testing.T) {
	dir := releasedStore(t)
	root := t.TempDir()
	file := filepath.Join(root, "backup.badger")
	out, err := runIamd(t, "store", "backup", "--store", dir, file)
	if err != nil || !strings.Contains(out, "(schema version 1) to "+file) {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if _, err := runIamd(t, "store", "backup", "--store", dir, file); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("backup over an existing file: err = %v, want a refusal naming --force", err)
	}
	// The same backup on standard output (Badger's stream chunks it
	// differently from run to run, so it is compared once restored).
	stream, err := runIamdStdout(t, "store", "backup", "--store", dir, "-")
	if err != nil {
		t.Fatal(err)
	}
	piped := filepath.Join(root, "piped.badger")
	if err := os.WriteFile(piped, []byte(stream), 0o644); err != nil {
		t.Fatal(err)
	}

	restored := filepath.Join(root, "restored")
	out, err = runIamd(t, "store", "restore", "--store", restored, file)
	if err != nil || !strings.Contains(out, "schema version 1") || !strings.Contains(out, fmt.Sprintf("migrates it to schema version %d", store.SchemaVersion)) {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	want, err := runIamdStdout(t, "usage", "--store", dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := runIamdStdout(t, "usage", "--store", restored)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || !strings.Contains(got, "kms:ReEncryptFrom") {
		t.Errorf("usage of the restored store differs from the original's:\n%s\nwant:\n%s", got, want)
	}
	fromPipe := filepath.Join(root, "from-pipe")
	if _, err := runIamd(t, "store", "restore", "--store", fromPipe, piped); err != nil {
		t.Fatal(err)
	}
	if got, err := runIamdStdout(t, "usage", "--store", fromPipe); err != nil || got != want {
		t.Errorf("usage of the store restored from standard output: %v\n%s\nwant:\n%s", err, got, want)
	}

	_, err = runIamd(t, "store", "restore", "--store", restored, file)
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore over a store: err = %v, want a refusal naming --force", err)
	}
	if out, err := runIamd(t, "store", "restore", "--force", "--store", restored, file); err != nil {
		t.Errorf("restore --force: %v\n%s", err, out)
	}
	if in := storeInfo(t, restored); in.SchemaVersion != 1 {
		t.Errorf("after restore --force the store is at version %d, want the backup's 1", in.SchemaVersion)
	}
}
