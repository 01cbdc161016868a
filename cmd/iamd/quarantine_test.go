package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/iamd/iamd/store"
)

// badRecords is a JSON-lines file with one good record, one that is not
// JSON (record 1, at byte 239) and one without eventTime (record 2, at
// byte 280).
const badRecords = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333"},"eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","eventID":"a1"}
{"eventVersion":"1.08",,"eventTime":"x"}
{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"NoTime","eventID":"a3"}
`

// writeBadTrail writes badRecords as bad.json in a new directory and
// returns the file's path.
func writeBadTrail(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(p, []byte(badRecords), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// manyBadLines writes a file of n lines that are not JSON.
func manyBadLines(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "many.json")
	var b strings.Builder
	for range n {
		b.WriteString("{,}\n")
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The ingest summary names where each of the first quarantined records
// was and why, in the table and in JSON.
func TestIngestQuarantineSample(t *testing.T) {
	bad := writeBadTrail(t)
	many := manyBadLines(t, 12)
	at := func(p string, rec, off int) string { return fmt.Sprintf("%s record %d (byte %d)", p, rec, off) }
	for _, tc := range []struct {
		name  string
		input string
		// table: lines after the counters, exactly.
		table string
		// json: where|reason|detail of each sample entry.
		json []string
	}{
		{
			name:  "all shown",
			input: bad,
			table: "\nquarantined records:\n" +
				fmt.Sprintf("  bad-json       %s  JSON syntax at byte 23: expected object key\n", at(bad, 1, 239)) +
				fmt.Sprintf("  no-event-time  %s  record has no eventTime\n", at(bad, 2, 280)),
			json: []string{
				fmt.Sprintf("%[1]s|bad-json|%[1]s: JSON syntax at byte 23: expected object key", at(bad, 1, 239)),
				fmt.Sprintf("%[1]s|no-event-time|%[1]s: record has no eventTime", at(bad, 2, 280)),
			},
		},
		{
			name:  "first ten of twelve",
			input: many,
			table: func() string {
				s := "\nfirst 10 of 12 quarantined records (iamd quarantine lists those stored):\n"
				// The WHERE column is as wide as its longest entry.
				w := len(at(many, 9, 36))
				for i := range 10 {
					s += fmt.Sprintf("  bad-json  %-*s  JSON syntax at byte 1: expected object key\n", w, at(many, i, 4*i))
				}
				return s
			}(),
			json: func() []string {
				var s []string
				for i := range 10 {
					s = append(s, fmt.Sprintf("%[1]s|bad-json|%[1]s: JSON syntax at byte 1: expected object key", at(many, i, 4*i)))
				}
				return s
			}(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One worker: with several, which quarantined record reaches
			// the summary first is up to the scheduler.
			out, err := runIamdStdout(t, "ingest", "--workers", "1", "--store", filepath.Join(t.TempDir(), "s"), tc.input)
			if err != nil {
				t.Fatalf("ingest: %v\n%s", err, out)
			}
			_, tail, ok := strings.Cut(out, "principals")
			if !ok {
				t.Fatalf("table has no principals row:\n%s", out)
			}
			_, tail, _ = strings.Cut(tail, "\n")
			if got, want := tail, tc.table; got != want {
				t.Fatalf("table after the counters =\n%s\nwant\n%s", got, want)
			}

			out, err = runIamdStdout(t, "ingest", "--workers", "1", "--format", "json", "--store", filepath.Join(t.TempDir(), "s"), tc.input)
			if err != nil {
				t.Fatalf("ingest: %v\n%s", err, out)
			}
			var sum struct {
				Sample []map[string]string `json:"quarantine_sample"`
			}
			if err := json.Unmarshal([]byte(out), &sum); err != nil {
				t.Fatalf("summary: %v\n%s", err, out)
			}
			var got []string
			for _, q := range sum.Sample {
				if len(q) != 3 {
					t.Fatalf("sample entry %v: want exactly where, reason and detail", q)
				}
				got = append(got, q["where"]+"|"+q["reason"]+"|"+q["detail"])
			}
			if g, w := strings.Join(got, "\n"), strings.Join(tc.json, "\n"); g != w {
				t.Fatalf("quarantine_sample =\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// The JSON summary always has quarantine_sample: the run's records, or an
// empty list when it quarantined nothing.
func TestIngestJSONQuarantineSampleKey(t *testing.T) {
	out, err := runIamdStdout(t, "ingest", "--format", "json", "--store", filepath.Join(t.TempDir(), "s"), writeTestTrail(t)+"/trail.json")
	if err != nil {
		t.Fatal(err)
	}
	var sum map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	// testRecords quarantines its record without eventTime.
	if got := string(sum["quarantine_sample"]); !strings.Contains(got, `"reason":"no-event-time"`) {
		t.Fatalf("quarantine_sample = %s, want the no-event-time record", got)
	}
	clean := filepath.Join(t.TempDir(), "clean.json")
	if err := os.WriteFile(clean, []byte(`{"Records":[`+roleRecord("c1", "R")+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runIamdStdout(t, "ingest", "--format", "json", "--store", filepath.Join(t.TempDir(), "s"), clean)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if got, want := string(sum["quarantine_sample"]), "[]"; got != want {
		t.Fatalf("quarantine_sample = %s, want %s", got, want)
	}
}

// quarantineTime matches a quarantine time as the table (RFC 3339) and
// JSON (with fractional seconds) print it.
var quarantineTime = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)

// iamd quarantine lists what the store kept, most recent first, with
// where and why; the table never prints the record's bytes.
func TestQuarantineCommand(t *testing.T) {
	bad := writeBadTrail(t)
	st := filepath.Join(t.TempDir(), "s")
	if out, err := runIamdStdout(t, "ingest", "--workers", "1", "--store", st, bad); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	noTime := fmt.Sprintf("%s record 2 (byte 280)", bad)
	badJSON := fmt.Sprintf("%s record 1 (byte 239)", bad)
	pad := strings.Repeat(" ", len(badJSON)-len("WHERE"))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{
			name: "table",
			args: nil,
			want: "2 quarantined records:\n" +
				"QUARANTINED           REASON         WHERE" + pad + "  DETAIL\n" +
				"TIME  no-event-time  " + noTime + "  record has no eventTime\n" +
				"TIME  bad-json       " + badJSON + "  JSON syntax at byte 23: expected object key\n",
		},
		{
			name: "table limit",
			args: []string{"--limit", "1"},
			want: "2 quarantined records, the 1 most recent:\n" +
				"QUARANTINED           REASON         WHERE" + pad + "  DETAIL\n" +
				"TIME  no-event-time  " + noTime + "  record has no eventTime\n",
		},
		{
			name: "json",
			args: []string{"--format", "json", "--limit", "0"},
			want: `[
  {
    "where": "` + noTime + `",
    "reason": "no-event-time",
    "detail": "` + noTime + `: record has no eventTime",
    "time": "TIME",
    "raw": "{\"eventVersion\":\"1.08\",\"eventSource\":\"iam.amazonaws.com\",\"eventName\":\"NoTime\",\"eventID\":\"a3\"}"
  },
  {
    "where": "` + badJSON + `",
    "reason": "bad-json",
    "detail": "` + badJSON + `: JSON syntax at byte 23: expected object key",
    "time": "TIME",
    "raw": "{\"eventVersion\":\"1.08\",,\"eventTime\":\"x\"}"
  }
]
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runIamdStdout(t, append([]string{"quarantine", "--store", st}, tc.args...)...)
			if err != nil {
				t.Fatalf("quarantine: %v\n%s", err, out)
			}
			// The quarantine time is the clock's: replaced, in the table
			// its column stays as wide as the time.
			got := quarantineTime.ReplaceAllString(out, "TIME")
			if got != tc.want {
				t.Fatalf("quarantine %v =\n%s\nwant\n%s", tc.args, got, tc.want)
			}
			if tc.name != "json" && strings.Contains(out, `"eventVersion"`) {
				t.Fatalf("table prints the record's bytes:\n%s", out)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad format", []string{"--format", "xml"}, "--format"},
		{"negative limit", []string{"--limit", "-1"}, "--limit -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runIamdStdout(t, append([]string{"quarantine", "--store", st}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Commands that only read the store refuse a directory that holds none
// and create nothing there; ingest creates the store.
func TestReadOnlyCommandsNeedAStore(t *testing.T) {
	root := t.TempDir()
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(root, "missing"), empty} {
		for _, args := range [][]string{
			{"usage", "--format", "json"},
			{"usage", "cross-account"},
			{"quarantine"},
			{"snapshot", "list", "--account", "111122223333"},
			{"snapshot", "diff", "--account", "111122223333"},
		} {
			name := args[0]
			if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
				name += " " + args[1]
			}
			t.Run(filepath.Base(dir)+"/"+name, func(t *testing.T) {
				out, err := runIamdStdout(t, append(args, "--store", dir)...)
				if !errors.Is(err, store.ErrNoStore) {
					t.Fatalf("err = %v, want store.ErrNoStore", err)
				}
				if got, want := err.Error(), "store "+dir+": no such store (run iamd ingest first)"; got != want {
					t.Fatalf("err = %q, want %q", got, want)
				}
				if out != "" {
					t.Fatalf("stdout = %q, want nothing", out)
				}
				entries, statErr := os.ReadDir(dir)
				if dir == empty && statErr != nil || dir != empty && !errors.Is(statErr, os.ErrNotExist) || len(entries) != 0 {
					t.Fatalf("%s after the command: %d entries, err %v; want it as it was", dir, len(entries), statErr)
				}
			})
		}
	}
	t.Run("ingest creates it", func(t *testing.T) {
		dir := filepath.Join(root, "new")
		if out, err := runIamdStdout(t, "ingest", "--store", dir, writeTestTrail(t)); err != nil {
			t.Fatalf("ingest: %v\n%s", err, out)
		}
		out, err := runIamdStdout(t, "quarantine", "--store", dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, "1 quarantined records:\n") {
			t.Fatalf("quarantine after ingest = %q", out)
		}
	})
}
