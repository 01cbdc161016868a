package rotator_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/rotator/awsfake"
)

// keyDoc is what the Secrets Manager and file targets hold.
type keyDoc struct {
	UserName        string
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
}

func (e *env) secretDoc(name, stage string) (keyDoc, bool) {
	e.t.Helper()
	v, ok := e.fake.SecretValue(name, stage)
	if !ok {
		return keyDoc{}, false
	}
	var d keyDoc
	if err := json.Unmarshal([]byte(v), &d); err != nil {
		e.t.Fatalf("secret %s %s: %v", name, stage, err)
	}
	return d, true
}

// TestLifecycle follows one user through every phase with Secrets
// Manager delivery, over the wire.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUser(awsfake.User{Name: "alice", Path: "/ci/"})
	old := e.fake.AddKey("alice", t0.Add(-100*day), true)
	e.use(old, "alice", t0.Add(-time.Hour), "10.0.0.1", "aws-cli/2.15")
	secretName := "iamd/access-keys/alice"

	// Run 1: create, stage, verify (STS refuses the key for 15 s), publish.
	rep := e.run()
	u := e.user(rep, "alice")
	if u.Phase != rotator.PhaseDraining || u.Error != "" {
		t.Fatalf("after run 1: %+v", u)
	}
	keys := e.fake.Keys("alice")
	if len(keys) != 2 || !keys[0].Active || !keys[1].Active {
		t.Fatalf("keys after run 1 = %+v, want old and new active", keys)
	}
	newKey := keys[1]
	if u.NewKey == nil || u.NewKey.ID != newKey.ID {
		t.Fatalf("report new key = %+v, want %s", u.NewKey, newKey.ID)
	}
	doc, ok := e.secretDoc(secretName, "AWSCURRENT")
	if !ok || doc.AccessKeyID != newKey.ID || doc.SecretAccessKey != newKey.Secret || doc.UserName != "alice" {
		t.Fatalf("AWSCURRENT = %+v, want the new key and its secret", doc)
	}
	if _, pending := e.fake.SecretValue(secretName, "AWSPENDING"); pending {
		t.Errorf("AWSPENDING still set after publication")
	}
	if got := e.fake.Count("GetCallerIdentity"); got != 1 {
		t.Errorf("GetCallerIdentity succeeded %d times, want 1", got)
	}
	if !strings.Contains(u.Reason, "10.0.0.1") || !strings.Contains(u.Reason, "aws-cli/2.15") {
		t.Errorf("drain reason does not say who uses the old key: %q", u.Reason)
	}
	if len(e.events(rotator.EventCreate)) != 1 {
		t.Errorf("webhook create events = %d, want 1", len(e.events(rotator.EventCreate)))
	}

	// Run 2, 3 days later: the old key was used a day ago.
	e.clk.add(3 * day)
	e.use(old, "alice", e.clk.now().Add(-day), "10.0.0.2", "terraform/1.9")
	u = e.user(e.run(), "alice")
	if u.Phase != rotator.PhaseDraining || u.Drain == nil || u.Drain.Idle {
		t.Fatalf("after run 2: %+v", u)
	}
	// The drain window ends where the index has seen CloudTrail up to.
	if lag := e.clk.now().Sub(u.Drain.IndexCovered); lag <= 0 || lag > time.Hour {
		t.Errorf("index covered up to %v, %v before now", u.Drain.IndexCovered, lag)
	} else if want := e.clk.now().Add(-day).Add(7*day + lag); !u.NextAt.Equal(want) {
		t.Errorf("next at %v, want %v (last use + drain + what the index has not seen yet)", u.NextAt, want)
	}
	if len(u.Drain.SourceIPs) != 2 {
		t.Errorf("drain lists source IPs %+v, want both", u.Drain.SourceIPs)
	}

	// Run 3, 7 days after the last use: deactivate.
	e.clk.add(6*day + time.Hour)
	e.ingestTick()
	u = e.user(e.run(), "alice")
	if u.Phase != rotator.PhaseRecovering {
		t.Fatalf("after run 3: %+v", u)
	}
	if k, _ := e.fake.Key(old); k.Active {
		t.Fatalf("old key still active after run 3")
	}
	if k, _ := e.fake.Key(newKey.ID); !k.Active {
		t.Fatalf("new key inactive")
	}
	deactivated := e.record("alice").Deactivated

	// Run 4: a call with the old key after its deactivation (denied).
	e.clk.add(2 * day)
	e.use(old, "alice", e.clk.now().Add(-time.Hour), "192.0.2.7", "legacy-job/0.1")
	u = e.user(e.run(), "alice")
	if len(u.Alerts) != 1 || u.Alerts[0].SourceIPs[0].Value != "192.0.2.7" {
		t.Fatalf("alerts after reuse = %+v", u.Alerts)
	}
	if n := len(e.events(rotator.EventAlert)); n != 1 {
		t.Errorf("alert webhooks = %d, want 1", n)
	}
	if !strings.Contains(e.logs.String(), `"event":"old-key-used-again"`) {
		t.Errorf("no alert in the log")
	}
	// The same use does not alert twice.
	u = e.user(e.run(), "alice")
	if len(u.Alerts) != 1 || len(e.events(rotator.EventAlert)) != 1 {
		t.Errorf("alert repeated: %d alerts, %d webhooks", len(u.Alerts), len(e.events(rotator.EventAlert)))
	}
	// Recovery counts from the last use: deactivated+10d is not enough.
	e.clk.add(deactivated.Add(10*day + time.Hour).Sub(e.clk.now()))
	u = e.user(e.run(), "alice")
	if u.Phase != rotator.PhaseRecovering {
		t.Fatalf("deleted although the key was used after deactivation: %+v", u)
	}
	e.clk.add(2 * day)
	u = e.user(e.run(), "alice")
	if u.Phase != rotator.PhaseDeleted {
		t.Fatalf("after the recovery window: %+v", u)
	}
	if keys := e.fake.Keys("alice"); len(keys) != 1 || keys[0].ID != newKey.ID {
		t.Fatalf("keys at the end = %+v, want the new key alone", keys)
	}
	if prev, _ := e.secretDoc(secretName, "AWSPREVIOUS"); prev.AccessKeyID != "" {
		t.Errorf("AWSPREVIOUS = %s; the secret held no earlier version", prev.AccessKeyID)
	}
	for _, kind := range []string{rotator.EventDeactivate, rotator.EventDelete} {
		if n := len(e.events(kind)); n != 1 {
			t.Errorf("%s webhooks = %d, want 1", kind, n)
		}
	}
	st, err := e.rotator().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.keep(st)
	if len(st) != 1 || st[0].Phase != rotator.PhaseDeleted || st[0].OldKey.ID != old || st[0].OldKey.LastUsed.IsZero() {
		t.Errorf("status = %+v", st)
	}
	if leaks := e.leaks(nil); len(leaks) > 0 {
		t.Errorf("secret found in %v", leaks)
	}
}

