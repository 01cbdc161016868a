package rotator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/iam/live"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/rotator/awsfake"
	"github.com/iamd/iamd/store"
)

// t0 is "now" at the start of every scenario.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one scenario: the fake AWS endpoint, an on-disk store, a
// webhook receiver and the rotator's log, all on one clock that the
// rotator's sleeps move forward.
type env struct {
	t        *testing.T
	clk      *clock
	fake     *awsfake.Fake
	url      string
	dir      string
	db       *store.DB
	logs     *bytes.Buffer
	logMu    *sync.Mutex
	policy   rotator.Policy
	hookMu   sync.Mutex
	webhooks []rotator.Event
	bodies   [][]byte
	targets  map[string]rotator.Delivery // overrides
	outputs  [][]byte                    // reports and statuses rendered as JSON
	// opts, if set, changes the rotator's options last (a hook, a
	// filtered account listing).
	opts func(*rotator.Options)
}

// newEnv starts a scenario. STS refuses new keys for 15 s.
func newEnv(t *testing.T, mod func(*rotator.Policy)) *env {
	t.Helper()
	e := &env{t: t, clk: &clock{t: t0}, logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	e.fake = awsfake.New(awsfake.Options{Now: e.clk.now, NewKeyDelay: 15 * time.Second, Seed: 7})
	srv := httptest.NewServer(e.fake)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev rotator.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("webhook body %s: %v", b, err)
		}
		e.hookMu.Lock()
		e.webhooks = append(e.webhooks, ev)
		e.bodies = append(e.bodies, b)
		e.hookMu.Unlock()
	}))
	t.Cleanup(hook.Close)
	e.dir = t.TempDir()
	db, err := store.Open(store.Options{Dir: e.dir, Now: e.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	e.policy = rotator.DefaultPolicy()
	e.policy.DryRun = false
	e.policy.WebhookURL = hook.URL
	if mod != nil {
		mod(&e.policy)
	}
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// rotator builds a Rotator with the real SDK clients against the fake.
func (e *env) rotator() *rotator.Rotator {
	e.t.Helper()
	iamc := awsfake.IAMClient(e.url)
	targets := rotator.Targets(e.policy.Delivery, awsfake.SecretsManagerClient(e.url))
	for k, v := range e.targets {
		targets[k] = v
	}
	o := rotator.Options{
		Policy: e.policy,
		Account: func(ctx context.Context) (*iam.Account, error) {
			d, err := live.Fetch(ctx, live.Options{Client: iamc, Now: e.clk.now, SkipCredentialReport: true})
			if err != nil {
				return nil, err
			}
			return iam.FromDetails(d, iam.LoadOptions{})
		},
		IAM:         rotator.SDKKeys{Client: iamc},
		Verifier:    rotator.STSVerifier{Options: awsfake.STSOptions(e.url)},
		Targets:     targets,
		States:      e.db,
		Usage:       e.db,
		Logger:      slog.New(slog.NewJSONHandler(lockedWriter{e.logMu, e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:         e.clk.now,
		Sleep:       func(_ context.Context, d time.Duration) error { e.clk.add(d); return nil },
		StepBackoff: time.Millisecond,
	}
	if e.opts != nil {
		e.opts(&o)
	}
	r, err := rotator.New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// run runs one rotation pass and keeps its JSON for the secret check.
func (e *env) run() *rotator.Report {
	e.t.Helper()
	rep, err := e.rotator().Run(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.keep(rep)
	return rep
}

func (e *env) keep(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	e.outputs = append(e.outputs, b)
}

// user returns the report line of name.
func (e *env) user(rep *rotator.Report, name string) rotator.UserReport {
	e.t.Helper()
	for _, u := range rep.Users {
		if u.User == name {
			return u
		}
	}
	e.t.Fatalf("no report line for %s in %+v", name, rep.Users)
	return rotator.UserReport{}
}

var eventSeq int

// aged adds user name with one active key created age ago, records that
// ingest is running, and returns the key ID.
func (e *env) aged(name string, age time.Duration, tags map[string]string) string {
	e.t.Helper()
	e.fake.AddUser(awsfake.User{Name: name, Tags: tags})
	id := e.fake.AddKey(name, e.clk.now().Add(-age), true)
	e.ingestTick()
	return id
}

// use records a CloudTrail call with keyID in the usage index (with
// ingest current: a checkpoint and another principal's call, now) and in
// IAM's last use.
func (e *env) use(keyID, user string, at time.Time, ip, agent string) {
	e.t.Helper()
	eventSeq++
	arn := e.fake.UserARN(user)
	_, err := e.db.Write(context.Background(), &store.Batch{
		Events: []store.Event{{ID: fmt.Sprintf("ev-%d", eventSeq), Time: at, Principal: arn, PrincipalType: "IAMUser",
			AccountID: e.fake.AccountID(), RecipientAccountID: e.fake.AccountID(), AccessKeyID: keyID, SourceIP: ip, UserAgent: agent,
			Region: "us-east-1", EventSource: "s3.amazonaws.com", EventName: "ListBuckets", Uses: []store.Use{{Action: "s3:ListAllMyBuckets", Resource: "*"}}}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.ingestTick()
	if k, ok := e.fake.Key(keyID); ok && at.After(k.LastUsed) {
		e.fake.SetLastUsed(keyID, at, "s3")
	}
}

// ingestTick records that ingest keeps running and CloudTrail is
// current: a checkpoint and a call of some other principal, both now;
// nothing new for the users under test.
func (e *env) ingestTick() {
	e.t.Helper()
	e.ingest("file:/trail", e.clk.now(), e.clk.now())
}

// ingest writes a checkpoint of source updated at written and, unless
// eventAt is zero, an unrelated CloudTrail call at eventAt (what a
// backlog replay writes: fresh checkpoints, old events).
func (e *env) ingest(source string, written, eventAt time.Time) {
	e.t.Helper()
	b := &store.Batch{Checkpoints: []store.Checkpoint{{Source: source, Position: "tick", Updated: written}}}
	if !eventAt.IsZero() {
		eventSeq++
		b.Events = []store.Event{{ID: fmt.Sprintf("tick-%d", eventSeq), Time: eventAt, Principal: "arn:aws:iam::" + e.fake.AccountID() + ":role/app",
			PrincipalType: "AssumedRole", AccountID: e.fake.AccountID(), RecipientAccountID: e.fake.AccountID(), Region: "us-east-1",
			EventSource: "sqs.amazonaws.com", EventName: "ReceiveMessage", Uses: []store.Use{{Action: "sqs:ReceiveMessage", Resource: "*"}}}}
	}
	if _, err := e.db.Write(context.Background(), b); err != nil {
		e.t.Fatal(err)
	}
}

// record returns the stored rotation record of user.
func (e *env) record(user string) rotator.Record {
	e.t.Helper()
	s, ok, err := e.db.GetState(context.Background(), rotator.StateKind, e.fake.UserARN(user))
	if err != nil || !ok {
		e.t.Fatalf("record of %s: %v %v", user, ok, err)
	}
	var r rotator.Record
	if err := json.Unmarshal(s.Data, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) events(kind string) []rotator.Event {
	e.hookMu.Lock()
	defer e.hookMu.Unlock()
	var out []rotator.Event
	for _, ev := range e.webhooks {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// leaks returns where any generated secret appears: the store's files,
// the log, the webhook bodies, the rendered outputs, and extra.
func (e *env) leaks(extra map[string][]byte) []string {
	e.t.Helper()
	secrets := e.fake.GeneratedSecrets()
	var found []string
	check := func(where string, data []byte) {
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				found = append(found, where)
				return
			}
		}
	}
	// Flush the store so its files hold everything written.
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		check("store file "+strings.TrimPrefix(p, e.dir), b)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	db, err := store.Open(store.Options{Dir: e.dir, Now: e.clk.now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	e.t.Cleanup(func() { db.Close() })
	e.logMu.Lock()
	check("log", e.logs.Bytes())
	e.logMu.Unlock()
	e.hookMu.Lock()
	for i, b := range e.bodies {
		check(fmt.Sprintf("webhook body %d", i), b)
	}
	e.hookMu.Unlock()
	for i, b := range e.outputs {
		check(fmt.Sprintf("output %d", i), b)
	}
	for where, b := range extra {
		check(where, b)
	}
	return found
}
