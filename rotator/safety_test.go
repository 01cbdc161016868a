package rotator_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/rotator/awsfake"
	"github.com/iamd/iamd/store"
)

// A compensation deletes the new key even when the target cannot revoke
// it: a key left behind would stay active forever, the rotation would
// compensate again at every run and notify each time. Before
// publication the key was only staged, so a failed revoke is a warning;
// after a publish attempt it fails the step, which the next run repeats
// (compensating, never publishing the deleted key).
func TestCompensationDeletesWhenRevokeFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tags  map[string]string
		fault func(e *env)
		// published: a publish was attempted, so the failed revoke keeps
		// the step for the next run.
		published bool
	}{
		{name: "secrets manager refuses every call", fault: func(e *env) { e.fake.Fail("DescribeSecret", 1000, 400, "AccessDeniedException") }},
		{name: "delivery command fails", tags: map[string]string{"iamd-delivery": "ci"}},
		{name: "publish and revoke fail", fault: func(e *env) { e.fake.Fail("UpdateSecretVersionStage", 1000, 500, "InternalServiceError") }, published: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(p *rotator.Policy) { p.Delivery.Commands = map[string][]string{"ci": {"/bin/false"}} })
			old := e.aged("zed", 100*day, tc.tags)
			if tc.fault != nil {
				tc.fault(e)
			}
			u := e.user(e.run(), "zed")
			if keys := e.fake.Keys("zed"); len(keys) != 1 || keys[0].ID != old || !keys[0].Active {
				t.Fatalf("keys after the compensation = %+v, want the old key alone, active (report %+v)", keys, u)
			}
			if tc.published {
				if u.Phase != rotator.PhaseVerified || u.Step != rotator.StepCompensate || u.Error == "" {
					t.Fatalf("after a failed revoke of a possibly published key: %+v, want verified, step compensate, an error", u)
				}
				e.fake.ClearFaults()
			} else if u.Phase != rotator.PhaseAborted || u.Error != "" || !strings.Contains(strings.Join(u.Actions, "\n"), "could not revoke") {
				t.Fatalf("after a failed revoke of a staged key: %+v, want aborted with a warning and no error", u)
			}
			for range 2 {
				e.clk.add(time.Hour) // inside RetryAborted: no new attempt
				u = e.user(e.run(), "zed")
			}
			if u.Phase != rotator.PhaseAborted || u.Step != "" {
				t.Errorf("after more runs: %+v, want aborted", u)
			}
			if n := len(e.events(rotator.EventCompensate)); n != 1 {
				t.Errorf("compensate webhooks = %d, want 1", n)
			}
			if cur := e.fake.CurrentHistory("iamd/access-keys/zed"); len(cur) != 0 {
				t.Errorf("AWSCURRENT was set %d times: a compensated key was published", len(cur))
			}
			if e.fake.Count("CreateAccessKey") != 1 {
				t.Errorf("CreateAccessKey called %d times, want 1", e.fake.Count("CreateAccessKey"))
			}
		})
	}
}

