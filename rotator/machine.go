package rotator

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
)

// consider looks at a selected user with no rotation in progress: is a
// key due, can a rotation start (quota, per-run cap), or is it only
// announced?
func (r *Rotator) consider(ctx context.Context, rn *run, p *iam.Principal, rec *Record) *UserReport {
	ur := &UserReport{User: p.Name, UserARN: p.ARN}
	fail := func(err error) *UserReport {
		ur.Error = err.Error()
		if rec != nil {
			ur.Phase = rec.Phase
		}
		return ur
	}
	keys, err := r.listKeys(ctx, p.Name)
	if err != nil {
		return fail(err)
	}
	var active []iam.AccessKey
	for _, k := range keys {
		if k.Active() {
			active = append(active, k)
		}
	}
	if len(active) == 0 {
		return nil
	}
	sort.Slice(active, func(i, j int) bool { return active[i].Created.Before(active[j].Created) })
	oldest := active[0]
	dueAt := oldest.Created.Add(r.p.MaxAge)
	if rn.at.Before(dueAt) {
		return r.announce(ctx, rn, p, rec, oldest, dueAt, ur)
	}
	if rec != nil && rec.Phase == PhaseRolledBack && findKey(active, rec.OldKey) != nil && findKey(active, rec.NewKey) != nil {
		// The operator rolled back: both keys stay until one of them is
		// deactivated or deleted by hand; then rotation resumes.
		ur.Phase, ur.Reason = rec.Phase, rec.Reason+"; both keys are active: deactivate or delete one to let rotation resume"
		return ur
	}
	if rec != nil && rec.Phase == PhaseAborted && rec.OldKey == oldest.ID && rn.at.Before(rec.Ended.Add(r.p.RetryAborted)) {
		ur.Phase, ur.Reason = rec.Phase, "last rotation aborted: "+rec.Reason
		ur.Next, ur.NextAt = "retry", rec.Ended.Add(r.p.RetryAborted)
		return ur
	}
	oldKR, _, _, err := r.keyInfo(ctx, rn.at, oldest)
	if err != nil {
		return fail(err)
	}
	ur.OldKey = oldKR
	why := fmt.Sprintf("key %s is %d days old (maximum %s)", oldest.ID, oldKR.AgeDays, age(r.p.MaxAge))

	target := r.p.Delivery.Default
	if v := p.Tags[r.p.Delivery.Tag]; v != "" {
		target = v
	}
	ur.Target = target
	if _, ok := r.o.Targets[target]; !ok {
		return r.wait(ctx, rn, p, rec, oldest, dueAt, ur, fmt.Sprintf("%s; delivery target %q (tag %s) is not configured", why, target, r.p.Delivery.Tag))
	}

	// Quota: two keys per user, inactive ones included (IAM User Guide,
	// "IAM and AWS STS quotas": access keys assigned to an IAM user, 2).
	var freeKey *iam.AccessKey
	if len(keys) >= 2 {
		if len(active) >= 2 {
			lru, err := r.leastRecentlyUsed(ctx, rn.at, active)
			if err != nil {
				return fail(err)
			}
			return r.wait(ctx, rn, p, rec, oldest, dueAt, ur, fmt.Sprintf("%s, but the user has two active keys; least recently used: %s", why, lru))
		}
		for i := range keys {
			if keys[i].ID != oldest.ID {
				freeKey = &keys[i]
			}
		}
		ok, detail, err := r.expired(ctx, rn.at, rec, *freeKey)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return r.wait(ctx, rn, p, rec, oldest, dueAt, ur, fmt.Sprintf("%s, but both quota slots are taken: inactive key %s", why, detail))
		}
		ur.Actions = append(ur.Actions, dryWord(rn.dry, "delete")+" inactive key "+freeKey.ID+" to free a slot ("+detail+")")
	}
	if rn.started >= r.p.MaxUsersPerRun {
		ur.Phase, ur.Reason = phaseOf(rec), why+"; deferred: this run started its maximum of rotations"
		ur.Next = "a later run starts it"
		ur.Actions = nil
		return ur
	}
	rn.started++
	ur.Reason = why
	if rn.dry {
		ur.Phase = PhasePlanned
		ur.Actions = append(ur.Actions, "would create a new key and deliver it to "+target)
		ur.Next, ur.NextAt = r.timeline(rn.at, oldKR.LastUsed)
		return ur
	}
	if rec == nil {
		rec = &Record{}
	}
	history, version := rec.History, rec.version
	*rec = Record{User: p.Name, UserARN: p.ARN, UserPath: p.Path, AccountID: accountOr(rn.account, p.ARN), Phase: PhasePlanned,
		Target: target, OldKey: oldest.ID, OldKeyCreated: oldest.Created, Started: rn.at, DueAt: dueAt, History: history, version: version}
	if freeKey != nil {
		rec.FreeKey = freeKey.ID
	}
	if err := save(ctx, r.o.States, rn.at, rec, why); err != nil {
		return fail(err)
	}
	r.advance(ctx, rn, rec, nil, ur)
	return ur
}

// timeline says when a rotation started now would deactivate and delete
// the old key at the earliest.
func (r *Rotator) timeline(now, lastUse time.Time) (string, time.Time) {
	deact := now.Add(r.p.MinOverlap)
	if !lastUse.IsZero() {
		deact = later(deact, lastUse.Add(r.p.Drain))
	}
	return fmt.Sprintf("deactivate the old key once idle for %s (earliest %s), delete it %s later (earliest %s)",
		age(r.p.Drain), stamp(deact), age(r.p.Recovery), stamp(deact.Add(r.p.Recovery))), deact
}

func accountOr(account, arn string) string {
	if account != "" {
		return account
	}
	return iam.AccountOf(arn)
}

func phaseOf(rec *Record) Phase {
	if rec == nil {
		return ""
	}
	return rec.Phase
}