// TestSecondRotationKeepsPrevious rotates a user whose secret already
// holds a key: the new key is AWSCURRENT, the previous AWSPREVIOUS.
func TestSecondRotationKeepsPrevious(t *testing.T) {
	e := newEnv(t, nil)
	first := e.aged("bob", 95*day, nil)
	u := e.user(e.run(), "bob")
	if u.Phase != rotator.PhaseDraining {
		t.Fatalf("first rotation: %+v", u)
	}
	second := u.NewKey.ID
	e.clk.add(2 * day)
	e.ingestTick()
	if u = e.user(e.run(), "bob"); u.Phase != rotator.PhaseRecovering {
		t.Fatalf("never-used old key not deactivated after the overlap: %+v", u)
	}
	e.clk.add(11 * day)
	if u = e.user(e.run(), "bob"); u.Phase != rotator.PhaseDeleted {
		t.Fatalf("not deleted: %+v", u)
	}
	_ = first
	// 90 days later the second key is due.
	e.clk.add(90 * day)
	e.ingestTick()
	u = e.user(e.run(), "bob")
	if u.Phase != rotator.PhaseDraining || u.OldKey.ID != second {
		t.Fatalf("second rotation: %+v", u)
	}
	cur, _ := e.secretDoc("iamd/access-keys/bob", "AWSCURRENT")
	prev, _ := e.secretDoc("iamd/access-keys/bob", "AWSPREVIOUS")
	if cur.AccessKeyID != u.NewKey.ID || prev.AccessKeyID != second {
		t.Errorf("AWSCURRENT %s AWSPREVIOUS %s, want %s and %s", cur.AccessKeyID, prev.AccessKeyID, u.NewKey.ID, second)
	}
	if got := len(e.record("bob").History); got < 10 {
		t.Errorf("history kept %d transitions across rotations", got)
	}
}