// The old key is deleted at the end of recovery only if the new key is
// still there and active (else the user would be left with no working
// key) and the old key shows no use, in the index or in IAM, within the
// drain window, whatever the recovery window says.
func TestRecoveryDeletesOnlyWhenSafe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy func(p *rotator.Policy)
		// change happens a little after the deactivation (at D+12h).
		change func(e *env, user, oldKey, newKey string, at time.Time)
		// checkAt is when after the deactivation the delete is refused;
		// waitUntil until when (0: for good).
		checkAt, waitUntil time.Duration
		alert              string // the event sent once, "" for none
	}{
		{name: "new key deleted by hand", change: func(e *env, user, _, newKey string, _ time.Time) {
			if err := (rotator.SDKKeys{Client: awsfake.IAMClient(e.url)}).DeleteAccessKey(context.Background(), user, newKey); err != nil {
				e.t.Fatal(err)
			}
		}, checkAt: 11 * day, alert: rotator.EventForeign},
		{name: "new key deactivated by hand", change: func(e *env, user, _, newKey string, _ time.Time) {
			if err := (rotator.SDKKeys{Client: awsfake.IAMClient(e.url)}).SetAccessKeyStatus(context.Background(), user, newKey, false); err != nil {
				e.t.Fatal(err)
			}
		}, checkAt: 11 * day, alert: rotator.EventForeign},
		{name: "old key used, recovery shorter than drain", policy: func(p *rotator.Policy) { p.Recovery = day },
			change: func(e *env, user, oldKey, _ string, at time.Time) {
				e.use(oldKey, user, at, "192.0.2.7", "legacy-job/0.1")
			},
			checkAt: 2 * day, waitUntil: 12*time.Hour + 7*day, alert: rotator.EventAlert},
		{name: "old key used as IAM alone shows, recovery shorter than drain", policy: func(p *rotator.Policy) { p.Recovery = day },
			change:  func(e *env, _, oldKey, _ string, at time.Time) { e.fake.SetLastUsed(oldKey, at, "s3") },
			checkAt: 2 * day, waitUntil: 12*time.Hour + 7*day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.policy)
			old := e.aged("ned", 100*day, nil)
			e.run()
			e.clk.add(2 * day)
			e.ingestTick()
			u := e.user(e.run(), "ned")
			if u.Phase != rotator.PhaseRecovering {
				t.Fatalf("not recovering: %+v", u)
			}
			deactivated := e.clk.now()
			tc.change(e, "ned", old, u.NewKey.ID, deactivated.Add(12*time.Hour))
			e.clk.add(tc.checkAt)
			e.ingestTick()
			for range 2 {
				u = e.user(e.run(), "ned")
				if k, ok := e.fake.Key(old); !ok || k.Active {
					t.Fatalf("old key deleted or reactivated: %+v (report %+v)", k, u)
				}
				if u.Phase != rotator.PhaseRecovering || u.Error != "" {
					t.Fatalf("report %+v, want recovering, waiting", u)
				}
			}
			if tc.alert != "" {
				if n := len(e.events(tc.alert)); n != 1 {
					t.Errorf("%s webhooks = %d, want 1", tc.alert, n)
				}
				if len(u.Alerts) != 1 {
					t.Errorf("alerts on the report = %+v, want one", u.Alerts)
				}
			}
			if tc.waitUntil == 0 {
				return
			}
			// Once the old key has been idle for the drain window, it goes.
			e.clk.add(deactivated.Add(tc.waitUntil + time.Hour).Sub(e.clk.now()))
			e.ingestTick()
			if u = e.user(e.run(), "ned"); u.Phase != rotator.PhaseDeleted {
				t.Errorf("after the drain window: %+v, want deleted", u)
			}
		})
	}
}