func dryWord(dry bool, verb string) string {
	if dry {
		return "would " + verb
	}
	return verb
}

// announce notes a key that falls due within NotifyAhead, once.
func (r *Rotator) announce(ctx context.Context, rn *run, p *iam.Principal, rec *Record, k iam.AccessKey, dueAt time.Time, ur *UserReport) *UserReport {
	if r.p.NotifyAhead <= 0 || rn.at.Before(dueAt.Add(-r.p.NotifyAhead)) {
		return nil
	}
	ur.Phase, ur.Reason = PhaseAnnounced, fmt.Sprintf("key %s reaches %s on %s", k.ID, age(r.p.MaxAge), stamp(dueAt))
	ur.Next, ur.NextAt = "rotation due", dueAt
	ur.OldKey = &KeyReport{ID: k.ID, Status: k.Status, Created: k.Created, AgeDays: ageDays(rn.at, k.Created)}
	if rec != nil && rec.Phase == PhaseAnnounced && rec.OldKey == k.ID {
		return ur
	}
	r.notify(ctx, rn, Event{Kind: EventAnnounce, User: p.Name, UserARN: p.ARN, AccessKeyID: k.ID, Phase: PhaseAnnounced,
		Message: fmt.Sprintf("access key %s of %s will be rotated from %s", k.ID, p.Name, stamp(dueAt))})
	if rn.dry {
		ur.Actions = append(ur.Actions, "would announce the rotation")
		return ur
	}
	ur.Actions = append(ur.Actions, "announced the rotation")
	r.keep(ctx, rec, &Record{User: p.Name, UserARN: p.ARN, UserPath: p.Path, AccountID: accountOr(rn.account, p.ARN), Phase: PhaseAnnounced,
		OldKey: k.ID, OldKeyCreated: k.Created, Announced: rn.at, DueAt: dueAt, Reason: ur.Reason}, ur)
	return ur
}

// wait reports a due rotation that cannot start, recording (and
// notifying) it when the reason changed.
func (r *Rotator) wait(ctx context.Context, rn *run, p *iam.Principal, rec *Record, k iam.AccessKey, dueAt time.Time, ur *UserReport, reason string) *UserReport {
	ur.Phase, ur.Reason = PhaseWaiting, reason
	ur.Next = "a later run starts the rotation once this is resolved"
	ur.Actions = nil
	if rec != nil && rec.Phase == PhaseWaiting && rec.Reason == reason {
		return ur
	}
	r.notify(ctx, rn, Event{Kind: EventWaiting, User: p.Name, UserARN: p.ARN, AccessKeyID: k.ID, Phase: PhaseWaiting,
		Message: "rotation of " + p.Name + " waits: " + reason})
	if rn.dry {
		return ur
	}
	r.keep(ctx, rec, &Record{User: p.Name, UserARN: p.ARN, UserPath: p.Path, AccountID: accountOr(rn.account, p.ARN), Phase: PhaseWaiting,
		OldKey: k.ID, OldKeyCreated: k.Created, DueAt: dueAt, Reason: reason, Target: ur.Target}, ur)
	return ur
}

// keep replaces rec's content by next (keeping its history and store
// version) and saves it.
func (r *Rotator) keep(ctx context.Context, rec, next *Record, ur *UserReport) {
	if rec != nil {
		next.History, next.version = rec.History, rec.version
	}
	if err := save(ctx, r.o.States, r.o.Now(), next, next.Reason); err != nil {
		ur.Error = err.Error()
	}
}

// leastRecentlyUsed names the active key used least recently, and by whom.
func (r *Rotator) leastRecentlyUsed(ctx context.Context, now time.Time, keys []iam.AccessKey) (string, error) {
	var best *KeyReport
	for _, k := range keys {
		kr, _, _, err := r.keyInfo(ctx, now, k)
		if err != nil {
			return "", err
		}
		if best == nil || kr.LastUsed.Before(best.LastUsed) {
			best = kr
		}
	}
	return describeUse(best), nil
}

// expired says whether an inactive key is past the recovery window: iamd
// deactivated it at least Recovery ago, or it shows no use (index and
// IAM) for Recovery and is older than that. A key seen in use within the
// drain window is never expired.
func (r *Rotator) expired(ctx context.Context, now time.Time, rec *Record, k iam.AccessKey) (bool, string, error) {
	kr, _, _, err := r.keyInfo(ctx, now, k)
	if err != nil {
		return false, "", err
	}
	since := later(kr.LastUsed, k.Created)
	if rec != nil && rec.OldKey == k.ID && !rec.Deactivated.IsZero() {
		since = later(since, rec.Deactivated)
	}
	until := since.Add(r.p.Recovery)
	switch {
	case !kr.LastUsed.IsZero() && now.Sub(kr.LastUsed) < r.p.Drain:
		return false, fmt.Sprintf("%s was used within the drain window (%s)", k.ID, describeUse(kr)), nil
	case now.Before(until):
		return false, fmt.Sprintf("%s is inside the recovery window until %s (%s)", k.ID, stamp(until), describeUse(kr)), nil
	}
	return true, fmt.Sprintf("%s inactive and unused since %s", k.ID, stamp(since)), nil
}

