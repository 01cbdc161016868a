package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/rotator/awsfake"
	"github.com/iamd/iamd/store"
)

// rotateEnv is the fake AWS endpoint, a store and a movable clock for the
// rotate command.
type rotateEnv struct {
	t    *testing.T
	mu   sync.Mutex
	now  time.Time
	fake *awsfake.Fake
	url  string
	dir  string
	outs bytes.Buffer
}

func (e *rotateEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func newRotateEnv(t *testing.T) *rotateEnv {
	t.Helper()
	setFakeAWSEnv(t)
	e := &rotateEnv{t: t, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	e.fake = awsfake.New(awsfake.Options{Now: e.clock})
	srv := httptest.NewServer(e.fake)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.dir = t.TempDir()
	return e
}

// write opens the store, writes b (usage, a checkpoint), closes it.
func (e *rotateEnv) write(b *store.Batch) {
	e.t.Helper()
	db, err := store.Open(store.Options{Dir: e.dir, Now: e.clock})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := db.Write(context.Background(), b); err != nil {
		e.t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// tick records that ingest is running and current: a checkpoint and a
// call of another principal, now.
func (e *rotateEnv) tick() {
	now := e.clock()
	e.write(&store.Batch{
		Events: []store.Event{{ID: "tick-" + now.Format(time.RFC3339Nano), Time: now, Principal: "arn:aws:iam::111122223333:role/app",
			PrincipalType: "AssumedRole", AccountID: "111122223333", RecipientAccountID: "111122223333", EventSource: "sqs.amazonaws.com",
			EventName: "ReceiveMessage", Uses: []store.Use{{Action: "sqs:ReceiveMessage", Resource: "*"}}}},
		Checkpoints: []store.Checkpoint{{Source: "file:/trail", Position: "x", Updated: now}},
	})
}

// iamd runs the command line with the env's clock for rotate and audit.
func (e *rotateEnv) iamd(args ...string) (string, error) {
	e.t.Helper()
	root := newRootCmd()
	for _, c := range root.Commands() {
		if c.Name() == "rotate" || c.Name() == "audit" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newRotateCmdAt(e.clock), newAuditCmdAt(e.clock))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	e.outs.Write(out.Bytes())
	return out.String(), err
}

func (e *rotateEnv) rotate(sub string, args ...string) (string, error) {
	e.t.Helper()
	a := append([]string{"rotate", sub, "--store", e.dir}, args...)
	if sub != "status" {
		a = append(a, "--endpoint", e.url, "--sts-endpoint", e.url, "--secretsmanager-endpoint", e.url, "--region", "us-east-1")
	}
	return e.iamd(a...)
}

func TestRotateCommand(t *testing.T) {
	e := newRotateEnv(t)
	e.fake.AddUser(awsfake.User{Name: "alice"})
	old := e.fake.AddKey("alice", e.now.Add(-100*24*time.Hour), true)
	e.fake.AddUser(awsfake.User{Name: "bob", Tags: map[string]string{"iamd-rotate": "false"}})
	e.fake.AddKey("bob", e.now.Add(-300*24*time.Hour), true)
	arn := e.fake.UserARN("alice")
	e.write(&store.Batch{
		Events: []store.Event{{ID: "e1", Time: e.now.Add(-time.Hour), Principal: arn, PrincipalType: "IAMUser", AccountID: "111122223333",
			RecipientAccountID: "111122223333", AccessKeyID: old, SourceIP: "10.0.0.1", UserAgent: "aws-cli/2.15", EventSource: "s3.amazonaws.com",
			EventName: "ListBuckets", Uses: []store.Use{{Action: "s3:ListAllMyBuckets", Resource: "*"}}}},
		Checkpoints: []store.Checkpoint{{Source: "file:/trail", Position: "1", Updated: e.now}},
	})

	t.Run("plan and run without --apply change nothing", func(t *testing.T) {
		for _, sub := range []string{"plan", "run"} {
			out, err := e.rotate(sub)
			if err != nil {
				t.Fatalf("%s: %v\n%s", sub, err, out)
			}
			for _, want := range []string{"dry run: nothing was changed", "1 users reported, 1 rotations would start, 0 errors", "alice  planned  → secretsmanager", "old key  " + old + "  100 days  Active  last used 2026-11-23T11:00:00Z by 10.0.0.1 / aws-cli/2.15",
				"why      key " + old + " is 100 days old (maximum 90d)", "action   would create a new key and deliver it to secretsmanager",
				"next     deactivate the old key once idle for 7d (earliest 2026-11-30T11:00:00Z), delete it 10d later (earliest 2026-12-10T11:00:00Z)"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s output lacks %q:\n%s", sub, want, out)
				}
			}
			if strings.Contains(out, "bob") {
				t.Errorf("%s lists bob, tagged iamd-rotate=false:\n%s", sub, out)
			}
		}
		for _, c := range e.fake.Calls() {
			if c.Mutating() {
				t.Errorf("dry run called %s", c.Action)
			}
		}
	})

	t.Run("run --apply", func(t *testing.T) {
		out, err := e.rotate("run", "--apply", "--format", "json")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var rep rotator.Report
		if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if rep.DryRun || len(rep.Users) != 1 || rep.Users[0].Phase != rotator.PhaseDraining {
			t.Fatalf("report = %+v", rep)
		}
		if n := len(e.fake.Keys("alice")); n != 2 {
			t.Errorf("alice has %d keys", n)
		}
	})

	t.Run("status", func(t *testing.T) {
		out, err := e.rotate("status")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, want := range []string{"USER", "alice", "draining", old, "100d", "10.0.0.1 / aws-cli/2.15", "deactivate old key once idle for 7d at 2026-11-30T11:00:00Z"} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
		out, err = e.rotate("status", "--format", "json")
		if err != nil {
			t.Fatal(err)
		}
		var st []rotator.UserReport
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 || st[0].OldKey.ID != old {
			t.Errorf("status json = %s (%v)", out, err)
		}
	})

	t.Run("audit names the rotation", func(t *testing.T) {
		keys := e.fake.Keys("alice")
		snap := fmt.Sprintf(`{"AccountId":"111122223333","UserDetailList":[{"UserName":"alice","Arn":%q,"AccessKeys":[
			{"AccessKeyId":%q,"Status":"Active","CreateDate":"2026-08-15T12:00:00Z"},{"AccessKeyId":%q,"Status":"Active","CreateDate":"2026-11-23T12:00:00Z"}]}]}`,
			arn, keys[0].ID, keys[1].ID)
		file := filepath.Join(t.TempDir(), "iam.json")
		if err := os.WriteFile(file, []byte(snap), 0o600); err != nil {
			t.Fatal(err)
		}
		find := func(args ...string) iam.Finding {
			out, err := e.iamd(append([]string{"audit", "--iam", file, "--format", "json"}, args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var got struct{ Findings []iam.Finding }
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			for _, f := range got.Findings {
				if f.Rule == iam.RuleTwoActiveKeys {
					return f
				}
			}
			t.Fatalf("no IAM005 in %s", out)
			return iam.Finding{}
		}
		if f := find(); f.Severity != iam.SeverityMedium {
			t.Errorf("without --store: %+v", f)
		}
		if f := find("--store", e.dir); f.Severity != iam.SeverityInfo || !strings.Contains(f.Title, "rotation in progress (draining since") {
			t.Errorf("with --store: %+v", f)
		}
	})

	t.Run("deactivate, then roll back", func(t *testing.T) {
		e.mu.Lock()
		e.now = e.now.Add(8 * 24 * time.Hour)
		e.mu.Unlock()
		e.tick()
		out, err := e.rotate("run", "--apply")
		if err != nil || !strings.Contains(out, "action   deactivated old key "+old) {
			t.Fatalf("%v\n%s", err, out)
		}
		out, err = e.rotate("rollback", "alice")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "alice: rolled-back (reactivated old key "+old) {
			t.Errorf("rollback output: %s", out)
		}
		if k, _ := e.fake.Key(old); !k.Active {
			t.Error("old key inactive after rollback")
		}
		if _, err := e.rotate("rollback", "nobody"); err == nil || !strings.Contains(err.Error(), "no rotation recorded") {
			t.Errorf("rollback of an unknown user: %v", err)
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"plan", "--max-age", "soon"}, {"plan", "--drain", "0"}, {"plan", "--delivery-file", "nopath"},
			{"plan", "--default-delivery", "vault"}, {"plan", "--format", "yaml"}, {"plan", "--tag", "=x"},
			{"status", "--store", filepath.Join(t.TempDir(), "none")},
		} {
			if out, err := e.rotate(args[0], args[1:]...); err == nil {
				t.Errorf("rotate %v succeeded:\n%s", args, out)
			}
		}
	})

	t.Run("no secret in outputs or store", func(t *testing.T) {
		var found []string
		secrets := e.fake.GeneratedSecrets()
		check := func(where string, b []byte) {
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					found = append(found, where)
				}
			}
		}
		check("command output", e.outs.Bytes())
		filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				check(p, b)
			}
			return err
		})
		if len(found) > 0 {
			t.Errorf("secret found in %v", found)
		}
		if len(secrets) < 3 {
			t.Errorf("only %d secrets generated", len(secrets))
		}
	})
}