// Rollback reads the keys back from IAM and reactivates the old key
// whenever it is not active, whatever the phase or the step pending: a
// deactivation can reach IAM without the record saying so.
func TestRollbackReactivatesWhateverTheRecordSays(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prepare leaves the rotation of frank, draining, in a state
		// where the old key is inactive.
		prepare func(e *env)
		// failFirst makes the first rollback's UpdateAccessKey fail, so
		// that the next run must finish it.
		failFirst bool
	}{
		{name: "deactivation reached IAM, not the record", prepare: func(e *env) {
			e.fake.FailAfter("UpdateAccessKey", 1000, 500, "ServiceFailure")
			e.run()
			e.fake.ClearFaults()
		}},
		{name: "rollback interrupted, finished by the next run", failFirst: true, prepare: func(e *env) {
			e.fake.FailAfter("UpdateAccessKey", 1000, 500, "ServiceFailure")
			e.run()
			e.fake.ClearFaults()
		}},
		{name: "recorded as rolled back while the key is inactive", prepare: func(e *env) {
			e.fake.FailAfter("UpdateAccessKey", 1000, 500, "ServiceFailure")
			e.run()
			e.fake.ClearFaults()
			e.rewrite("frank", func(r *rotator.Record) { r.Phase, r.Step = rotator.PhaseRolledBack, "" })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			old := e.aged("frank", 100*day, nil)
			if u := e.user(e.run(), "frank"); u.Phase != rotator.PhaseDraining {
				t.Fatalf("frank = %+v", u)
			}
			e.clk.add(2 * day)
			e.ingestTick()
			tc.prepare(e)
			if k, _ := e.fake.Key(old); k.Active {
				t.Fatal("setup: old key still active")
			}
			if tc.failFirst {
				e.fake.Fail("UpdateAccessKey", 1000, 500, "ServiceFailure")
			}
			u, err := e.rotator().Rollback(context.Background(), "frank")
			if tc.failFirst {
				if err == nil {
					t.Fatalf("rollback with IAM failing: %+v, want an error", u)
				}
				e.fake.ClearFaults()
				e.clk.add(time.Hour)
				e.run()
			} else if err != nil || u.Phase != rotator.PhaseRolledBack {
				t.Fatalf("rollback: %+v, %v", u, err)
			}
			if k, _ := e.fake.Key(old); !k.Active {
				t.Fatal("old key still inactive after the rollback")
			}
			if rec := e.record("frank"); rec.Phase != rotator.PhaseRolledBack || rec.Step != "" {
				t.Errorf("record = %s step %q, want rolled back", rec.Phase, rec.Step)
			}
			if n := len(e.events(rotator.EventReactivate)); n < 1 {
				t.Errorf("no reactivate webhook")
			}
			u = e.user(e.run(), "frank")
			if u.Phase != rotator.PhaseRolledBack || !strings.Contains(u.Reason, "both keys are active") {
				t.Errorf("next run: %+v", u)
			}
		})
	}
}

// rewrite changes the stored rotation record of user, as another build
// or an earlier version of this one could have left it.
func (e *env) rewrite(user string, fn func(r *rotator.Record)) {
	e.t.Helper()
	ctx := context.Background()
	s, ok, err := e.db.GetState(ctx, rotator.StateKind, e.fake.UserARN(user))
	if err != nil || !ok {
		e.t.Fatalf("record of %s: %v %v", user, ok, err)
	}
	var r rotator.Record
	if err := json.Unmarshal(s.Data, &r); err != nil {
		e.t.Fatal(err)
	}
	fn(&r)
	data, err := json.Marshal(r)
	if err != nil {
		e.t.Fatal(err)
	}
	prev := s.Updated
	if err := e.db.PutState(ctx, store.State{Kind: rotator.StateKind, ID: s.ID, Data: data, Updated: s.Updated.Add(time.Nanosecond)}, &prev); err != nil {
		e.t.Fatal(err)
	}
}