// advance moves a rotation as far as it can go in this run. cred is the
// new key while this process holds it (nil after a restart).
func (r *Rotator) advance(ctx context.Context, rn *run, rec *Record, cred *Credential, ur *UserReport) {
	ur.Target = rec.Target
	for range 16 { // more than the number of phases: a guard, not a limit
		var (
			more bool
			err  error
		)
		switch {
		case rec.Step == StepRollback:
			// A rollback was asked for and may not have gone through:
			// finish it rather than go on towards deletion.
			err = r.resumeRollback(ctx, rn, rec, ur)
		case rec.Phase == PhasePlanned:
			cred, more, err = r.planned(ctx, rn, rec, ur)
		case (rec.Phase == PhaseCreated || rec.Phase == PhaseDelivered) && cred == nil:
			more, err = r.discard(ctx, rn, rec, ur)
		case rec.Phase == PhaseCreated:
			more, err = r.deliver(ctx, rn, rec, *cred, ur)
		case rec.Phase == PhaseDelivered:
			more, err = r.verify(ctx, rn, rec, *cred, ur)
		case rec.Phase == PhaseVerified && rec.Step == StepCompensate:
			// A compensation after a failed publish did not finish: finish
			// it, never publish the key it deleted.
			more, err = r.compensate(ctx, rn, rec, ur, errors.New("publishing failed; finishing the compensation an earlier run began"))
		case rec.Phase == PhaseVerified:
			more, err = r.promote(ctx, rn, rec, ur)
		case rec.Phase == PhaseDraining:
			more, err = r.draining(ctx, rn, rec, ur)
		case rec.Phase == PhaseDeactivated:
			more = !rn.dry
			if more {
				err = r.transition(ctx, rec, PhaseRecovering, "")
			}
		case rec.Phase == PhaseRecovering:
			more, err = r.recovering(ctx, rn, rec, ur)
		}
		if err != nil {
			ur.Error = err.Error()
			r.log.Error("rotation step failed", logUser, rec.User, logPhase, string(rec.Phase), logStep, string(rec.Step), logError, err.Error())
			if !rn.dry && rec.LastError == "" {
				rec.LastError = err.Error()
			}
			if !rn.dry && !errors.Is(err, ErrConcurrent) {
				// Keep the failure on the record for status; the Step
				// (if any) stays so the next run reconciles it.
				if serr := save(ctx, r.o.States, r.o.Now(), rec, ""); serr != nil {
					r.log.Error("save failure", logUser, rec.User, logError, serr.Error())
				}
			}
			break
		}
		if !more {
			break
		}
	}
	r.fill(ctx, rn, rec, ur)
}

// fill completes a report line from the record.
func (r *Rotator) fill(ctx context.Context, rn *run, rec *Record, ur *UserReport) {
	ur.Phase, ur.Step = rec.Phase, rec.Step
	if ur.Reason == "" {
		ur.Reason = rec.Reason
	}
	if ur.OldKey == nil && rec.OldKey != "" {
		ur.OldKey = &KeyReport{ID: rec.OldKey, Created: rec.OldKeyCreated, AgeDays: ageDays(rn.at, rec.OldKeyCreated)}
		if ku, ok, err := r.o.Usage.KeyUsage(ctx, rec.OldKey); err == nil && ok {
			ur.OldKey.LastUsed, ur.OldKey.SourceIPs, ur.OldKey.UserAgents = ku.LastSeen, ku.SourceIPs, ku.UserAgents
		}
	}
	if rec.NewKey != "" {
		ur.NewKey = &KeyReport{ID: rec.NewKey, Created: rec.NewKeyCreated, AgeDays: ageDays(rn.at, rec.NewKeyCreated)}
	}
	ur.Alerts = rec.Alerts
	if ur.Next == "" {
		ur.Next, ur.NextAt = r.next(rec)
	}
}

