package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
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

const (
	envChild = "IAMD_ROTATOR_CRASH_CHILD" // "run" or "rollback"
	envStore = "IAMD_ROTATOR_CRASH_STORE"
	envURL   = "IAMD_ROTATOR_CRASH_URL"
	envNow   = "IAMD_ROTATOR_CRASH_NOW"
	envPoint = "IAMD_ROTATOR_CRASH_POINT"
)

const (
	day        = 24 * time.Hour
	user       = "alice"
	secretName = "iamd/access-keys/alice"
	// newKeyDelay is how long (real time) STS refuses a new key.
	newKeyDelay = 150 * time.Millisecond
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// TestChild is the rotator process the crash tests start, kill and
// restart. Its clock starts at $IAMD_ROTATOR_CRASH_NOW; when it reaches
// the hook point $IAMD_ROTATOR_CRASH_POINT it says so and waits to be
// killed.
func TestChild(t *testing.T) {
	mode := os.Getenv(envChild)
	if mode == "" {
		t.Skip("started by the crash tests in a child process")
	}
	base, err := time.Parse(time.RFC3339Nano, os.Getenv(envNow))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	now := func() time.Time { return base.Add(time.Since(started)) }
	db, err := store.Open(store.Options{Dir: os.Getenv(envStore), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	url := os.Getenv(envURL)
	point := os.Getenv(envPoint)
	policy := rotator.DefaultPolicy()
	policy.DryRun = false
	iamc := awsfake.IAMClient(url)
	r, err := rotator.New(rotator.Options{
		Policy: policy,
		Account: func(ctx context.Context) (*iam.Account, error) {
			d, err := live.Fetch(ctx, live.Options{Client: iamc, Now: now, SkipCredentialReport: true})
			if err != nil {
				return nil, err
			}
			return iam.FromDetails(d, iam.LoadOptions{})
		},
		IAM:      rotator.SDKKeys{Client: iamc},
		Verifier: rotator.STSVerifier{Options: awsfake.STSOptions(url)},
		Targets:  rotator.Targets(policy.Delivery, awsfake.SecretsManagerClient(url)),
		States:   db,
		Usage:    db,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      now,
		// Waits pass 20 times faster: the verification backoff.
		Sleep:       func(_ context.Context, d time.Duration) error { time.Sleep(d / 20); return nil },
		StepBackoff: time.Millisecond,
		Hook: func(p string) {
			if p == point {
				fmt.Printf("POINT %s\n", p)
				time.Sleep(time.Hour)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out any
	switch mode {
	case "run":
		out, err = r.Run(context.Background())
	case "rollback":
		out, err = r.Rollback(context.Background(), user)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	fmt.Printf("REPORT %s\n", b)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// clock is the fake's clock: a settable base that moves with real time.
type clock struct {
	mu   sync.Mutex
	base time.Time
	set  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(time.Since(c.set))
}

func (c *clock) reset(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.set = t, time.Now()
}

// stage is one rotator run at a virtual time.
type stage struct {
	at     time.Duration // after t0
	mode   string        // "run" or "rollback"
	after  string        // mode of the restart after a crash (default mode)
	before func(p *trial)
}

// trial is one crash scenario: the stages of a rotation, with one kill.
type trial struct {
	t        *testing.T
	name     string
	point    string // rotator hook point to kill at
	inflight string // fake action to kill during ("CreateAccessKey#1")
	stages   []stage
	final    func(p *trial)

	clk     *clock
	fake    *awsfake.Fake
	url     string
	dir     string
	oldKey  string
	expired string
	oldUse  time.Time
	outputs bytes.Buffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	counts  map[string]int
	killed  bool
	crashes int
}

func (p *trial) writeStore(fn func(db *store.DB) error) {
	p.t.Helper()
	db, err := store.Open(store.Options{Dir: p.dir, Now: p.clk.now})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := fn(db); err != nil {
		p.t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		p.t.Fatal(err)
	}
}

// tick records that ingest is running and current: a fresh checkpoint
// and a call of another principal, now.
func (p *trial) tick() {
	now := p.clk.now()
	p.writeStore(func(db *store.DB) error {
		_, err := db.Write(context.Background(), &store.Batch{
			Events: []store.Event{{ID: "tick-" + now.Format(time.RFC3339Nano), Time: now, Principal: "arn:aws:iam::" + p.fake.AccountID() + ":role/app",
				PrincipalType: "AssumedRole", AccountID: p.fake.AccountID(), RecipientAccountID: p.fake.AccountID(),
				EventSource: "sqs.amazonaws.com", EventName: "ReceiveMessage", Uses: []store.Use{{Action: "sqs:ReceiveMessage", Resource: "*"}}}},
			Checkpoints: []store.Checkpoint{{Source: "file:/trail", Position: "tick", Updated: now}},
		})
		return err
	})
}

func (p *trial) setup() {
	p.clk = &clock{}
	p.clk.reset(t0)
	p.fake = awsfake.New(awsfake.Options{Now: p.clk.now, NewKeyDelay: newKeyDelay, Seed: 3})
	srv := httptest.NewServer(p.fake)
	p.t.Cleanup(srv.Close)
	p.url = srv.URL
	p.dir = p.t.TempDir()
	p.counts = map[string]int{}
	p.fake.AddUser(awsfake.User{Name: user})
	p.oldKey = p.fake.AddKey(user, t0.Add(-100*day), true)
	p.expired = p.fake.AddKey(user, t0.Add(-400*day), false)
	p.fake.SetLastUsed(p.expired, t0.Add(-200*day), "ec2")
	p.oldUse = t0.Add(-time.Hour)
	p.fake.SetLastUsed(p.oldKey, p.oldUse, "s3")
	arn := p.fake.UserARN(user)
	p.writeStore(func(db *store.DB) error {
		_, err := db.Write(context.Background(), &store.Batch{
			Events: []store.Event{{ID: "use-1", Time: p.oldUse, Principal: arn, PrincipalType: "IAMUser", AccountID: p.fake.AccountID(),
				RecipientAccountID: p.fake.AccountID(), AccessKeyID: p.oldKey, SourceIP: "10.0.0.1", UserAgent: "aws-cli/2.15",
				EventSource: "s3.amazonaws.com", EventName: "ListBuckets", Uses: []store.Use{{Action: "s3:ListAllMyBuckets", Resource: "*"}}}},
			Checkpoints: []store.Checkpoint{{Source: "file:/trail", Position: "1", Updated: t0}},
		})
		return err
	})
	p.fake.AfterMutation(p.inFlight)
}

// inFlight kills the child while the fake does the work of the chosen
// call: AWS acts, the rotator never hears.
func (p *trial) inFlight(_, action string) {
	p.mu.Lock()
	p.counts[action]++
	hit := p.inflight == fmt.Sprintf("%s#%d", action, p.counts[action]) && !p.killed && p.cmd != nil
	if hit {
		p.killed = true
		p.cmd.Process.Kill()
	}
	done := p.done
	p.mu.Unlock()
	if hit {
		<-done
	}
}

// child runs the rotator once; it reports whether it was killed.
func (p *trial) child(mode, point string) bool {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+mode, envStore+"="+p.dir, envURL+"="+p.url,
		envNow+"="+p.clk.now().Format(time.RFC3339Nano), envPoint+"="+point)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.cmd, p.done, p.killed = cmd, make(chan struct{}), false
	p.mu.Unlock()
	var out bytes.Buffer
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if strings.HasPrefix(line, "POINT ") {
			p.mu.Lock()
			p.killed = true
			cmd.Process.Kill()
			p.mu.Unlock()
		}
	}
	werr := cmd.Wait()
	p.mu.Lock()
	killed := p.killed
	p.cmd = nil
	close(p.done)
	p.mu.Unlock()
	p.outputs.Write(out.Bytes())
	p.outputs.Write(stderr.Bytes())
	if !killed && werr != nil {
		p.t.Fatalf("rotator %s failed: %v\n%s%s", mode, werr, out.String(), stderr.String())
	}
	return killed
}

func (p *trial) run() {
	for i, s := range p.stages {
		p.clk.reset(t0.Add(s.at))
		if s.before != nil {
			s.before(p)
		}
		if p.child(s.mode, p.point) {
			p.crashes++
			p.checkAlways(fmt.Sprintf("stage %d killed", i))
			mode := s.mode
			if s.after != "" {
				mode = s.after
			}
			if p.child(mode, "") {
				p.t.Fatalf("stage %d: the restart was killed too", i)
			}
		}
		p.checkAlways(fmt.Sprintf("stage %d", i))
		p.checkSettled(fmt.Sprintf("stage %d", i))
	}
	if p.crashes != 1 {
		p.t.Fatalf("crashed %d times, want once: the crash point was never reached", p.crashes)
	}
	if p.final != nil {
		p.final(p)
	}
	p.checkNoSecret()
}

// published returns the key IDs that were ever AWSCURRENT, and the
// current one.
func (p *trial) published() (map[string]bool, string) {
	out := map[string]bool{}
	cur := ""
	for _, v := range p.fake.CurrentHistory(secretName) {
		var d struct {
			AccessKeyID string `json:"AccessKeyId"`
		}
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			p.t.Fatal(err)
		}
		out[d.AccessKeyID], cur = true, d.AccessKeyID
	}
	return out, cur
}

// checkAlways holds at every moment, crashed or not: a working key, at
// most one new key, and no key deleted or deactivated while in use.
func (p *trial) checkAlways(when string) {
	p.t.Helper()
	keys := p.fake.Keys(user)
	byID := map[string]awsfake.Key{}
	newKeys := 0
	for _, k := range keys {
		byID[k.ID] = k
		if k.ID != p.oldKey && k.ID != p.expired {
			newKeys++
		}
	}
	if newKeys > 1 {
		p.t.Errorf("%s: %d new keys: %+v", when, newKeys, keys)
	}
	pub, cur := p.published()
	if cur != "" && !byID[cur].Active {
		p.t.Errorf("%s: the published key %s is gone or inactive", when, cur)
	}
	if !byID[p.oldKey].Active && (cur == "" || !byID[cur].Active) {
		p.t.Errorf("%s: no working key: old key inactive or deleted, published key %q", when, cur)
	}
	for _, c := range p.fake.Calls() {
		if c.Code != "" || !(c.Action == "DeleteAccessKey" || c.Action == "UpdateAccessKey" && c.Params["Status"] == "Inactive") {
			continue
		}
		switch id := c.Params["AccessKeyId"]; id {
		case p.oldKey:
			if c.At.Sub(p.oldUse) < 7*day {
				p.t.Errorf("%s: %s of the old key at %v, %v after its last use", when, c.Action, c.At, c.At.Sub(p.oldUse))
			}
		case p.expired:
		default:
			if pub[id] {
				p.t.Errorf("%s: %s of %s, a key consumers received", when, c.Action, id)
			}
		}
	}
}

// checkSettled holds after a run that completed: every key is accounted
// for by the record.
func (p *trial) checkSettled(when string) {
	p.t.Helper()
	var rec rotator.Record
	p.writeStore(func(db *store.DB) error {
		s, ok, err := db.GetState(context.Background(), rotator.StateKind, p.fake.UserARN(user))
		if err != nil || !ok {
			return fmt.Errorf("record: %v %v", ok, err)
		}
		return json.Unmarshal(s.Data, &rec)
	})
	if rec.Step != "" {
		p.t.Errorf("%s: record left with step %s after a completed run", when, rec.Step)
	}
	for _, k := range p.fake.Keys(user) {
		if k.ID != p.oldKey && k.ID != p.expired && k.ID != rec.NewKey {
			p.t.Errorf("%s: orphan key %s (record: phase %s, new key %q)", when, k.ID, rec.Phase, rec.NewKey)
		}
	}
}

// checkNoSecret greps the store's files and every child's output.
func (p *trial) checkNoSecret() {
	p.t.Helper()
	secrets := p.fake.GeneratedSecrets()
	check := func(where string, b []byte) {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				p.t.Errorf("a secret access key appears in %s", where)
				return
			}
		}
	}
	check("the rotator's output and log", p.outputs.Bytes())
	filepath.WalkDir(p.dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			check("store file "+d.Name(), b)
		}
		return err
	})
}

func (p *trial) finalPhase(want rotator.Phase) {
	p.t.Helper()
	var rec rotator.Record
	p.writeStore(func(db *store.DB) error {
		s, _, err := db.GetState(context.Background(), rotator.StateKind, p.fake.UserARN(user))
		if err != nil {
			return err
		}
		return json.Unmarshal(s.Data, &rec)
	})
	if rec.Phase != want {
		p.t.Errorf("final phase %s (%s), want %s", rec.Phase, rec.Reason, want)
	}
}

// The rotation's stages: free a slot, create, deliver, verify, publish
// (t0); deactivate once the old key is idle for 7 days (t0+8d); delete
// after the 10-day recovery window (t0+19d).
func fullRotation() []stage {
	return []stage{
		{at: 0, mode: "run"},
		{at: 8 * day, mode: "run", before: (*trial).tick},
		{at: 19 * day, mode: "run", before: (*trial).tick},
	}
}

func completed(p *trial) {
	p.t.Helper()
	p.finalPhase(rotator.PhaseDeleted)
	keys := p.fake.Keys(user)
	_, cur := p.published()
	if len(keys) != 1 || keys[0].ID != cur || !keys[0].Active {
		p.t.Errorf("final keys %+v, want the published key %s alone", keys, cur)
	}
}

func TestCrashEveryTransition(t *testing.T) {
	var trials []*trial
	for _, step := range []string{"free-slot", "create", "deliver", "promote", "deactivate", "delete"} {
		for _, at := range []string{"started", "called", "saved"} {
			trials = append(trials, &trial{name: step + "/" + at, point: step + "/" + at, stages: fullRotation(), final: completed})
		}
	}
	for _, point := range []string{"verify/called", "verified/saved", "recovering/saved"} {
		trials = append(trials, &trial{name: point, point: point, stages: fullRotation(), final: completed})
	}
	for _, call := range []string{"DeleteAccessKey#1", "CreateAccessKey#1", "CreateSecret#1", "PutSecretValue#1", "UpdateSecretVersionStage#1", "UpdateAccessKey#1", "DeleteAccessKey#2"} {
		trials = append(trials, &trial{name: "in flight " + call, inflight: call, stages: fullRotation(), final: completed})
	}
	for _, at := range []string{"started", "called", "saved"} {
		// Delivery fails for good: the new key is deleted; a day later
		// the rotation succeeds.
		trials = append(trials, &trial{name: "compensate/" + at, point: "compensate/" + at, stages: []stage{
			{at: 0, mode: "run", before: func(p *trial) { p.fake.Fail("PutSecretValue", 1000, 500, "InternalServiceError") }},
			{at: 2 * day, mode: "run", before: func(p *trial) { p.fake.ClearFaults(); p.tick() }},
		}, final: func(p *trial) {
			p.finalPhase(rotator.PhaseDraining)
			if n := len(p.fake.Keys(user)); n != 2 {
				p.t.Errorf("keys = %d, want old and new", n)
			}
		}})
		// Rollback during recovery, killed, then finished by the next run.
		trials = append(trials, &trial{name: "rollback/" + at, point: "rollback/" + at, stages: []stage{
			{at: 0, mode: "run"},
			{at: 8 * day, mode: "run", before: (*trial).tick},
			{at: 9 * day, mode: "rollback", after: "run"},
		}, final: func(p *trial) {
			if k, _ := p.fake.Key(p.oldKey); !k.Active {
				p.t.Errorf("old key not reactivated")
			}
		}})
	}
	if testing.Short() {
		trials = trials[:6]
	}
	for _, tr := range trials {
		// One at a time: a child forked while another trial holds its
		// store open would inherit the Badger directory lock until exec.
		t.Run(tr.name, func(t *testing.T) {
			tr.t = t
			tr.setup()
			tr.run()
		})
	}
}