// The index's silence counts as evidence only while every ingest source
// that wrote within the drain window is current, and CloudTrail's own
// event times (not only ingest's writes) have reached the present: a
// stalled source, or a backlog being replayed, must not make a key in
// use look idle.
func TestDrainWaitsForEveryLiveSource(t *testing.T) {
	for _, tc := range []struct {
		name string
		// at is t0+2d, the first run after which the old key (never
		// used) may be deactivated.
		prepare func(e *env, at time.Time)
		idle    bool
		reason  string
	}{
		{name: "every source current", idle: true, prepare: func(e *env, at time.Time) {
			e.ingest("kafka:trail/1", at, time.Time{})
		}},
		{name: "one source stalled within the drain window", reason: "kafka:trail/1", prepare: func(e *env, at time.Time) {
			e.ingest("kafka:trail/1", t0, time.Time{})
		}},
		{name: "a source quiet for the whole drain window is no evidence either way", idle: true, prepare: func(e *env, at time.Time) {
			e.ingest("file:/import-2026-10", t0.Add(-8*day), time.Time{})
		}},
		{name: "files read one by one are one source: yesterday's file is not behind", idle: true, prepare: func(e *env, at time.Time) {
			e.ingest("file:/trail/2026-11-01.json.gz", t0, time.Time{})
			e.ingest("file:/trail/2026-11-03.json.gz", at, time.Time{})
		}},
		{name: "a backlog replayed: fresh checkpoints, old events", reason: "backlog", prepare: func(e *env, at time.Time) {
			e.ingest("file:/trail", at, t0.Add(-time.Hour))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			old := e.aged("sam", 100*day, nil)
			if u := e.user(e.run(), "sam"); u.Phase != rotator.PhaseDraining {
				t.Fatalf("sam = %+v", u)
			}
			e.clk.add(2*day + time.Hour)
			if tc.reason == "backlog" {
				// Ingest stopped at t0 and replays the hours since.
				e.clk.add(day)
			} else {
				e.ingestTick()
			}
			tc.prepare(e, e.clk.now())
			u := e.user(e.run(), "sam")
			k, _ := e.fake.Key(old)
			if k.Active == tc.idle {
				t.Fatalf("old key active %v, want %v (report %+v)", k.Active, !tc.idle, u)
			}
			if !tc.idle && (u.Drain == nil || u.Drain.Idle || !strings.Contains(u.Reason, tc.reason)) {
				t.Errorf("drain %+v, reason %q: want not idle, naming %q", u.Drain, u.Reason, tc.reason)
			}
		})
	}
}