// planned frees a quota slot if the plan said so, then creates the new
// key. A Step left by an interrupted create is reconciled first: a key
// that appeared since is one whose secret was lost, and is deleted.
func (r *Rotator) planned(ctx context.Context, rn *run, rec *Record, ur *UserReport) (*Credential, bool, error) {
	if rec.Step == StepCreate && !rn.dry {
		// The step may be in flight in another process rather than left
		// by a dead one: claim the record first (compare-and-set), so a
		// process that has moved on since it was read here (its key
		// created, delivered, maybe published) stops this one with
		// ErrConcurrent before its key is taken for an orphan, and one
		// still in flight fails its next write instead of going on.
		if err := save(ctx, r.o.States, r.o.Now(), rec, "reconciling an interrupted create"); err != nil {
			return nil, false, err
		}
	}
	keys, err := r.listKeys(ctx, rec.User)
	if err != nil {
		return nil, false, err
	}
	if rec.Step == StepCreate {
		if keys, err = r.dropOrphans(ctx, rn, rec, keys, ur); err != nil || rec.Phase != PhasePlanned {
			return nil, false, err
		}
	}
	old := findKey(keys, rec.OldKey)
	if old == nil || !old.Active() {
		if rn.dry {
			ur.Actions = append(ur.Actions, "would end the rotation: the old key changed outside iamd")
			return nil, false, nil
		}
		rec.Phase, rec.Step, rec.Ended, rec.Reason = PhaseAborted, "", rn.at, "old key "+rec.OldKey+" deleted or deactivated outside iamd before the rotation began"
		return nil, false, save(ctx, r.o.States, r.o.Now(), rec, rec.Reason)
	}
	for _, k := range keys {
		if k.ID == rec.OldKey {
			continue
		}
		if k.Active() || k.ID != rec.FreeKey {
			return nil, false, r.block(ctx, rn, rec, ur, "another key "+k.ID+" appeared since the rotation was planned")
		}
		ok, detail, err := r.expired(ctx, rn.at, rec, k)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return nil, false, r.block(ctx, rn, rec, ur, "both quota slots are taken: inactive key "+detail)
		}
		if rn.dry {
			ur.Actions = append(ur.Actions, "would delete inactive key "+k.ID+" to free a slot")
			continue
		}
		r.notify(ctx, rn, Event{Kind: EventFreeSlot, User: rec.User, UserARN: rec.UserARN, AccessKeyID: k.ID, Phase: rec.Phase,
			Message: "deleting inactive access key " + k.ID + " of " + rec.User + " to free a quota slot: " + detail})
		if err := r.mutate(ctx, rec, StepFreeSlot, func(ctx context.Context) error {
			return ignoreMissing(r.o.IAM.DeleteAccessKey(ctx, rec.User, k.ID))
		}, func() { rec.FreeKey = "" }); err != nil {
			return nil, false, err
		}
		ur.Actions = append(ur.Actions, "deleted inactive key "+k.ID+" to free a slot")
	}
	if rn.dry {
		ur.Actions = append(ur.Actions, "would create a new key and deliver it to "+rec.Target)
		return nil, false, nil
	}
	r.notify(ctx, rn, Event{Kind: EventCreate, User: rec.User, UserARN: rec.UserARN, AccessKeyID: rec.OldKey, Phase: rec.Phase,
		Message: "creating a new access key for " + rec.User + " to replace " + rec.OldKey})
	keys, err = r.listKeys(ctx, rec.User) // the free-slot step may have changed them
	if err != nil {
		return nil, false, err
	}
	rec.KeysBefore = keyIDs(keys)
	before := rec.KeysBefore
	var cred Credential
	err = r.mutate(ctx, rec, StepCreate, func(ctx context.Context) (err error) {
		// One attempt per mutate try: CreateAccessKey is not idempotent,
		// and a failed call is reconciled below before another.
		cred, err = r.o.IAM.CreateAccessKey(ctx, rec.User)
		if err != nil && transient(err) {
			return errNoRetry{err}
		}
		return err
	}, func() {
		rec.Phase, rec.NewKey, rec.NewKeyCreated, rec.KeysBefore = PhaseCreated, cred.AccessKeyID, cred.Created, nil
	})
	if err != nil {
		if errors.Is(err, ErrConcurrent) {
			// Another process took the record over (it reconciles the
			// interrupted create itself): the keys are its to judge.
			return nil, false, err
		}
		// The call may have created a key whose answer was lost (the
		// SDK retried and hit the quota, or gave up): list and clean up,
		// against the keys listed before the call.
		rec.KeysBefore = before
		keys, lerr := r.listKeys(ctx, rec.User)
		if lerr != nil {
			return nil, false, errors.Join(err, lerr)
		}
		kept, derr := r.dropOrphans(ctx, rn, rec, keys, ur)
		if derr != nil {
			return nil, false, errors.Join(err, derr)
		}
		if errors.Is(err, ErrQuota) && rec.Phase == PhasePlanned && len(kept) >= 2 {
			return nil, false, r.block(ctx, rn, rec, ur, "IAM refused a new key: "+err.Error())
		}
		return nil, false, err
	}
	ur.Actions = append(ur.Actions, "created new key "+cred.AccessKeyID)
	return &cred, true, nil
}

// errNoRetry hides a transient error from the step retry.
type errNoRetry struct{ error }

func (e errNoRetry) Unwrap() error { return e.error }

// dropOrphans deletes the keys that appeared since StepCreate began (not
// in KeysBefore): their secret was never kept, so nothing can use them.
// A key that shows use is not ours to delete: the rotation then waits.
func (r *Rotator) dropOrphans(ctx context.Context, rn *run, rec *Record, keys []iam.AccessKey, ur *UserReport) ([]iam.AccessKey, error) {
	before := map[string]bool{}
	for _, id := range rec.KeysBefore {
		before[id] = true
	}
	var kept []iam.AccessKey
	for _, k := range keys {
		if before[k.ID] {
			kept = append(kept, k)
			continue
		}
		kr, _, _, err := r.keyInfo(ctx, rn.at, k)
		if err != nil {
			return keys, err
		}
		if !kr.LastUsed.IsZero() {
			return keys, r.block(ctx, rn, rec, ur, "key "+k.ID+" appeared while a create was in flight and is in use ("+describeUse(kr)+"): not touching it")
		}
		if rn.dry {
			ur.Actions = append(ur.Actions, "would delete key "+k.ID+", created by an interrupted run (its secret was never kept)")
			kept = append(kept, k)
			continue
		}
		r.notify(ctx, rn, Event{Kind: EventCompensate, User: rec.User, UserARN: rec.UserARN, NewKeyID: k.ID, Phase: rec.Phase,
			Message: "deleting access key " + k.ID + " of " + rec.User + ": created by an interrupted run, its secret was never kept"})
		if err := r.retry(ctx, "delete orphan", func(ctx context.Context) error {
			return ignoreMissing(r.o.IAM.DeleteAccessKey(ctx, rec.User, k.ID))
		}); err != nil {
			return keys, err
		}
		ur.Actions = append(ur.Actions, "deleted key "+k.ID+" left by an interrupted create")
	}
	if rn.dry {
		return kept, nil
	}
	rec.Step, rec.StepAt = "", time.Time{}
	return kept, save(ctx, r.o.States, r.o.Now(), rec, "reconciled an interrupted create")
}

// block moves a rotation that has not created anything yet to waiting.
func (r *Rotator) block(ctx context.Context, rn *run, rec *Record, ur *UserReport, reason string) error {
	ur.Reason = reason
	if rn.dry {
		return nil
	}
	r.notify(ctx, rn, Event{Kind: EventWaiting, User: rec.User, UserARN: rec.UserARN, AccessKeyID: rec.OldKey, Phase: PhaseWaiting,
		Message: "rotation of " + rec.User + " waits: " + reason})
	rec.Phase, rec.Step, rec.Reason, rec.KeysBefore = PhaseWaiting, "", reason, nil
	return save(ctx, r.o.States, r.o.Now(), rec, reason)
}

func ignoreMissing(err error) error {
	if errors.Is(err, ErrNoSuchEntity) {
		return nil
	}
	return err
}

