package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/cmd/iamd/internal/api"
	"github.com/iamd/iamd/cmd/iamd/internal/daemon"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/rotator/awsfake"
	"github.com/iamd/iamd/store"
)

// iamdAt runs the command line with the clock of the commands that take
// one fixed at now; stdout and stderr apart.
func iamdAt(t *testing.T, now time.Time, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	clock := func() time.Time { return now }
	root := newRootCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "rotate", "audit", "report", "unused", "suggest":
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newRotateCmdAt(clock), newAuditCmdAt(clock), newReportCmdAt(clock), newUnusedCmdAt(clock), newSuggestCmdAt(clock))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// inProcessDaemon runs `iamd run` in this process with the daemon's
// addons, on cfg (listening on a free loopback port) and the clock now.
type inProcessDaemon struct {
	base  string
	token string
	stop  func()
}

func startInProcessDaemon(t *testing.T, cfg configs.Config, now func() time.Time, clock scheduler.Clock) *inProcessDaemon {
	t.Helper()
	cfg.HTTP.Listen = "127.0.0.1:0"
	if err := validateConfig(&cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Config: cfg, Now: now, Clock: clock, Addons: daemonAddons(), AWS: daemonAWSClients(), OnListen: func(a net.Addr) { addr <- a }})
	}()
	d := &inProcessDaemon{token: cfg.HTTP.Token}
	select {
	case a := <-addr:
		d.base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not listen")
	}
	stopped := false
	d.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}
	t.Cleanup(d.stop)
	return d
}

func (d *inProcessDaemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.base+api.Prefix+path, nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	return resp.StatusCode, string(body)
}

// apiTestStore is a generated trail ingested with its IAM snapshot
// saved, a job status, a kept suggestion run and a rotation in
// progress: something behind every endpoint.
type apiTestStore struct {
	dir, principal, account string
	now                     time.Time
}