// A new key deleted outside iamd is revoked at the target, so that
// consumers are given back the key it replaced instead of one IAM
// refuses; so is one deactivated while the old key is still active (the
// rotation ends). A key deactivated during recovery may come back and
// stays. The revoke is recorded and made once; a failed one is repeated
// by the next run before the record says the rotation ended.
func TestNewKeyGoneIsRevokedAtTheTarget(t *testing.T) {
	deleteNew := func(e *env, user, newKey string) {
		if err := (rotator.SDKKeys{Client: awsfake.IAMClient(e.url)}).DeleteAccessKey(context.Background(), user, newKey); err != nil {
			e.t.Fatal(err)
		}
	}
	deactivateNew := func(e *env, user, newKey string) {
		if err := (rotator.SDKKeys{Client: awsfake.IAMClient(e.url)}).SetAccessKeyStatus(context.Background(), user, newKey, false); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name       string
		recovering bool // the change happens after the deactivation
		change     func(e *env, user, newKey string)
		failRevoke bool // the target refuses the first revoke
		rollback   bool // an operator rolls back instead of a run
		phase      rotator.Phase
		revoked    bool // AWSCURRENT goes back to the old key
	}{
		{name: "draining, new key deleted", change: deleteNew, phase: rotator.PhaseAborted, revoked: true},
		{name: "draining, new key deactivated", change: deactivateNew, phase: rotator.PhaseAborted, revoked: true},
		{name: "draining, new key deleted, the first revoke fails", change: deleteNew, failRevoke: true, phase: rotator.PhaseAborted, revoked: true},
		{name: "recovering, new key deleted", recovering: true, change: deleteNew, phase: rotator.PhaseRecovering, revoked: true},
		{name: "recovering, new key deactivated: it may come back", recovering: true, change: deactivateNew, phase: rotator.PhaseRecovering},
		{name: "recovering, new key deleted, then rolled back", recovering: true, change: deleteNew, rollback: true, phase: rotator.PhaseRolledBack, revoked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			old := e.aged("nia", 100*day, nil)
			// The secret holds the old key, as after an earlier rotation.
			doc, _ := json.Marshal(map[string]string{"UserName": "nia", "AccessKeyId": old, "SecretAccessKey": "x"})
			if _, err := awsfake.SecretsManagerClient(e.url).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
				Name: aws.String("iamd/access-keys/nia"), SecretString: aws.String(string(doc))}); err != nil {
				t.Fatal(err)
			}
			u := e.user(e.run(), "nia")
			if u.Phase != rotator.PhaseDraining {
				t.Fatalf("not draining: %+v", u)
			}
			newKey := u.NewKey.ID
			if tc.recovering {
				e.clk.add(2 * day)
				e.ingestTick()
				if u = e.user(e.run(), "nia"); u.Phase != rotator.PhaseRecovering {
					t.Fatalf("not recovering: %+v", u)
				}
			}
			tc.change(e, "nia", newKey)
			e.clk.add(time.Hour)
			e.ingestTick()
			if tc.failRevoke {
				e.fake.Fail("UpdateSecretVersionStage", 1000, 500, "InternalServiceError")
				u = e.user(e.run(), "nia")
				if u.Phase != rotator.PhaseDraining || u.Error == "" {
					t.Fatalf("after a failed revoke: %+v, want draining with the error", u)
				}
				e.fake.ClearFaults()
			}
			if tc.rollback {
				ur, err := e.rotator().Rollback(context.Background(), "nia")
				if err != nil {
					t.Fatalf("rollback: %v (%+v)", err, ur)
				}
			} else {
				u = e.user(e.run(), "nia")
			}
			rec := e.record("nia")
			if rec.Phase != tc.phase {
				t.Errorf("phase %s, want %s (report %+v)", rec.Phase, tc.phase, u)
			}
			cur, _ := e.secretDoc("iamd/access-keys/nia", "AWSCURRENT")
			want := newKey
			if tc.revoked {
				want = old
			}
			if cur.AccessKeyID != want {
				t.Errorf("AWSCURRENT holds %s, want %s", cur.AccessKeyID, want)
			}
			if rec.Revoked.IsZero() == tc.revoked {
				t.Errorf("record revoked at %v, want revoked %v", rec.Revoked, tc.revoked)
			}
			if tc.revoked && !tc.rollback && !strings.Contains(rec.Reason+" "+alertMessages(rec), "revoked at secretsmanager") {
				t.Errorf("the record does not say the key was revoked: reason %q, alerts %q", rec.Reason, alertMessages(rec))
			}
			if tc.rollback {
				if k, _ := e.fake.Key(old); !k.Active {
					t.Errorf("old key inactive after the rollback")
				}
				return // the next run rotates the revived old key again
			}
			stages := e.fake.Count("UpdateSecretVersionStage")
			e.clk.add(time.Hour)
			e.run()
			if got := e.fake.Count("UpdateSecretVersionStage"); got != stages {
				t.Errorf("the next run changed the secret again (%d → %d calls)", stages, got)
			}
		})
	}
}

func alertMessages(rec rotator.Record) string {
	var out []string
	for _, a := range rec.Alerts {
		out = append(out, a.Message)
	}
	return strings.Join(out, "; ")
}

// interceptTarget wraps a delivery target: before delegating, deliver
// and promote may act (a consumer picking the key up) and fail.
type interceptTarget struct {
	rotator.Delivery
	deliver, promote func(keyID string) error
}

func (t interceptTarget) Deliver(ctx context.Context, to rotator.Recipient, cred rotator.Credential) error {
	if t.deliver != nil {
		if err := t.deliver(cred.AccessKeyID); err != nil {
			return err
		}
	}
	return t.Delivery.Deliver(ctx, to, cred)
}

func (t interceptTarget) Promote(ctx context.Context, to rotator.Recipient, keyID string) error {
	if t.promote != nil {
		if err := t.promote(keyID); err != nil {
			return err
		}
	}
	return t.Delivery.Promote(ctx, to, keyID)
}