// TestDryRunMakesNoChange runs plan and a dry run over users in every
// situation and checks the fake saw no mutating call, the store no record
// and the webhook nothing.
func TestDryRunMakesNoChange(t *testing.T) {
	e := newEnv(t, func(p *rotator.Policy) { p.DryRun = true })
	e.fake.AddUser(awsfake.User{Name: "due"})
	e.fake.AddKey("due", t0.Add(-120*day), true)
	e.fake.AddUser(awsfake.User{Name: "two-active"})
	e.fake.AddKey("two-active", t0.Add(-120*day), true)
	e.fake.AddKey("two-active", t0.Add(-10*day), true)
	e.fake.AddUser(awsfake.User{Name: "expired-slot"})
	e.fake.AddKey("expired-slot", t0.Add(-120*day), true)
	e.fake.AddKey("expired-slot", t0.Add(-300*day), false)
	e.fake.AddUser(awsfake.User{Name: "soon"})
	e.fake.AddKey("soon", t0.Add(-85*day), true)
	e.aged("young", 5*day, nil)
	r := e.rotator()
	for _, name := range []string{"plan", "run"} {
		var rep *rotator.Report
		var err error
		if name == "plan" {
			rep, err = r.Plan(context.Background())
		} else {
			rep, err = r.Run(context.Background())
		}
		if err != nil {
			t.Fatal(err)
		}
		if !rep.DryRun {
			t.Fatalf("%s: not a dry run", name)
		}
		if u := e.user(rep, "due"); u.Phase != rotator.PhasePlanned || !strings.HasPrefix(u.Actions[0], "would create") || u.NextAt.IsZero() {
			t.Errorf("%s due = %+v", name, u)
		}
		if u := e.user(rep, "two-active"); u.Phase != rotator.PhaseWaiting || !strings.Contains(u.Reason, "least recently used") {
			t.Errorf("%s two-active = %+v", name, u)
		}
		if u := e.user(rep, "expired-slot"); u.Phase != rotator.PhasePlanned || !strings.Contains(u.Actions[0], "would delete inactive key") {
			t.Errorf("%s expired-slot = %+v", name, u)
		}
		if u := e.user(rep, "soon"); u.Phase != rotator.PhaseAnnounced {
			t.Errorf("%s soon = %+v", name, u)
		}
		for _, u := range rep.Users {
			if u.User == "young" {
				t.Errorf("%s reports a young key: %+v", name, u)
			}
		}
	}
	assertNoMutation(t, e)
}

func assertNoMutation(t *testing.T, e *env) {
	t.Helper()
	for _, c := range e.fake.Calls() {
		if c.Mutating() {
			t.Errorf("dry run made a mutating call: %s %v", c.Action, c.Params)
		}
	}
	if len(e.fake.Calls()) == 0 {
		t.Errorf("no call at all: the dry run read nothing")
	}
	states, err := e.db.States(context.Background(), rotator.StateKind)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 0 {
		t.Errorf("dry run wrote %d records", len(states))
	}
	if len(e.webhooks) != 0 {
		t.Errorf("dry run sent %d webhooks", len(e.webhooks))
	}
}

// TestDryRunOfRotationInProgress: once rotations are under way, a dry run
// says what would happen next and changes nothing.
func TestDryRunOfRotationInProgress(t *testing.T) {
	e := newEnv(t, nil)
	e.aged("carol", 100*day, nil)
	e.run()
	e.clk.add(2 * day)
	e.ingestTick()
	before := len(e.fake.Calls())
	rec := e.record("carol")
	e.policy.DryRun = true
	u := e.user(e.run(), "carol")
	if u.Phase != rotator.PhaseDraining || len(u.Actions) != 1 || !strings.HasPrefix(u.Actions[0], "would deactivate old key") {
		t.Fatalf("dry run of a drained rotation: %+v", u)
	}
	for _, c := range e.fake.Calls()[before:] {
		if c.Mutating() {
			t.Errorf("mutating call %s", c.Action)
		}
	}
	if after := e.record("carol"); len(after.History) != len(rec.History) || after.Phase != rec.Phase {
		t.Errorf("dry run changed the record: %+v", after)
	}
}