func newAPITestStore(t *testing.T, withRotation bool) apiTestStore {
	t.Helper()
	dir := t.TempDir()
	st, snap := filepath.Join(dir, "store"), filepath.Join(dir, "iam.json")
	s := apiTestStore{dir: st, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	if _, err := runIamd(t, "gen-trail", "--out", filepath.Join(dir, "trail"), "--iam-snapshot", snap, "--events", "1500", "--seed", "5"); err != nil {
		t.Fatal(err)
	}
	if out, err := runIamd(t, "ingest", "--store", st, filepath.Join(dir, "trail"), writeBadTrail(t)); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	if out, err := runIamd(t, "snapshot", "save", "--store", st, "--iam", snap); err != nil {
		t.Fatalf("snapshot save: %v\n%s", err, out)
	}
	if out, _, err := iamdAt(t, s.now, "suggest", "--store", st, "--out", filepath.Join(dir, "suggestions"), "--window", "30d"); err != nil {
		t.Fatalf("suggest: %v\n%s", err, out)
	}
	if withRotation {
		s.rotateOne(t)
	}
	db, err := store.Open(store.Options{Dir: st})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	next := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	data, _ := json.Marshal(scheduler.Status{Name: "iam-refresh", Schedule: "@daily", NextRun: &next, Runs: 3})
	if err := db.PutState(context.Background(), store.State{Kind: scheduler.StateKind, ID: "iam-refresh", Data: data}, nil); err != nil {
		t.Fatal(err)
	}
	// The principal with the most facts, so that --limit cuts.
	facts, err := db.Facts(context.Background(), store.FactQuery{})
	if err != nil {
		t.Fatal(err)
	}
	perPrincipal := map[string]int{}
	for _, f := range facts {
		if perPrincipal[f.Principal]++; perPrincipal[f.Principal] > perPrincipal[s.principal] {
			s.principal = f.Principal
		}
	}
	if perPrincipal[s.principal] < 4 {
		t.Fatalf("no principal with 4 facts or more: %v", perPrincipal)
	}
	var account struct{ Account string }
	out, err := runIamdStdout(t, "audit", "--iam", snap, "--format", "json")
	if err != nil || json.Unmarshal([]byte(out), &account) != nil || account.Account == "" {
		t.Fatalf("audit: %v %q", err, out)
	}
	s.account = account.Account
	return s
}

// rotateOne starts a rotation in the store, through the fake AWS
// endpoint: a record for `iamd rotate status` to show.
func (s apiTestStore) rotateOne(t *testing.T) {
	t.Helper()
	setFakeAWSEnv(t)
	fake := awsfake.New(awsfake.Options{Now: func() time.Time { return s.now }})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.AddUser(awsfake.User{Name: "alice"})
	fake.AddKey("alice", s.now.Add(-100*24*time.Hour), true)
	if out, _, err := iamdAt(t, s.now, "rotate", "run", "--apply", "--store", s.dir, "--endpoint", srv.URL, "--sts-endpoint", srv.URL,
		"--secretsmanager-endpoint", srv.URL, "--region", "us-east-1", "--max-index-lag", "0"); err != nil {
		t.Fatalf("rotate run: %v\n%s", err, out)
	}
}

// setFakeAWSEnv makes the SDK's default chain sign with the fake's admin
// key and read no file of the machine's.
func setFakeAWSEnv(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", awsfake.AdminKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsfake.AdminSecret)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
}

// TestAPIAnswersAsTheCLI: for the same store, every /api/v1 endpoint
// answers with exactly the bytes of the CLI command it stands for.
func TestAPIAnswersAsTheCLI(t *testing.T) {
	s := newAPITestStore(t, true)
	name := s.principal[strings.LastIndexByte(s.principal, '/')+1:]
	type pair struct {
		cli  []string
		path string
	}
	pairs := []pair{
		{[]string{"usage", "--format", "json"}, "usage"},
		{[]string{"usage", "--principal", s.principal, "--limit", "3", "--format", "json"}, "usage?limit=3&principal=" + url.QueryEscape(s.principal)},
		{[]string{"usage", "--principal", name, "--format", "json"}, "usage?principal=" + name},
		{[]string{"usage", "principals", "--format", "json"}, "principals"},
		{[]string{"usage", "principals", "--principal", s.principal, "--format", "json"}, "principals?principal=" + url.QueryEscape(s.principal)},
		{[]string{"quarantine", "--format", "json"}, "quarantine"},
		{[]string{"quarantine", "--limit", "1", "--format", "json"}, "quarantine?limit=1"},
		{[]string{"snapshot", "list", "--account", s.account, "--format", "json"}, "snapshots?account=" + s.account},
		{[]string{"jobs", "--format", "json"}, "jobs"},
		{[]string{"report", "--format", "json"}, "report"},
		{[]string{"report", "--principal", name, "--window", "30d", "--at", "2026-11-01", "--top", "2", "--format", "json"}, "report?principal=" + name + "&window=30d&at=2026-11-01&top=2"},
		{[]string{"unused", "--format", "json"}, "unused"},
		{[]string{"unused", "--window", "7d", "--exclude", "path:/", "--format", "json"}, "unused?window=7d&exclude=path:/"},
		{[]string{"audit", "--store", s.dir, "--format", "json"}, "audit"},
		{[]string{"suggest", "latest", "--format", "json"}, "suggestions"},
		{[]string{"suggest", "latest", "--principal", name, "--format", "json"}, "suggestions?principal=" + name},
		{[]string{"suggest", "--dry-run", "--window", "30d", "--grace", "0", "--format", "json"}, "suggestions/dry-run?window=30d&grace=0"},
		{[]string{"rotate", "status", "--format", "json"}, "rotation"},
		{[]string{"suggest", "--dry-run", "--window", "30d", "--grace", "0", "--keep-action", "s3:*", "--format", "json"}, "suggestions/dry-run?window=30d&grace=0&keep_action=s3:*"},
	}
	want := make([]string, len(pairs))
	for i, p := range pairs {
		args := p.cli
		if p.cli[0] != "audit" {
			args = append(args, "--store", s.dir)
		}
		out, _, err := iamdAt(t, s.now, args...)
		if err != nil {
			t.Fatalf("iamd %v: %v", p.cli, err)
		}
		if len(out) < 10 {
			t.Fatalf("iamd %v printed %q: nothing to compare", p.cli, out)
		}
		want[i] = out
	}
	// Something behind each: a principal's utilisation, a finding, a
	// suggestion's self-check, a rotation.
	for i, sub := range map[int]string{3: `"utilisation"`, 9: `"unused"`, 13: `"findings"`, 14: `"self_check"`, 16: `"self_check"`, 17: `"user": "alice"`} {
		if !strings.Contains(want[i], sub) {
			t.Fatalf("iamd %v lacks %s:\n%s", pairs[i].cli, sub, clip(want[i]))
		}
	}

	kept := func(out string) (n int) {
		var res suggest.RunResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		for _, s := range res.Summaries {
			n += s.Kept
		}
		return n
	}
	if without, with := kept(want[16]), kept(want[18]); with <= without {
		t.Fatalf("iamd suggest --keep-action s3:* keeps %d unused actions, without it %d", with, without)
	}

	cfg := configs.Default()
	cfg.Store.Dir, cfg.HTTP.Token, cfg.IAM.Refresh, cfg.Suggestions.Schedule = s.dir, "tok", "", ""
	d := startInProcessDaemon(t, cfg, func() time.Time { return s.now }, nil)
	for i, p := range pairs {
		code, got := d.get(t, p.path)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d %s", p.path, code, clip(got))
		}
		if got != want[i] {
			t.Errorf("GET %s differs from iamd %s:\n%s\nwant\n%s", p.path, strings.Join(p.cli, " "), clip(got), clip(want[i]))
		}
	}
	for path, wantCode := range map[string]int{
		"report?principal=nobody": http.StatusNotFound, "report?window=0d": http.StatusBadRequest, "report?at=yesterday": http.StatusBadRequest,
		"usage?principal=nobody": http.StatusNotFound, "suggestions?principal=nobody": http.StatusNotFound, "unused?exclude=x": http.StatusBadRequest,
		"suggestions/dry-run?keep_action=s3": http.StatusBadRequest, "suggestions/dry-run?grace=soon": http.StatusBadRequest,
		"audit?key_max_age=0d": http.StatusBadRequest, "audit?key_max_age=old": http.StatusBadRequest, "audit?window=-3d": http.StatusBadRequest,
		"report?top=-1": http.StatusBadRequest,
	} {
		if code, body := d.get(t, path); code != wantCode || !strings.Contains(body, `"error"`) {
			t.Errorf("GET %s = %d %s, want %d with an error", path, code, body, wantCode)
		}
	}
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}