// A new key about to be deleted by a compensation or a discard is
// deleted only if GetAccessKeyLastUsed shows no use of it but iamd's own
// verification (STS, from the delivered phase on): a target may hand a
// staged key out, and a consumer that switched to it would break. In
// use, it is kept, the rotation stops with an error, and an alert says
// so once; deleted by hand, the next run goes on.
func TestNewKeyInUseIsNotDeleted(t *testing.T) {
	errTarget := errors.New("target refused")
	for _, tc := range []struct {
		name string
		// target intercepts the delivery (nil: none); stopVerify makes
		// the first run stop while verifying, as a process that dies.
		target     func(e *env) interceptTarget
		stopVerify bool
		// use is what IAM shows of the new key before the second run
		// ("" service: nothing set).
		service string
		kept    bool
		phase   rotator.Phase // after the first run that meets the key
	}{
		{name: "deliver fails after a consumer used the key", target: func(e *env) interceptTarget {
			return interceptTarget{deliver: func(id string) error { e.fake.SetLastUsed(id, e.clk.now(), "s3"); return errTarget }}
		}, kept: true, phase: rotator.PhaseCreated},
		{name: "deliver fails, the key never used", target: func(e *env) interceptTarget {
			return interceptTarget{deliver: func(string) error { return errTarget }}
		}, phase: rotator.PhaseAborted},
		{name: "stopped while verifying, then used by s3", stopVerify: true, service: "s3", kept: true, phase: rotator.PhaseDelivered},
		{name: "stopped while verifying, used by STS before it was delivered", stopVerify: true, service: "sts-before", kept: true, phase: rotator.PhaseDelivered},
		{name: "stopped while verifying, only its own STS call", stopVerify: true, service: "sts", phase: rotator.PhaseDraining},
		{name: "publish fails after a consumer used the key", target: func(e *env) interceptTarget {
			return interceptTarget{promote: func(id string) error { e.fake.SetLastUsed(id, e.clk.now().Add(time.Hour), "ec2"); return errTarget }}
		}, kept: true, phase: rotator.PhaseVerified},
		{name: "publish fails, only the verification used the key", target: func(e *env) interceptTarget {
			return interceptTarget{promote: func(string) error { return errTarget }}
		}, phase: rotator.PhaseAborted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			old := e.aged("ivy", 100*day, nil)
			if tc.target != nil {
				it := tc.target(e)
				it.Delivery = rotator.Targets(e.policy.Delivery, awsfake.SecretsManagerClient(e.url))[rotator.TargetSecretsManager]
				e.targets = map[string]rotator.Delivery{rotator.TargetSecretsManager: it}
			}
			if tc.stopVerify {
				e.opts = func(o *rotator.Options) {
					o.Sleep = func(context.Context, time.Duration) error { return context.Canceled }
				}
			}
			u := e.user(e.run(), "ivy")
			e.opts = nil
			var newKey string
			for _, k := range e.fake.Keys("ivy") {
				if k.ID != old {
					newKey = k.ID
				}
			}
			if newKey == "" && (tc.kept || tc.stopVerify) {
				t.Fatalf("no new key after the first run: %+v", u)
			}
			if tc.stopVerify {
				if u.Phase != rotator.PhaseDelivered {
					t.Fatalf("not stopped in delivered: %+v", u)
				}
				e.clk.add(time.Hour)
				switch tc.service {
				case "sts-before":
					e.fake.SetLastUsed(newKey, e.record("ivy").NewKeyCreated.Add(-time.Hour), "sts")
				default:
					e.fake.SetLastUsed(newKey, e.clk.now().Add(-30*time.Minute), tc.service)
				}
				u = e.user(e.run(), "ivy")
			}
			for range 2 { // the alert is raised once
				if u.Phase != tc.phase {
					t.Fatalf("phase %s, want %s (report %+v)", u.Phase, tc.phase, u)
				}
				_, exists := e.fake.Key(newKey)
				if tc.kept != exists {
					t.Fatalf("new key %s exists %v, want %v (report %+v)", newKey, exists, tc.kept, u)
				}
				if tc.kept != strings.Contains(u.Error, "in use") {
					t.Fatalf("report error %q: want it to say the key is in use: %v", u.Error, tc.kept)
				}
				if !tc.kept {
					break
				}
				e.clk.add(time.Hour)
				u = e.user(e.run(), "ivy")
			}
			if n, want := len(e.events(rotator.EventInUse)), map[bool]int{true: 1}[tc.kept]; n != want {
				t.Errorf("%s webhooks = %d, want %d", rotator.EventInUse, n, want)
			}
			if !tc.kept {
				return
			}
			if k, _ := e.fake.Key(old); !k.Active {
				t.Fatalf("old key touched")
			}
			// Deleted by hand, the rotation goes on from there.
			if err := (rotator.SDKKeys{Client: awsfake.IAMClient(e.url)}).DeleteAccessKey(context.Background(), "ivy", newKey); err != nil {
				t.Fatal(err)
			}
			e.targets = nil
			e.clk.add(day + time.Hour) // past RetryAborted
			u = e.user(e.run(), "ivy")
			if u.Error != "" || u.Phase == tc.phase {
				t.Errorf("after the key was deleted by hand: %+v", u)
			}
		})
	}
}