func TestQuota(t *testing.T) {
	e := newEnv(t, nil)
	// An inactive key unused for a year frees its slot.
	e.fake.AddUser(awsfake.User{Name: "free"})
	freeOld := e.fake.AddKey("free", t0.Add(-120*day), true)
	stale := e.fake.AddKey("free", t0.Add(-400*day), false)
	e.fake.SetLastUsed(stale, t0.Add(-200*day), "ec2")
	// An inactive key used 3 days ago (denied) keeps its slot.
	e.fake.AddUser(awsfake.User{Name: "recent"})
	e.fake.AddKey("recent", t0.Add(-120*day), true)
	recent := e.fake.AddKey("recent", t0.Add(-400*day), false)
	e.use(recent, "recent", t0.Add(-3*day), "198.51.100.9", "boto3/1.34")
	// Two active keys: report and wait, naming the least recently used.
	e.fake.AddUser(awsfake.User{Name: "pair"})
	a := e.fake.AddKey("pair", t0.Add(-120*day), true)
	b := e.fake.AddKey("pair", t0.Add(-100*day), true)
	e.use(a, "pair", t0.Add(-time.Hour), "10.1.1.1", "app/1")
	e.use(b, "pair", t0.Add(-20*day), "10.2.2.2", "cron-job/2")

	rep := e.run()
	if u := e.user(rep, "free"); u.Phase != rotator.PhaseDraining || u.OldKey.ID != freeOld {
		t.Errorf("free = %+v", u)
	}
	if _, ok := e.fake.Key(stale); ok {
		t.Errorf("expired inactive key %s not deleted", stale)
	}
	u := e.user(rep, "recent")
	if u.Phase != rotator.PhaseWaiting || !strings.Contains(u.Reason, recent) || !strings.Contains(u.Reason, "198.51.100.9") {
		t.Errorf("recent = %+v", u)
	}
	u = e.user(rep, "pair")
	if u.Phase != rotator.PhaseWaiting || !strings.Contains(u.Reason, "least recently used: "+b) || !strings.Contains(u.Reason, "cron-job/2") {
		t.Errorf("pair = %+v", u)
	}
	if n := len(e.fake.Keys("pair")) + len(e.fake.Keys("recent")); n != 4 {
		t.Errorf("waiting users' keys changed: %d keys", n)
	}
	if n := len(e.events(rotator.EventWaiting)); n != 2 {
		t.Errorf("waiting webhooks = %d, want 2", n)
	}
	// The next run does not repeat the notification.
	e.run()
	if n := len(e.events(rotator.EventWaiting)); n != 2 {
		t.Errorf("waiting webhooks after a second run = %d, want 2", n)
	}
	if got := e.record("pair").Phase; got != rotator.PhaseWaiting {
		t.Errorf("pair record = %s", got)
	}
}

func TestMaxUsersPerRun(t *testing.T) {
	e := newEnv(t, func(p *rotator.Policy) { p.MaxUsersPerRun = 2 })
	for _, n := range []string{"u1", "u2", "u3"} {
		e.fake.AddUser(awsfake.User{Name: n})
		e.fake.AddKey(n, t0.Add(-100*day), true)
	}
	e.ingestTick()
	rep := e.run()
	if rep.Started != 2 || e.fake.Count("CreateAccessKey") != 2 {
		t.Fatalf("started %d, created %d; want 2", rep.Started, e.fake.Count("CreateAccessKey"))
	}
	if u := e.user(rep, "u3"); !strings.Contains(u.Reason, "deferred") {
		t.Errorf("u3 = %+v", u)
	}
	rep = e.run()
	if rep.Started != 1 || e.fake.Count("CreateAccessKey") != 3 {
		t.Errorf("second run started %d", rep.Started)
	}
}

func TestSelection(t *testing.T) {
	e := newEnv(t, func(p *rotator.Policy) {
		p.Users.OptIn = true
		p.Users.ExemptGroups = []string{"break-glass"}
	})
	e.fake.AddUser(awsfake.User{Name: "in", Tags: map[string]string{"iamd-rotate": "true"}})
	e.fake.AddUser(awsfake.User{Name: "out"})
	e.fake.AddUser(awsfake.User{Name: "glass", Groups: []string{"break-glass"}, Tags: map[string]string{"iamd-rotate": "true"}})
	for _, n := range []string{"in", "out", "glass"} {
		e.fake.AddKey(n, t0.Add(-100*day), true)
	}
	e.policy.DryRun = true
	rep := e.run()
	if len(rep.Users) != 1 || rep.Users[0].User != "in" {
		t.Fatalf("selected %+v, want only the opted-in user", rep.Users)
	}
}