// deliver stages the new key at the target; on failure the rotation is
// compensated.
func (r *Rotator) deliver(ctx context.Context, rn *run, rec *Record, cred Credential, ur *UserReport) (bool, error) {
	target := r.o.Targets[rec.Target]
	if target == nil {
		return r.compensate(ctx, rn, rec, ur, fmt.Errorf("delivery target %q is not configured", rec.Target))
	}
	err := r.mutate(ctx, rec, StepDeliver, func(ctx context.Context) error {
		return target.Deliver(ctx, rec.recipient(), cred)
	}, func() { rec.Phase = PhaseDelivered })
	if err != nil {
		if errors.Is(err, ErrConcurrent) {
			return false, err
		}
		return r.compensate(ctx, rn, rec, ur, fmt.Errorf("delivery failed: %w", err))
	}
	ur.Actions = append(ur.Actions, "staged new key at "+rec.Target)
	return true, nil
}

// verify waits until STS accepts the new key (IAM is eventually
// consistent: "Changes that I make are not always immediately visible",
// IAM User Guide, troubleshoot_general), up to VerifyTimeout.
func (r *Rotator) verify(ctx context.Context, rn *run, rec *Record, cred Credential, ur *UserReport) (bool, error) {
	wait, waited := time.Second, time.Duration(0)
	var err error
	for {
		var arn string
		arn, err = r.o.Verifier.Verify(ctx, cred)
		if err == nil && arn != rec.UserARN {
			err = fmt.Errorf("%w: STS says %s, want %s", ErrWrongIdentity, arn, rec.UserARN)
			break
		}
		if err == nil || (!errors.Is(err, ErrKeyNotYetValid) && !transient(err)) || waited >= r.p.VerifyTimeout {
			break
		}
		wait = min(wait, r.p.VerifyTimeout-waited)
		if serr := r.o.Sleep(ctx, wait); serr != nil {
			return false, errors.Join(err, serr)
		}
		waited += wait
		wait = min(2*wait, 8*time.Second)
	}
	if err != nil {
		return r.compensate(ctx, rn, rec, ur, fmt.Errorf("verification failed after %s: %w", waited, err))
	}
	r.hook("verify/called")
	rec.LastError = ""
	if err := r.transition(ctx, rec, PhaseVerified, "STS accepted the new key"); err != nil {
		return false, err
	}
	ur.Actions = append(ur.Actions, "verified new key with STS")
	return true, nil
}

// promote publishes the verified key at the target and starts draining.
func (r *Rotator) promote(ctx context.Context, rn *run, rec *Record, ur *UserReport) (bool, error) {
	if rn.dry {
		ur.Actions = append(ur.Actions, "would publish the new key at "+rec.Target)
		return false, nil
	}
	target := r.o.Targets[rec.Target]
	if target == nil {
		return r.compensate(ctx, rn, rec, ur, fmt.Errorf("delivery target %q is not configured", rec.Target))
	}
	err := r.mutate(ctx, rec, StepPromote, func(ctx context.Context) error {
		return target.Promote(ctx, rec.recipient(), rec.NewKey)
	}, func() { rec.Phase, rec.Published = PhaseDraining, r.o.Now() })
	if err != nil {
		if errors.Is(err, ErrConcurrent) {
			return false, err
		}
		return r.compensate(ctx, rn, rec, ur, fmt.Errorf("publishing failed: %w", err))
	}
	ur.Actions = append(ur.Actions, "published new key at "+rec.Target)
	return true, nil
}

// compensate deletes a new key that could not be delivered, verified or
// published, after revoking it at the target; the old key is untouched.
func (r *Rotator) compensate(ctx context.Context, rn *run, rec *Record, ur *UserReport, cause error) (bool, error) {
	ur.Reason = cause.Error()
	if err := r.newKeyIdle(ctx, rn, rec, ur); err != nil {
		return false, errors.Join(cause, err)
	}
	if rn.dry {
		ur.Actions = append(ur.Actions, "would delete the new key: "+cause.Error())
		return false, nil
	}
	if rec.Step != StepCompensate { // a compensation being repeated was announced already
		r.notify(ctx, rn, Event{Kind: EventCompensate, User: rec.User, UserARN: rec.UserARN, AccessKeyID: rec.OldKey, NewKeyID: rec.NewKey, Phase: rec.Phase,
			Message: "deleting new access key " + rec.NewKey + " of " + rec.User + ", the old key stays: " + cause.Error()})
	}
	err := r.mutate(ctx, rec, StepCompensate, r.undoNew(rec, ur), func() {
		rec.Phase, rec.Ended, rec.Reason = PhaseAborted, r.o.Now(), cause.Error()
	})
	if err != nil {
		return false, errors.Join(cause, err)
	}
	ur.Actions = append(ur.Actions, "deleted new key "+rec.NewKey+" (compensation)")
	return false, nil
}

// ErrNewKeyInUse stops the deletion of a new key that something other
// than the rotator's own verification has used.
var ErrNewKeyInUse = errors.New("new key in use")

// ownUseSlack is how much later than the rotator's verification IAM may
// date the GetAccessKeyLastUsed of that call (the clocks of IAM and of
// this host differ, and IAM records the time of its own).
const ownUseSlack = 5 * time.Minute

