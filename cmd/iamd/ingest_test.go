package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/iamd/iamd/store"
)

const testRecords = `{"Records":[
{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAALICE"},"eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","eventID":"11111111-1111-1111-1111-111111111111","recipientAccountId":"111122223333"},
{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAALICE"},"eventTime":"2024-01-02T03:05:05Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","errorCode":"AccessDenied","requestParameters":{"bucketName":"b","key":"k"},"eventID":"22222222-2222-2222-2222-222222222222","recipientAccountId":"111122223333"},
{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/bob","accountId":"111122223333"},"eventTime":"2024-01-02T03:06:05Z","eventSource":"iam.amazonaws.com","eventName":"NotARealCall","awsRegion":"us-east-1","eventID":"33333333-3333-3333-3333-333333333333","recipientAccountId":"111122223333"},
{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"NoTime","eventID":"44444444-4444-4444-4444-444444444444"}
]}`

func writeTestTrail(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "trail.json"), []byte(testRecords), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestIngestJSONSummaryAndRerun(t *testing.T) {
	dir := writeTestTrail(t)
	storeDir := filepath.Join(t.TempDir(), "store")
	out, err := runIamd(t, "ingest", "--store", storeDir, "--format", "json", dir)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	var sum struct {
		Records     int64            `json:"records"`
		Duplicates  int64            `json:"duplicates"`
		Denied      int64            `json:"denied"`
		Written     int64            `json:"written"`
		Principals  int              `json:"principals"`
		Quarantined map[string]int64 `json:"quarantined"`
		Unmapped    map[string]int64 `json:"unmapped"`
		Unchanged   int64            `json:"files_unchanged"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary is not one JSON object: %v\n%s", err, out)
	}
	if sum.Records != 4 || sum.Written != 3 || sum.Denied != 1 || sum.Principals != 2 || sum.Duplicates != 0 {
		t.Fatalf("summary %+v", sum)
	}
	if sum.Quarantined["no-event-time"] != 1 || sum.Unmapped["iam.amazonaws.com/NotARealCall"] != 1 {
		t.Fatalf("quarantined %v unmapped %v", sum.Quarantined, sum.Unmapped)
	}

	// Same files again: skipped by checkpoint, nothing counted.
	out, err = runIamd(t, "ingest", "--store", storeDir, "--format", "json", dir)
	if err != nil {
		t.Fatal(err)
	}
	sum.Records, sum.Unchanged = -1, -1
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Records != 0 || sum.Unchanged != 1 {
		t.Fatalf("rerun: records %d unchanged %d, want 0 and 1", sum.Records, sum.Unchanged)
	}

	// usage lists the facts.
	out, err = runIamd(t, "usage", "--store", storeDir, "--format", "json", "--principal", "arn:aws:iam::111122223333:user/alice")
	if err != nil {
		t.Fatal(err)
	}
	var facts []struct {
		Principal, Action, Resource string
		Allowed, Denied             uint64
	}
	if err := json.Unmarshal([]byte(out), &facts); err != nil {
		t.Fatalf("usage json: %v\n%s", err, out)
	}
	got := []string{}
	for _, f := range facts {
		got = append(got, f.Action+" "+f.Resource+" "+map[bool]string{true: "denied", false: "allowed"}[f.Denied > 0])
	}
	want := "s3:GetObject arn:aws:s3:::b/k denied|s3:ListAllMyBuckets * allowed"
	if strings.Join(got, "|") != want {
		t.Fatalf("usage = %q, want %q", strings.Join(got, "|"), want)
	}

	out, err = runIamd(t, "usage", "--store", storeDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"PRINCIPAL", "arn:aws:iam::111122223333:user/alice", "s3:ListAllMyBuckets"} {
		if !strings.Contains(out, s) {
			t.Fatalf("usage table lacks %q:\n%s", s, out)
		}
	}

	// --limit keeps the first facts of the index's order.
	out, err = runIamd(t, "usage", "--store", storeDir, "--format", "json", "--limit", "1", "--principal", "arn:aws:iam::111122223333:user/alice")
	if err != nil {
		t.Fatal(err)
	}
	facts = nil
	if err := json.Unmarshal([]byte(out), &facts); err != nil {
		t.Fatalf("usage json: %v\n%s", err, out)
	}
	if len(facts) != 1 || facts[0].Action != "s3:GetObject" {
		t.Fatalf("usage --limit 1 = %+v, want only s3:GetObject", facts)
	}
	if _, err := runIamd(t, "usage", "--store", storeDir, "--limit", "-1"); err == nil || !strings.Contains(err.Error(), "--limit") {
		t.Fatalf("usage --limit -1: err = %v, want a --limit error", err)
	}
}

func TestIngestTable(t *testing.T) {
	dir := writeTestTrail(t)
	out, err := runIamd(t, "ingest", "--store", filepath.Join(t.TempDir(), "s"), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"records 4", "denied 1", "no-event-time 1", "principals 2"} {
		name := row[:strings.LastIndexByte(row, ' ')]
		if got := tableRow(out, name); got != row {
			t.Fatalf("table row %q = %q, want %q:\n%s", name, got, row, out)
		}
	}
	for _, s := range []string{"top unmapped", "1  iam.amazonaws.com/NotARealCall"} {
		if !strings.Contains(out, s) {
			t.Fatalf("table lacks %q:\n%s", s, out)
		}
	}
}

func TestIngestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no path", []string{"ingest", "--store", t.TempDir()}, "no PATH"},
		{"bad format", []string{"ingest", "--store", t.TempDir(), "--format", "xml", "x"}, "--format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runIamd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// A store written by a newer schema version is refused by every command,
// naming the version and what this build reads.
func TestStoreOfAnotherSchema(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "newer")
	bdb, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	// The meta key of the schema version: uvarint(SchemaVersion+1).
	if err := bdb.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte("mschema"), []byte{byte(store.SchemaVersion + 1)})
	}); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("schema version %d is newer than this build reads (%d", store.SchemaVersion+1, store.SchemaVersion)
	for _, args := range [][]string{
		{"usage", "--store", dir},
		{"ingest", "--store", dir, writeTestTrail(t)},
		{"snapshot", "list", "--store", dir, "--account", "111122223333"},
		{"store", "migrate", "--store", dir},
	} {
		_, err := runIamd(t, args...)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: err = %v, want it to name %s and say %q", args[0], err, dir, want)
		}
	}
}

func TestDefaultStoreDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := defaultStoreDir(env(map[string]string{"IAMD_STORE": "/s", "XDG_DATA_HOME": "/x"})); got != "/s" {
		t.Fatalf("IAMD_STORE: %q", got)
	}
	if got := defaultStoreDir(env(map[string]string{"XDG_DATA_HOME": "/x"})); got != "/x/iamd" {
		t.Fatalf("XDG_DATA_HOME: %q", got)
	}
	if got := defaultStoreDir(env(nil)); !strings.HasSuffix(got, filepath.Join(".local", "share", "iamd")) {
		t.Fatalf("default: %q", got)
	}
}

// The summary says how many facts were new to the store: new events of
// known actions add facts, the same events read again add none. How many
// fact keys the writes touched depends on how records fall into batches,
// which varies from run to run, so no summary prints it.
func TestIngestNewFacts(t *testing.T) {
	st := filepath.Join(t.TempDir(), "s")
	first := writeTestTrail(t)
	// The same records under another name: not skipped by checkpoint,
	// every event a duplicate.
	again := writeTestTrail(t)
	// The same calls with other event IDs: new events of known facts.
	later := t.TempDir()
	if err := os.WriteFile(filepath.Join(later, "trail.json"), []byte(strings.ReplaceAll(testRecords, `"eventID":"`, `"eventID":"later-`)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                          string
		input                         string
		written, duplicates, newFacts int64
	}{
		// alice's s3:ListAllMyBuckets on * and s3:GetObject on b/k; bob's
		// call maps to no action.
		{"new events", first, 3, 0, 2},
		{"same events again", again, 0, 3, 0},
		{"new events of the same facts", later, 3, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runIamdStdout(t, "ingest", "--format", "json", "--store", st, tc.input)
			if err != nil {
				t.Fatalf("ingest: %v\n%s", err, out)
			}
			var sum map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &sum); err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("written %s duplicates %s new_facts %s", sum["written"], sum["duplicates"], sum["new_facts"])
			if want := fmt.Sprintf("written %d duplicates %d new_facts %d", tc.written, tc.duplicates, tc.newFacts); got != want {
				t.Fatalf("%s, want %s", got, want)
			}
			if v, ok := sum["facts"]; ok {
				t.Fatalf(`summary has "facts": %s; the number depends on batching`, v)
			}
		})
	}
	out, err := runIamdStdout(t, "ingest", "--store", filepath.Join(t.TempDir(), "t"), first)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tableRow(out, "new facts"), "new facts 2"; got != want {
		t.Fatalf("table row %q, want %q\n%s", got, want, out)
	}
	if got := tableRow(out, "facts written"); got != "" {
		t.Fatalf("table has %q", got)
	}
}

// tableRow returns the line of the ingest table whose label is name,
// with its runs of spaces as one.
func tableRow(table, name string) string {
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && strings.Join(f[:len(f)-1], " ") == name {
			return strings.Join(f, " ")
		}
	}
	return ""
}

// --keep-raw turns on both halves of raw retention: the converter keeps
// each record's bytes and the store keeps them.
func TestIngestKeepRaw(t *testing.T) {
	const aliceEvent = "11111111-1111-1111-1111-111111111111"
	for _, tc := range []struct {
		name    string
		args    []string
		wantRaw int64
	}{
		{"off by default", nil, 0},
		{"off at zero", []string{"--keep-raw", "0"}, 0},
		{"on", []string{"--keep-raw", "720h"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := filepath.Join(t.TempDir(), "s")
			if out, err := runIamdStdout(t, append([]string{"ingest", "--store", st, writeTestTrail(t)}, tc.args...)...); err != nil {
				t.Fatalf("ingest: %v\n%s", err, out)
			}
			db, err := store.Open(store.Options{Dir: st, MustExist: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			stats, err := db.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := stats.Raw, tc.wantRaw; got != want {
				t.Fatalf("retained raw records = %d, want %d", got, want)
			}
			raw, ok, err := db.Raw(ctx, aliceEvent)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ok, tc.wantRaw > 0; got != want {
				t.Fatalf("Raw(%s) found = %v, want %v", aliceEvent, got, want)
			}
			if ok && !strings.Contains(string(raw), `"eventID":"`+aliceEvent+`"`) {
				t.Fatalf("Raw(%s) = %s, want the record", aliceEvent, raw)
			}
		})
	}
	_, err := runIamdStdout(t, "ingest", "--store", filepath.Join(t.TempDir(), "s"), "--keep-raw", "-1h", writeTestTrail(t))
	if err == nil || !strings.Contains(err.Error(), "--keep-raw") {
		t.Fatalf("--keep-raw -1h: err = %v, want a --keep-raw error", err)
	}
}