func TestCompensation(t *testing.T) {
	t.Run("delivery fails for good", func(t *testing.T) {
		e := newEnv(t, nil)
		old := e.aged("dave", 100*day, nil)
		e.fake.Fail("PutSecretValue", 100, 500, "InternalServiceError")
		u := e.user(e.run(), "dave")
		if u.Phase != rotator.PhaseAborted || !strings.Contains(u.Reason, "delivery failed") {
			t.Fatalf("dave = %+v", u)
		}
		if keys := e.fake.Keys("dave"); len(keys) != 1 || keys[0].ID != old || !keys[0].Active {
			t.Fatalf("keys after compensation = %+v, want the old key alone, active", keys)
		}
		if n := len(e.events(rotator.EventCompensate)); n != 1 {
			t.Errorf("compensate webhooks = %d", n)
		}
		// The next run within RetryAborted leaves it alone; after, retries.
		e.clk.add(time.Hour)
		if u := e.user(e.run(), "dave"); u.Phase != rotator.PhaseAborted || e.fake.Count("CreateAccessKey") != 1 {
			t.Errorf("retried too soon: %+v", u)
		}
		e.clk.add(day)
		e.ingestTick()
		e.fake.ClearFaults()
		if u := e.user(e.run(), "dave"); u.Phase != rotator.PhaseDraining {
			t.Errorf("retry after a day: %+v", u)
		}
	})
	t.Run("verification fails for good", func(t *testing.T) {
		e := newEnv(t, func(p *rotator.Policy) { p.VerifyTimeout = 10 * time.Second })
		old := e.aged("erin", 100*day, nil)
		u := e.user(e.run(), "erin")
		if u.Phase != rotator.PhaseAborted || !strings.Contains(u.Reason, "verification failed") {
			t.Fatalf("erin = %+v", u)
		}
		if keys := e.fake.Keys("erin"); len(keys) != 1 || keys[0].ID != old {
			t.Fatalf("keys = %+v", keys)
		}
		stages := e.fake.SecretStages("iamd/access-keys/erin")
		for v, ss := range stages {
			if len(ss) > 0 {
				t.Errorf("version %s still labelled %v after revocation", v, ss)
			}
		}
		if leaks := e.leaks(nil); len(leaks) > 0 {
			t.Errorf("secret found in %v", leaks)
		}
	})
}

func TestRollback(t *testing.T) {
	e := newEnv(t, nil)
	old := e.aged("frank", 100*day, nil)
	r := e.rotator()
	if _, err := r.Rollback(context.Background(), "frank"); !errors.Is(err, rotator.ErrNoRotation) {
		t.Errorf("rollback without rotation: %v", err)
	}
	e.run()
	e.clk.add(2 * day)
	e.ingestTick()
	if u := e.user(e.run(), "frank"); u.Phase != rotator.PhaseRecovering {
		t.Fatalf("frank = %+v", u)
	}
	u, err := e.rotator().Rollback(context.Background(), "frank")
	if err != nil {
		t.Fatal(err)
	}
	e.keep(u)
	if u.Phase != rotator.PhaseRolledBack {
		t.Fatalf("after rollback: %+v", u)
	}
	if k, _ := e.fake.Key(old); !k.Active {
		t.Fatal("old key not reactivated")
	}
	if n := len(e.events(rotator.EventReactivate)); n != 1 {
		t.Errorf("reactivate webhooks = %d", n)
	}
	// Both keys are active now: the next run leaves them to the operator.
	u = e.user(e.run(), "frank")
	if u.Phase != rotator.PhaseRolledBack || !strings.Contains(u.Reason, "both keys are active") {
		t.Errorf("after rollback, run: %+v", u)
	}
	if rec := e.record("frank"); rec.Phase != rotator.PhaseRolledBack || rec.NewKey == "" {
		t.Errorf("record after rollback and run: %+v", rec)
	}
	if len(e.fake.Keys("frank")) != 2 {
		t.Errorf("keys = %+v", e.fake.Keys("frank"))
	}
}