// newKeyIdle checks, before a compensation or a discard deletes the new
// key, that GetAccessKeyLastUsed shows no use of it but the rotator's
// own verification (sts:GetCallerIdentity, made from the delivered
// phase on). A target may hand a staged key out (a command that
// publishes on "deliver"), and a consumer that switched to it would
// break if it were deleted; the rotation stops instead, with an alert
// once, until someone deletes the key by hand or the next run finds it
// idle. IAM's last-use data can lag by hours (IAM User Guide, "Finding
// unused AWS credentials"): this catches what it already shows.
func (r *Rotator) newKeyIdle(ctx context.Context, rn *run, rec *Record, ur *UserReport) error {
	if rec.NewKey == "" {
		return nil
	}
	// GetAccessKeyLastUsed documents no error for a key that is gone:
	// look for the key itself.
	keys, err := r.listKeys(ctx, rec.User)
	if err != nil {
		return err
	}
	if findKey(keys, rec.NewKey) == nil {
		return nil // gone already: nothing left to delete
	}
	var (
		at      time.Time
		service string
	)
	err = r.retry(ctx, "last used", func(ctx context.Context) (err error) {
		at, service, err = r.o.IAM.LastUsed(ctx, rec.NewKey)
		return err
	})
	if err != nil {
		return fmt.Errorf("last use of new key %s: %w", rec.NewKey, err)
	}
	if at.IsZero() || (strings.EqualFold(service, "sts") && ownVerification(rec, at)) {
		return nil
	}
	why := fmt.Sprintf("new key %s of %s was used %s (%s) by something other than iamd's verification: not deleting it though the rotation cannot go on; once its users are back on the old key %s, delete it by hand and the next run starts over",
		rec.NewKey, rec.User, stamp(at), service, rec.OldKey)
	ur.Reason = why
	if r.raise(ctx, rn, rec, EventInUse, rec.NewKey, why) {
		if err := save(ctx, r.o.States, r.o.Now(), rec, "new key in use"); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %s last used %s (%s)", ErrNewKeyInUse, rec.NewKey, stamp(at), service)
}

// ownVerification reports whether an STS use of the new key at at may be
// the rotator's own verification: verification runs in the delivered
// phase (a run that dies after it leaves the record there), and a
// verified record entered its phase right after it.
func ownVerification(rec *Record, at time.Time) bool {
	switch rec.Phase {
	case PhaseDelivered:
		return !at.Before(rec.history().Add(-ownUseSlack))
	case PhaseVerified:
		return !at.After(rec.history().Add(ownUseSlack))
	}
	return false
}

// undoNew revokes the new key at its target and deletes it. The delete
// is attempted whatever the revoke did: a key left behind would stay
// active, unknown to anyone, for good. Before a publish was attempted
// (any phase but verified) the key was only staged, where consumers do
// not pick it up, so a failed revoke is a warning; after one, the target
// may still name the key, so the failure is returned with the delete's
// and the step is repeated by the next run.
func (r *Rotator) undoNew(rec *Record, ur *UserReport) func(context.Context) error {
	staged, warned := rec.Phase != PhaseVerified, false
	return func(ctx context.Context) error {
		var revokeErr error
		if t := r.o.Targets[rec.Target]; t != nil {
			if err := t.Revoke(ctx, rec.recipient(), rec.NewKey); err != nil {
				revokeErr = fmt.Errorf("revoke %s at %s: %w", rec.NewKey, rec.Target, err)
			}
		}
		delErr := ignoreMissing(r.o.IAM.DeleteAccessKey(ctx, rec.User, rec.NewKey))
		if revokeErr != nil && staged {
			if !warned { // once, whatever the step retries
				r.log.Warn("revoke of a staged key failed; the key is deleted all the same", logUser, rec.User, logNewKey, rec.NewKey, logError, revokeErr.Error())
				ur.Actions = append(ur.Actions, "could not revoke the staged key (it was never published): "+revokeErr.Error())
				warned = true
			}
			revokeErr = nil
		}
		return errors.Join(revokeErr, delErr)
	}
}

// discard handles a rotation found created or delivered by a process that
// no longer holds the secret: the key was never published, so it is
// revoked and deleted and the rotation starts over from planned.
func (r *Rotator) discard(ctx context.Context, rn *run, rec *Record, ur *UserReport) (bool, error) {
	why := "interrupted before the new key " + rec.NewKey + " was verified; its secret was not kept"
	if err := r.newKeyIdle(ctx, rn, rec, ur); err != nil {
		return false, err
	}
	if rn.dry {
		ur.Actions = append(ur.Actions, "would delete the unpublished new key "+rec.NewKey+" and create another ("+why+")")
		return false, nil
	}
	if rec.Step != StepCompensate {
		r.notify(ctx, rn, Event{Kind: EventCompensate, User: rec.User, UserARN: rec.UserARN, AccessKeyID: rec.OldKey, NewKeyID: rec.NewKey, Phase: rec.Phase,
			Message: "deleting unpublished access key " + rec.NewKey + " of " + rec.User + ": " + why})
	}
	gone := rec.NewKey
	err := r.mutate(ctx, rec, StepCompensate, r.undoNew(rec, ur), func() {
		rec.Phase, rec.NewKey, rec.NewKeyCreated, rec.Reason = PhasePlanned, "", time.Time{}, why
	})
	if err != nil {
		return false, err
	}
	ur.Actions = append(ur.Actions, "deleted unpublished key "+gone+" left by an interrupted run")
	return true, nil
}

// draining deactivates the old key once the evidence says it is idle,
// after checking that the new key is still there and active.
func (r *Rotator) draining(ctx context.Context, rn *run, rec *Record, ur *UserReport) (bool, error) {
	keys, err := r.listKeys(ctx, rec.User)
	if err != nil {
		return false, err
	}
	newKey, old := findKey(keys, rec.NewKey), findKey(keys, rec.OldKey)
	switch {
	case old == nil:
		return false, r.outside(ctx, rn, rec, ur, PhaseDeleted, "old key "+rec.OldKey+" deleted outside iamd")
	case !old.Active():
		if rec.Step == StepDeactivate {
			if rn.dry {
				return false, nil
			}
			// Our UpdateAccessKey went through before the process died.
			rec.Phase, rec.Step, rec.Deactivated = PhaseDeactivated, "", rec.StepAt
			return true, save(ctx, r.o.States, r.o.Now(), rec, "reconciled an interrupted deactivation")
		}
		return false, r.outside(ctx, rn, rec, ur, PhaseDeactivated, "old key "+rec.OldKey+" deactivated outside iamd")
	case newKey == nil || !newKey.Active():
		// The target must not go on handing out a key IAM refuses: give
		// it the old key back (where it keeps one) before the record
		// says the rotation is over.
		what := "deleted"
		if newKey != nil {
			what = "deactivated"
		}
		if err := r.revokeDead(ctx, rn, rec, ur, what); err != nil {
			return false, err
		}
		return false, r.outside(ctx, rn, rec, ur, PhaseAborted, "new key "+rec.NewKey+" "+what+" outside iamd; the old key stays active"+revokedNote(rec))
	}
	oldKR, ku, iamLast, err := r.keyInfo(ctx, rn.at, *old)
	if err != nil {
		return false, err
	}
	ur.OldKey = oldKR
	d := DecideDrain(DrainInput{Now: rn.at, Published: rec.Published, Usage: ku, IAMLastUsed: iamLast,
		IndexUpdated: rn.index.updated, IndexSource: rn.index.source, NewestEvent: rn.index.newestEvent, DeliveryLag: DeliveryLag,
		Drain: r.p.Drain, MinOverlap: r.p.MinOverlap, MaxIndexLag: r.p.MaxIndexLag})
	ur.Drain, ur.Reason = &d, d.Reason
	if !d.Idle {
		ur.Next, ur.NextAt = "deactivate the old key once idle", d.NotBefore
		return false, nil
	}
	if rn.dry {
		ur.Actions = append(ur.Actions, "would deactivate old key "+rec.OldKey)
		return false, nil
	}
	r.notify(ctx, rn, Event{Kind: EventDeactivate, User: rec.User, UserARN: rec.UserARN, AccessKeyID: rec.OldKey, NewKeyID: rec.NewKey, Phase: rec.Phase,
		Message: "deactivating old access key " + rec.OldKey + " of " + rec.User + ": " + d.Reason})
	err = r.mutate(ctx, rec, StepDeactivate, func(ctx context.Context) error {
		return r.o.IAM.SetAccessKeyStatus(ctx, rec.User, rec.OldKey, false)
	}, func() { rec.Phase, rec.Deactivated = PhaseDeactivated, r.o.Now() })
	if err != nil {
		return false, err
	}
	ur.Actions = append(ur.Actions, "deactivated old key "+rec.OldKey)
	return true, nil
}

// revokeDead revokes at the target a new key IAM no longer holds or no
// longer accepts (what: "deleted" or "deactivated" outside iamd), once:
// consumers would otherwise go on reading a key that fails (AWSCURRENT,
// PATH, the command's store) while the target can give them back the
// key it replaced. Revoke is idempotent, so a run that dies before the
// record says it was done repeats it; a failure is returned and the
// rotation stays where it is, to try again next run.
func (r *Rotator) revokeDead(ctx context.Context, rn *run, rec *Record, ur *UserReport, what string) error {
	if rec.NewKey == "" || !rec.Revoked.IsZero() {
		return nil
	}
	if rn.dry {
		ur.Actions = append(ur.Actions, "would revoke new key "+rec.NewKey+" at "+rec.Target+" ("+what+" outside iamd)")
		return nil
	}
	t := r.o.Targets[rec.Target]
	if t == nil {
		return fmt.Errorf("revoke new key %s, %s outside iamd: delivery target %q is not configured", rec.NewKey, what, rec.Target)
	}
	err := r.retry(ctx, "revoke", func(ctx context.Context) error {
		return t.Revoke(ctx, rec.recipient(), rec.NewKey)
	})
	if err != nil {
		return fmt.Errorf("revoke new key %s, %s outside iamd, at %s: %w", rec.NewKey, what, rec.Target, err)
	}
	rec.Revoked = rn.at
	r.log.Info("revoked a new key changed outside iamd", logUser, rec.User, logNewKey, rec.NewKey, "target", rec.Target)
	ur.Actions = append(ur.Actions, "revoked new key "+rec.NewKey+" at "+rec.Target+" ("+what+" outside iamd)")
	return nil
}

func revokedNote(rec *Record) string {
	if rec.Revoked.IsZero() {
		return ""
	}
	return "; revoked at " + rec.Target + " " + stamp(rec.Revoked)
}

// outside records a change IAM shows that iamd did not make.
func (r *Rotator) outside(ctx context.Context, rn *run, rec *Record, ur *UserReport, to Phase, why string) error {
	ur.Reason = why
	r.notify(ctx, rn, Event{Kind: EventForeign, User: rec.User, UserARN: rec.UserARN, AccessKeyID: rec.OldKey, NewKeyID: rec.NewKey, Phase: rec.Phase, Message: why})
	if rn.dry {
		return nil
	}
	rec.Phase, rec.Step, rec.Reason = to, "", why
	switch to {
	case PhaseDeactivated:
		rec.Deactivated = rn.at
	case PhaseDeleted, PhaseAborted, PhaseRolledBack:
		rec.Ended = rn.at
	}
	return save(ctx, r.o.States, r.o.Now(), rec, why)
}

// recovering alerts on any use of the deactivated key and deletes it once
// the recovery window has passed.
func (r *Rotator) recovering(ctx context.Context, rn *run, rec *Record, ur *UserReport) (bool, error) {
	keys, err := r.listKeys(ctx, rec.User)
	if err != nil {
		return false, err
	}
	old := findKey(keys, rec.OldKey)
	switch {
	case old == nil && rec.Step == StepDelete:
		if rn.dry {
			return false, nil
		}
		rec.Phase, rec.Step, rec.Ended = PhaseDeleted, "", rn.at
		return false, save(ctx, r.o.States, r.o.Now(), rec, "reconciled an interrupted delete")
	case old == nil:
		return false, r.outside(ctx, rn, rec, ur, PhaseDeleted, "old key "+rec.OldKey+" deleted outside iamd")
	case old.Active():
		return false, r.outside(ctx, rn, rec, ur, PhaseRolledBack, "old key "+rec.OldKey+" reactivated outside iamd")
	}
	ku, ok, err := r.o.Usage.KeyUsage(ctx, rec.OldKey)
	if err != nil {
		return false, fmt.Errorf("usage of %s: %w", rec.OldKey, err)
	}
	if ok && ku.LastSeen.After(rec.Deactivated) && ku.LastSeen.After(lastAlert(rec)) {
		a := Alert{At: rn.at, Kind: EventAlert, KeyID: rec.OldKey, LastSeen: ku.LastSeen, SourceIPs: seenSince(ku.SourceIPs, rec.Deactivated), UserAgents: seenSince(ku.UserAgents, rec.Deactivated)}
		r.notify(ctx, rn, Event{Kind: EventAlert, User: rec.User, UserARN: rec.UserARN, AccessKeyID: rec.OldKey, NewKeyID: rec.NewKey, Phase: rec.Phase,
			Message: fmt.Sprintf("deactivated access key %s of %s was used again at %s%s; `iamd rotate rollback %s` reactivates it",
				rec.OldKey, rec.User, stamp(ku.LastSeen), who(a.SourceIPs, a.UserAgents), rec.User)})
		rec.Alerts = append(rec.Alerts, a)
		if !rn.dry {
			if err := save(ctx, r.o.States, r.o.Now(), rec, "old key used after deactivation"); err != nil {
				return false, err
			}
		}
	}
	// The inactive old key is the user's way back: it stays while the new
	// key is gone or inactive (deleting it would leave the user without a
	// key to reactivate), said at once, not only when the delete is due.
	if nk := findKey(keys, rec.NewKey); nk == nil || !nk.Active() {
		what := "deleted"
		if nk != nil {
			what = "deactivated"
		}
		revoked := rec.Revoked
		if nk == nil {
			// A deleted key never comes back: the target gives the old
			// key back (where it keeps one), for a rollback to revive.
			// A deactivated one may be reactivated, so it stays.
			if err := r.revokeDead(ctx, rn, rec, ur, what); err != nil {
				return false, err
			}
		}
		why := fmt.Sprintf("new key %s was %s outside iamd while the old key %s is inactive: %s has no working key; the old key is kept, `iamd rotate rollback %s` reactivates it%s",
			rec.NewKey, what, rec.OldKey, rec.User, rec.User, revokedNote(rec))
		ur.Reason, ur.Next = why, "delete the old key once the new key is active again"
		if r.raise(ctx, rn, rec, EventForeign, rec.NewKey, why) || !rec.Revoked.Equal(revoked) {
			return false, save(ctx, r.o.States, r.o.Now(), rec, "new key gone during recovery")
		}
		return false, nil
	}
	until := recoveryEnd(rec, r.p.Recovery)
	if rn.at.Before(until) {
		ur.Next, ur.NextAt = "delete the old key", until
		return false, nil
	}
	// Whatever the recovery window, a key seen in use (the index or IAM)
	// within the drain window is not deleted: Recovery may be set shorter
	// than Drain, and IAM can see a use the index has not.
	oldKR, _, _, err := r.keyInfo(ctx, rn.at, *old)
	if err != nil {
		return false, err
	}
	ur.OldKey = oldKR
	if !oldKR.LastUsed.IsZero() && rn.at.Sub(oldKR.LastUsed) < r.p.Drain {
		ur.Reason = fmt.Sprintf("old key %s: in use within the %s drain window, not deleted yet", describeUse(oldKR), age(r.p.Drain))
		ur.Next, ur.NextAt = "delete the old key", oldKR.LastUsed.Add(r.p.Drain)
		return false, nil
	}
	if rn.dry {
		ur.Actions = append(ur.Actions, "would delete old key "+rec.OldKey)
		return false, nil
	}
	r.notify(ctx, rn, Event{Kind: EventDelete, User: rec.User, UserARN: rec.UserARN, AccessKeyID: rec.OldKey, NewKeyID: rec.NewKey, Phase: rec.Phase,
		Message: fmt.Sprintf("deleting old access key %s of %s, inactive since %s", rec.OldKey, rec.User, stamp(rec.Deactivated))})
	err = r.mutate(ctx, rec, StepDelete, func(ctx context.Context) error {
		return ignoreMissing(r.o.IAM.DeleteAccessKey(ctx, rec.User, rec.OldKey))
	}, func() { rec.Phase, rec.Ended = PhaseDeleted, r.o.Now() })
	if err != nil {
		return false, err
	}
	ur.Actions = append(ur.Actions, "deleted old key "+rec.OldKey)
	return false, nil
}

func lastAlert(rec *Record) time.Time {
	var t time.Time
	for _, a := range rec.Alerts {
		if a.oldKeyUse(rec) {
			t = later(t, a.LastSeen)
		}
	}
	return t
}

// raise records a problem an operator must look at, once per kind and
// key: an alert on the record (and so on the status), a warning in the
// log and an event for the Notifier. It reports whether the alert is new,
// so that the caller saves the record.
func (r *Rotator) raise(ctx context.Context, rn *run, rec *Record, kind, keyID, msg string) bool {
	if rec.hasAlert(kind, keyID) {
		return false
	}
	r.notify(ctx, rn, Event{Kind: kind, User: rec.User, UserARN: rec.UserARN, AccessKeyID: rec.OldKey, NewKeyID: rec.NewKey, Phase: rec.Phase, Message: msg})
	if rn.dry {
		return false
	}
	rec.Alerts = append(rec.Alerts, Alert{At: rn.at, Kind: kind, KeyID: keyID, Message: msg})
	return true
}