// A webhook that cannot be reached is logged by its host, never with the
// token its URL carries.
func TestWebhookTokenStaysOutOfTheLog(t *testing.T) {
	const token = "T0-B0-tok3n"
	e := newEnv(t, func(p *rotator.Policy) { p.WebhookURL = "http://127.0.0.1:1/services/" + token + "?key=" + token })
	e.aged("wes", 100*day, nil)
	if u := e.user(e.run(), "wes"); u.Phase != rotator.PhaseDraining {
		t.Fatalf("a failing webhook stopped the rotation: %+v", u)
	}
	e.logMu.Lock()
	logs := e.logs.String()
	e.logMu.Unlock()
	if !strings.Contains(logs, "notification failed") || !strings.Contains(logs, "127.0.0.1:1") {
		t.Fatalf("no failed notification naming the host in the log:\n%s", logs)
	}
	if strings.Contains(logs, token) {
		t.Errorf("the log quotes the webhook token:\n%s", logs)
	}
}

// readGate is a StateStore whose first States call returns and then
// waits on a gate: a run held between reading its records and acting on
// them.
type readGate struct {
	rotator.StateStore
	once    sync.Once
	reached chan struct{} // closed once the records were read
	release chan struct{} // the run goes on once closed
}

func (g *readGate) States(ctx context.Context, kind string) ([]store.State, error) {
	s, err := g.StateStore.States(ctx, kind)
	g.once.Do(func() {
		close(g.reached)
		<-g.release
	})
	return s, err
}