func TestRollbackRefusals(t *testing.T) {
	e := newEnv(t, nil)
	e.aged("gina", 100*day, nil)
	e.run()
	e.clk.add(2 * day)
	e.ingestTick()
	e.run()
	e.clk.add(11 * day)
	if u := e.user(e.run(), "gina"); u.Phase != rotator.PhaseDeleted {
		t.Fatalf("gina = %+v", u)
	}
	if _, err := e.rotator().Rollback(context.Background(), "gina"); !errors.Is(err, rotator.ErrCannotRollback) {
		t.Errorf("rollback after delete: err = %v", err)
	}
}

func TestTransientErrors(t *testing.T) {
	e := newEnv(t, nil)
	old := e.aged("hank", 100*day, nil)
	// Throttled twice: the SDK's retryer absorbs it.
	e.fake.Fail("CreateAccessKey", 2, 400, "Throttling")
	// Four 503s: more than the SDK's 3 attempts; the step retry absorbs it.
	e.fake.Fail("PutSecretValue", 4, 503, "ServiceUnavailable")
	e.fake.Fail("GetAccountAuthorizationDetails", 1, 500, "ServiceFailure")
	u := e.user(e.run(), "hank")
	if u.Phase != rotator.PhaseDraining || u.Error != "" {
		t.Fatalf("hank = %+v", u)
	}
	e.clk.add(2 * day)
	e.ingestTick()
	e.fake.Fail("UpdateAccessKey", 5, 500, "ServiceFailure")
	if u := e.user(e.run(), "hank"); u.Phase != rotator.PhaseRecovering {
		t.Fatalf("hank after 5 × 500 on UpdateAccessKey = %+v", u)
	}
	if k, _ := e.fake.Key(old); k.Active {
		t.Fatal("old key active")
	}
	t.Run("a failure that outlasts the retries is kept for the next run", func(t *testing.T) {
		e.clk.add(11 * day)
		e.fake.Fail("DeleteAccessKey", 100, 500, "ServiceFailure")
		u := e.user(e.run(), "hank")
		if u.Phase != rotator.PhaseRecovering || u.Step != rotator.StepDelete || u.Error == "" {
			t.Fatalf("hank = %+v", u)
		}
		if rec := e.record("hank"); rec.LastError == "" || rec.Step != rotator.StepDelete {
			t.Errorf("record = %+v", rec)
		}
		e.fake.ClearFaults()
		if u := e.user(e.run(), "hank"); u.Phase != rotator.PhaseDeleted || u.Error != "" {
			t.Fatalf("hank after the outage = %+v", u)
		}
	})
}

// TestLostCreateAnswer: IAM creates the key but the answer is lost (a 500
// after the work); the SDK retries into the quota. The orphan, whose
// secret nobody holds, is deleted, and the next run creates a key again.
func TestLostCreateAnswer(t *testing.T) {
	e := newEnv(t, nil)
	old := e.aged("ivy", 100*day, nil)
	e.fake.FailAfter("CreateAccessKey", 1, 500, "ServiceFailure")
	u := e.user(e.run(), "ivy")
	if u.Phase != rotator.PhasePlanned || u.Error == "" {
		t.Fatalf("ivy = %+v", u)
	}
	if keys := e.fake.Keys("ivy"); len(keys) != 1 || keys[0].ID != old {
		t.Fatalf("orphan not deleted: %+v", keys)
	}
	if u := e.user(e.run(), "ivy"); u.Phase != rotator.PhaseDraining {
		t.Fatalf("second run: %+v", u)
	}
	if keys := e.fake.Keys("ivy"); len(keys) != 2 {
		t.Fatalf("keys = %+v", keys)
	}
}