// A record that says a create is in flight may be another process's
// create rather than a dead one's. The run that finds it claims it before
// taking new keys for orphans, and stops with ErrConcurrent when the
// other process has moved on since it read the record; the other
// process, finding its record taken over, stops without touching any
// key (it used to take every key, the old one included, for an orphan).
func TestInterruptedCreateOfALiveRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		// bFirst: B reads and acts while A's create is in flight;
		// otherwise B reads then, and acts after A has published.
		bFirst bool
	}{
		{name: "A publishes while B holds a stale read"},
		{name: "B takes the record over while A's create is in flight", bFirst: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			old := e.aged("cal", 100*day, nil)
			// Run A stops right after CreateAccessKey answered, before
			// the record says created.
			paused, resume := make(chan struct{}), make(chan struct{})
			e.opts = func(o *rotator.Options) {
				o.Hook = func(point string) {
					if point == "create/called" {
						close(paused)
						<-resume
					}
				}
			}
			a := e.rotator()
			gate := &readGate{StateStore: e.db, reached: make(chan struct{}), release: make(chan struct{})}
			e.opts = func(o *rotator.Options) { o.States = gate }
			b := e.rotator()
			e.opts = nil
			if tc.bFirst {
				close(gate.release)
			}

			var repA, repB *rotator.Report
			var errA, errB error
			doneA, doneB := make(chan struct{}), make(chan struct{})
			go func() { defer close(doneA); repA, errA = a.Run(context.Background()) }()
			<-paused
			go func() { defer close(doneB); repB, errB = b.Run(context.Background()) }()
			<-gate.reached
			if tc.bFirst {
				<-doneB
			}
			close(resume)
			<-doneA
			if !tc.bFirst {
				// IAM's last-use data lags by hours: it does not show A's
				// verification yet, so nothing but the claim protects
				// A's key.
				for _, k := range e.fake.Keys("cal") {
					e.fake.SetLastUsed(k.ID, time.Time{}, "")
				}
				close(gate.release)
				<-doneB
			}
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			winner, loser := e.user(repA, "cal"), e.user(repB, "cal")
			if tc.bFirst {
				winner, loser = loser, winner
			}
			if winner.Phase != rotator.PhaseDraining || winner.Error != "" {
				t.Fatalf("the run that went on: %+v, want draining", winner)
			}
			if !strings.Contains(loser.Error, rotator.ErrConcurrent.Error()) {
				t.Errorf("the other run: %+v, want it stopped by the concurrent change", loser)
			}
			keys := e.fake.Keys("cal")
			if len(keys) != 2 {
				t.Fatalf("keys %+v, want the old key and one new key", keys)
			}
			for _, id := range []string{old, winner.NewKey.ID} {
				if k, ok := e.fake.Key(id); !ok || !k.Active {
					t.Errorf("key %s: %+v, want it there and active", id, k)
				}
			}
			if rec := e.record("cal"); rec.Phase != rotator.PhaseDraining || rec.NewKey != winner.NewKey.ID {
				t.Errorf("record %s new key %s, want draining with %s", rec.Phase, rec.NewKey, winner.NewKey.ID)
			}
		})
	}
}

// A user missing from the account listing is taken for deleted only when
// IAM says so (NoSuchEntity): a listing can miss a user that still
// exists, and closing its rotation would strand its keys.
func TestUserGoneOnlyWhenIAMSaysSo(t *testing.T) {
	e := newEnv(t, nil)
	e.aged("dee", 100*day, nil)
	e.aged("eli", 100*day, nil)
	if u := e.user(e.run(), "dee"); u.Phase != rotator.PhaseDraining {
		t.Fatalf("dee: %+v", u)
	}
	// The listing misses dee (filtered, a path changed, not yet
	// consistent); IAM still has it.
	e.opts = func(o *rotator.Options) {
		all := o.Account
		o.Account = func(ctx context.Context) (*iam.Account, error) {
			a, err := all(ctx)
			if err != nil {
				return nil, err
			}
			a.Principals = slices.DeleteFunc(a.Principals, func(p *iam.Principal) bool { return p.Name == "dee" })
			return a, nil
		}
	}
	for range 2 {
		u := e.user(e.run(), "dee")
		if u.Phase != rotator.PhaseDraining || !strings.Contains(u.Reason, "IAM still lists its keys") {
			t.Fatalf("dee missing from the listing: %+v, want the record kept, saying why", u)
		}
	}
	if rec := e.record("dee"); rec.Phase != rotator.PhaseDraining {
		t.Fatalf("record %s, want draining", rec.Phase)
	}
	if n := len(e.events(rotator.EventForeign)); n != 1 {
		t.Errorf("%s webhooks = %d, want 1", rotator.EventForeign, n)
	}
	// Deleted for good: the record is closed.
	e.fake.RemoveUser("dee")
	if u := e.user(e.run(), "dee"); u.Phase != rotator.PhaseAborted || !strings.Contains(u.Reason, "no longer in the account") {
		t.Errorf("dee deleted: %+v, want aborted", u)
	}
}