func TestFileAndCommandDelivery(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "command.log")
	script := filepath.Join(dir, "deliver.sh")
	// The command appends each message's action and key to a log; it
	// must not echo the secret anywhere else.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsed -e 's/\"secretAccessKey\":\"[^\"]*\"/\"secretAccessKey\":\"…\"/' >> "+log+"\necho >> "+log+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(p *rotator.Policy) {
		p.Delivery.Files = map[string]string{"disk": dir + "/keys/{user}.json"}
		p.Delivery.Commands = map[string][]string{"ci": {script}}
	})
	e.fake.AddUser(awsfake.User{Name: "jack", Tags: map[string]string{"iamd-delivery": "disk"}})
	e.fake.AddKey("jack", t0.Add(-100*day), true)
	e.fake.AddUser(awsfake.User{Name: "kate", Tags: map[string]string{"iamd-delivery": "ci"}})
	e.fake.AddKey("kate", t0.Add(-100*day), true)
	e.fake.AddUser(awsfake.User{Name: "liam", Tags: map[string]string{"iamd-delivery": "/etc/passwd"}})
	e.fake.AddKey("liam", t0.Add(-100*day), true)
	e.ingestTick()
	rep := e.run()

	u := e.user(rep, "jack")
	if u.Phase != rotator.PhaseDraining {
		t.Fatalf("jack = %+v", u)
	}
	path := filepath.Join(dir, "keys", "jack.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	var d keyDoc
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.fake.Key(u.NewKey.ID); d.AccessKeyID != k.ID || d.SecretAccessKey != k.Secret {
		t.Errorf("key file holds %s", d.AccessKeyID)
	}
	if _, err := os.Stat(path + ".pending"); !os.IsNotExist(err) {
		t.Errorf("pending file left: %v", err)
	}

	if u := e.user(rep, "kate"); u.Phase != rotator.PhaseDraining {
		t.Fatalf("kate = %+v", u)
	}
	got, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"action":"deliver"`) || !strings.Contains(lines[1], `"action":"promote"`) {
		t.Errorf("command saw %q", got)
	}

	if u := e.user(rep, "liam"); u.Phase != rotator.PhaseWaiting || !strings.Contains(u.Reason, "not configured") {
		t.Errorf("liam (a tag naming a path, not a target) = %+v", u)
	}
	if leaks := e.leaks(map[string][]byte{"command log": got}); len(leaks) > 0 {
		t.Errorf("secret found in %v", leaks)
	}
}

// TestLeakCheckCanFail plants a secret where the leak check looks, so a
// check that finds nothing is known to be able to find something.
func TestLeakCheckCanFail(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUser(awsfake.User{Name: "nobody"})
	id := e.fake.AddKey("nobody", t0, true)
	k, _ := e.fake.Key(id)
	e.logs.WriteString(`{"msg":"oops","secret":"` + k.Secret + `"}`)
	e.use(id, "nobody", t0, "10.0.0.1", "agent "+k.Secret)
	leaks := e.leaks(nil)
	var log, st bool
	for _, l := range leaks {
		log = log || l == "log"
		st = st || strings.HasPrefix(l, "store file")
	}
	if !log || !st {
		t.Errorf("planted secret found in %v, want the log and a store file", leaks)
	}
}

func TestUserGoneAndOutsideChanges(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUser(awsfake.User{Name: "mia"})
	e.fake.AddKey("mia", t0.Add(-100*day), true)
	e.aged("noah", 100*day, nil)
	rep := e.run()
	// Someone deletes the new key of noah by hand while draining: the
	// rotation ends, the old key stays active.
	nk := e.user(rep, "noah").NewKey.ID
	iamc := awsfake.IAMClient(e.url)
	if err := (rotator.SDKKeys{Client: iamc}).DeleteAccessKey(context.Background(), "noah", nk); err != nil {
		t.Fatal(err)
	}
	// mia is deleted from the account.
	miaARN := e.fake.UserARN("mia")
	e.fake.RemoveUser("mia")
	rep = e.run()
	if u := e.user(rep, "mia"); u.Phase != rotator.PhaseAborted || u.UserARN != miaARN || !strings.Contains(u.Reason, "no longer in the account") {
		t.Errorf("mia = %+v", u)
	}
	if u := e.user(rep, "noah"); u.Phase != rotator.PhaseAborted || !strings.Contains(u.Reason, "outside iamd") {
		t.Errorf("noah = %+v", u)
	}
	if n := len(e.events(rotator.EventForeign)); n != 1 {
		t.Errorf("outside-change webhooks = %d", n)
	}
}

func TestNotes(t *testing.T) {
	e := newEnv(t, nil)
	old := e.aged("olga", 100*day, nil)
	u := e.user(e.run(), "olga")
	notes, err := rotator.Notes(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{old, u.NewKey.ID} {
		if n := notes[k]; !strings.Contains(n, "rotation in progress (draining since") {
			t.Errorf("note of %s = %q", k, n)
		}
	}
}
