// Package rotator rotates aged IAM user access keys with a crash-safe,
// per-user state machine kept in the store: it creates a new key,
// delivers it (Secrets Manager, a file or a command), verifies it with
// STS, publishes it, waits until CloudTrail (through the usage index) and
// GetAccessKeyLastUsed show the old key idle for the drain window,
// deactivates the old key, and deletes it after a recovery window. Every
// AWS step is written to the store before and after its call, so a run
// that dies anywhere is resumed by the next one from what IAM shows.
//
// It talks to AWS through the interfaces it declares (KeyAPI, Verifier,
// Delivery), with aws-sdk-go-v2 adapters beside them (SDKKeys,
// STSVerifier, SecretsManagerTarget); it imports analyzer/iam for users
// and keys and store for usage and its own records. See docs/rotation.md.
package rotator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/ingest/backoff"
	"github.com/iamd/iamd/store"
)

// Log attribute keys.
const (
	logUser   = "user"
	logKey    = "key"
	logNewKey = "new_key"
	logPhase  = "phase"
	logStep   = "step"
	logError  = "error"
	logEvent  = "event"
)

// Options configure a Rotator.
type Options struct {
	Policy Policy
	// Account loads the users to consider (names, paths, groups, tags),
	// typically live through GetAccountAuthorizationDetails. Needed by
	// Run and Plan only.
	Account func(ctx context.Context) (*iam.Account, error)
	// IAM reads and changes access keys; needed by Run, Plan and Rollback
	// (Status reads the store only).
	IAM KeyAPI
	// Verifier proves a new key works; needed to apply a rotation.
	Verifier Verifier
	// Targets are the delivery targets by name (Targets builds them from
	// the policy); a user whose target is missing waits.
	Targets map[string]Delivery
	// States keeps the rotation records; Usage is the usage index. Both
	// are usually the same *store.DB. Required.
	States StateStore
	Usage  UsageIndex
	// Notifier receives events besides the log (nil: a Webhook when
	// Policy.WebhookURL is set, else none).
	Notifier Notifier
	Logger   *slog.Logger // nil: discard
	// Now is the clock; required.
	Now func() time.Time
	// Sleep waits between retries (default: a timer).
	Sleep func(ctx context.Context, d time.Duration) error
	// StepBackoff is the first wait between attempts of a step, doubled
	// each time (default 1 s).
	StepBackoff time.Duration
	// Hook, if set, is called at every crash point: "STEP/started" after
	// the record says the step began, "STEP/called" after the AWS call
	// returned, "STEP/saved" after its result was written; and
	// "PHASE/saved" after a store-only transition. The crash tests kill
	// the process there.
	Hook func(point string)
}

// Rotator runs rotations. Its methods may be called from one goroutine at
// a time; two processes sharing a store are kept apart per record by the
// store's compare-and-set.
type Rotator struct {
	o   Options
	p   Policy
	log *slog.Logger
}

// New checks o and returns a Rotator.
func New(o Options) (*Rotator, error) {
	var errs []error
	if err := o.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.States == nil || o.Usage == nil {
		errs = append(errs, errors.New("rotator: Options.States and Options.Usage are required"))
	}
	if o.Now == nil {
		errs = append(errs, errors.New("rotator: Options.Now is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = backoff.Sleep
	}
	if o.StepBackoff <= 0 {
		o.StepBackoff = time.Second
	}
	if o.Notifier == nil && o.Policy.WebhookURL != "" {
		o.Notifier = &Webhook{URL: o.Policy.WebhookURL, Sleep: o.Sleep}
	}
	return &Rotator{o: o, p: o.Policy, log: o.Logger.With("component", "rotator")}, nil
}

// KeyReport describes one access key in a report.
type KeyReport struct {
	ID      string    `json:"id"`
	Status  string    `json:"status,omitempty"`
	Created time.Time `json:"created,omitzero"`
	AgeDays int       `json:"ageDays"`
	// LastUsed is the later of the usage index and GetAccessKeyLastUsed.
	LastUsed   time.Time    `json:"lastUsed,omitzero"`
	SourceIPs  []store.Seen `json:"sourceIps,omitempty"`
	UserAgents []store.Seen `json:"userAgents,omitempty"`
}

// UserReport is one user's line in a run, plan or status.
type UserReport struct {
	User    string `json:"user"`
	UserARN string `json:"userArn"`
	Phase   Phase  `json:"phase,omitempty"`
	Step    Step   `json:"step,omitempty"` // an AWS call not confirmed yet
	Target  string `json:"target,omitempty"`
	// Actions are what this run did, or in a dry run would do.
	Actions []string `json:"actions,omitempty"`
	// Reason says why the user is where it is (due, waiting, draining…).
	Reason string `json:"reason,omitempty"`
	// Next is what happens next and NextAt when, at the earliest.
	Next   string         `json:"next,omitempty"`
	NextAt time.Time      `json:"nextAt,omitzero"`
	OldKey *KeyReport     `json:"oldKey,omitempty"`
	NewKey *KeyReport     `json:"newKey,omitempty"`
	Drain  *DrainDecision `json:"drain,omitempty"`
	Alerts []Alert        `json:"alerts,omitempty"`
	Error  string         `json:"error,omitempty"`
	// Updated is when the record was last written (status only).
	Updated time.Time `json:"updated,omitzero"`
}

// Report is what one run did, or in a dry run would do.
type Report struct {
	At      time.Time    `json:"at"`
	DryRun  bool         `json:"dryRun"`
	Started int          `json:"started"` // rotations started (dry: that would start)
	Errors  int          `json:"errors"`  // users whose step failed
	Users   []UserReport `json:"users"`
}

// run is the state of one Run.
type run struct {
	dry     bool
	at      time.Time
	index   indexState
	account string
	started int
}

// Run advances every rotation in progress and starts those that are due,
// at most Policy.MaxUsersPerRun. With Policy.DryRun it changes nothing.
// Errors of one user are in its report line; the error returned is for
// what stops the whole run (the account or the store cannot be read).
func (r *Rotator) Run(ctx context.Context) (*Report, error) { return r.run(ctx, r.p.DryRun) }

// Plan is a dry run: which keys rotate, why, and what happens when.
func (r *Rotator) Plan(ctx context.Context) (*Report, error) { return r.run(ctx, true) }

func (r *Rotator) run(ctx context.Context, dry bool) (*Report, error) {
	if r.o.Account == nil || r.o.IAM == nil {
		return nil, errors.New("rotator: Options.Account and Options.IAM are required to run")
	}
	if !dry && r.o.Verifier == nil {
		return nil, errors.New("rotator: Options.Verifier is required to apply rotations")
	}
	rn := &run{dry: dry, at: r.o.Now()}
	rep := &Report{At: rn.at, DryRun: dry, Users: []UserReport{}}
	acct, err := r.o.Account(ctx)
	if err != nil {
		return nil, fmt.Errorf("rotation: load users: %w", err)
	}
	if acct.Truncated {
		return nil, errors.New("rotation: the user list is one page of a paginated result: refusing to act on part of the account")
	}
	rn.account = acct.ID
	recs, err := loadRecords(ctx, r.o.States)
	if err != nil {
		return nil, err
	}
	if rn.index, err = readIndexState(ctx, r.o.Usage, rn.at, r.p.Drain); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, p := range acct.Principals {
		if p.Kind != iam.KindUser {
			continue
		}
		seen[p.ARN] = true
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if ur := r.user(ctx, rn, p, recs[p.ARN]); ur != nil {
			rep.Users = append(rep.Users, *ur)
		}
	}
	gone := make([]string, 0)
	for arn, rec := range recs {
		if !seen[arn] && (rec.Phase.InProgress() || rec.Phase == PhaseWaiting || rec.Phase == PhaseAnnounced) {
			gone = append(gone, arn)
		}
	}
	sort.Strings(gone)
	for _, arn := range gone {
		rep.Users = append(rep.Users, r.userGone(ctx, rn, recs[arn]))
	}
	rep.Started = rn.started
	for _, u := range rep.Users {
		if u.Error != "" {
			rep.Errors++
		}
	}
	return rep, nil
}

// user handles one user of the account.
func (r *Rotator) user(ctx context.Context, rn *run, p *iam.Principal, rec *Record) *UserReport {
	if rec != nil && rec.Phase.InProgress() {
		ur := &UserReport{User: p.Name, UserARN: p.ARN}
		if ok, why := r.p.Users.Selects(p); !ok {
			ur.Reason = "no longer selected (" + why + "); the rotation in progress finishes"
		}
		r.advance(ctx, rn, rec, nil, ur)
		return ur
	}
	if ok, _ := r.p.Users.Selects(p); !ok {
		return nil
	}
	return r.consider(ctx, rn, p, rec)
}

// userGone closes the record of a user no longer in the account listing,
// once IAM confirms the user is gone (NoSuchEntity on its keys): a
// listing can miss a user that still exists (a path changed, and with it
// the ARN; a listing filtered or not yet consistent), and closing its
// record would strand the keys of a rotation in progress.
func (r *Rotator) userGone(ctx context.Context, rn *run, rec *Record) UserReport {
	ur := UserReport{User: rec.User, UserARN: rec.UserARN, Phase: rec.Phase, Reason: "the user is no longer in the account"}
	keys, err := r.listKeys(ctx, rec.User)
	switch {
	case errors.Is(err, ErrNoSuchEntity):
	case err != nil:
		ur.Error = fmt.Sprintf("user %s is not in the account listing; confirming with IAM: %v", rec.User, err)
		return ur
	default:
		why := fmt.Sprintf("user %s is not in the account listing as %s, but IAM still lists its keys (%s): the record is kept; if its path changed, finish or roll back this rotation by hand",
			rec.User, rec.UserARN, strings.Join(keyIDs(keys), ", "))
		ur.Reason = why
		if r.raise(ctx, rn, rec, EventForeign, "", why) {
			if err := save(ctx, r.o.States, r.o.Now(), rec, "user missing from the account listing"); err != nil {
				ur.Error = err.Error()
			}
		}
		ur.Alerts = rec.Alerts
		return ur
	}
	if rn.dry {
		ur.Actions = append(ur.Actions, "would close the record (user gone)")
		return ur
	}
	rec.Phase, rec.Step, rec.Ended, rec.Reason = PhaseAborted, "", rn.at, "user deleted outside iamd"
	if err := save(ctx, r.o.States, r.o.Now(), rec, rec.Reason); err != nil {
		ur.Error = err.Error()
	}
	ur.Phase = rec.Phase
	return ur
}

// hook calls Options.Hook.
func (r *Rotator) hook(point string) {
	if r.o.Hook != nil {
		r.o.Hook(point)
	}
}

// notify logs e and sends it to the Notifier; a failed notification is
// logged, not returned.
func (r *Rotator) notify(ctx context.Context, rn *run, e Event) {
	e.At = r.o.Now()
	level := slog.LevelInfo
	if e.Kind == EventAlert || e.Kind == EventForeign {
		level = slog.LevelWarn
	}
	r.log.Log(ctx, level, e.Message, logEvent, e.Kind, logUser, e.User, logKey, e.AccessKeyID, logNewKey, e.NewKeyID, logPhase, string(e.Phase))
	if rn.dry || r.o.Notifier == nil {
		return
	}
	if err := r.o.Notifier.Notify(ctx, e); err != nil {
		r.log.Warn("notification failed", logEvent, e.Kind, logUser, e.User, logError, err.Error())
	}
}

// transient reports whether err is worth another try: the SDK's own
// retryable set (throttling, 5xx, connection errors, timeouts).
func transient(err error) bool {
	var once errNoRetry
	if err == nil || errors.As(err, &once) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// retry runs fn up to Policy.StepAttempts times while it fails
// transiently, on top of the SDK's retries.
func (r *Rotator) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	wait := r.o.StepBackoff
	var err error
	for i := range r.p.StepAttempts {
		if i > 0 {
			if serr := r.o.Sleep(ctx, wait); serr != nil {
				return errors.Join(err, serr)
			}
			wait *= 2
		}
		if err = fn(ctx); err == nil || !transient(err) {
			return err
		}
		r.log.Warn("transient error", logStep, what, "attempt", i+1, logError, err.Error())
	}
	return err
}

// Notes returns, for every access key that belongs to a rotation in
// progress, a line saying so (key ID → note), for the audit's
// two-active-keys finding.
func Notes(ctx context.Context, st StateStore) (map[string]string, error) {
	recs, err := loadRecords(ctx, st)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, rec := range recs {
		if !rec.Phase.InProgress() {
			continue
		}
		note := fmt.Sprintf("rotation in progress (%s since %s): old key %s", rec.Phase, stamp(rec.history()), rec.OldKey)
		if rec.NewKey != "" {
			note += ", new key " + rec.NewKey
		}
		for _, k := range []string{rec.OldKey, rec.NewKey} {
			if k != "" {
				out[k] = note
			}
		}
	}
	return out, nil
}

// history returns when the record entered its phase.
func (r *Record) history() time.Time {
	var at time.Time
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].Phase != r.Phase {
			break
		}
		at = r.History[i].At
	}
	return at
}

// Status lists every rotation record with the old key's usage from the
// index (no AWS call): phase, key ages, the old key's last use and who.
func (r *Rotator) Status(ctx context.Context) ([]UserReport, error) {
	recs, err := loadRecords(ctx, r.o.States)
	if err != nil {
		return nil, err
	}
	now := r.o.Now()
	out := make([]UserReport, 0, len(recs))
	for _, rec := range recs {
		ur := UserReport{User: rec.User, UserARN: rec.UserARN, Phase: rec.Phase, Step: rec.Step, Target: rec.Target,
			Reason: rec.Reason, Error: rec.LastError, Alerts: rec.Alerts, Updated: rec.version}
		if rec.OldKey != "" {
			ur.OldKey = &KeyReport{ID: rec.OldKey, Created: rec.OldKeyCreated, AgeDays: ageDays(now, rec.OldKeyCreated)}
			ku, ok, err := r.o.Usage.KeyUsage(ctx, rec.OldKey)
			if err != nil {
				return nil, err
			}
			if ok {
				ur.OldKey.LastUsed = ku.LastSeen
				ur.OldKey.SourceIPs, ur.OldKey.UserAgents = ku.SourceIPs, ku.UserAgents
			}
		}
		if rec.NewKey != "" {
			ur.NewKey = &KeyReport{ID: rec.NewKey, Created: rec.NewKeyCreated, AgeDays: ageDays(now, rec.NewKeyCreated)}
		}
		ur.Next, ur.NextAt = r.next(rec)
		if rec.Phase == PhaseDraining && ur.OldKey != nil && !ur.OldKey.LastUsed.IsZero() {
			ur.NextAt = later(ur.NextAt, ur.OldKey.LastUsed.Add(r.p.Drain))
		}
		out = append(out, ur)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserARN < out[j].UserARN })
	return out, nil
}

// next says what the record waits for, from the record alone.
func (r *Rotator) next(rec *Record) (string, time.Time) {
	switch rec.Phase {
	case PhaseAnnounced:
		return "rotation due", rec.DueAt
	case PhaseWaiting:
		return "rotation waits: " + rec.Reason, time.Time{}
	case PhasePlanned, PhaseCreated, PhaseDelivered, PhaseVerified:
		return "next run continues the rotation", time.Time{}
	case PhaseDraining:
		return fmt.Sprintf("deactivate old key once idle for %s", age(r.p.Drain)), rec.Published.Add(r.p.MinOverlap)
	case PhaseDeactivated, PhaseRecovering:
		return "delete old key", recoveryEnd(rec, r.p.Recovery)
	case PhaseAborted:
		return "retry", rec.Ended.Add(r.p.RetryAborted)
	}
	return "", time.Time{}
}

// recoveryEnd is when a deactivated key may be deleted: Recovery after
// its deactivation or after its last use seen since, whichever is later.
func recoveryEnd(rec *Record, recovery time.Duration) time.Time {
	from := rec.Deactivated
	for _, a := range rec.Alerts {
		if a.oldKeyUse(rec) {
			from = later(from, a.LastSeen)
		}
	}
	return from.Add(recovery)
}

func ageDays(now, created time.Time) int {
	if created.IsZero() {
		return 0
	}
	return int(now.Sub(created) / Day)
}

// ErrNoRotation and ErrCannotRollback are Rollback's refusals.
var (
	ErrNoRotation     = errors.New("no rotation recorded for this user")
	ErrCannotRollback = errors.New("rotation cannot be rolled back")
)

// Rollback stops the rotation of user (a name or ARN) and makes sure its
// old key is active: it reads the user's keys back from IAM and
// reactivates the old key whenever it is not active, whatever the record
// says (a deactivation can reach IAM while the write after it does not),
// in draining, deactivated, recovering, or an earlier rollback. Both keys
// then stay active. It acts whatever Policy.DryRun says: it is an
// operator's explicit request.
func (r *Rotator) Rollback(ctx context.Context, user string) (UserReport, error) {
	if r.o.IAM == nil {
		return UserReport{}, errors.New("rotator: Options.IAM is required to roll back")
	}
	recs, err := loadRecords(ctx, r.o.States)
	if err != nil {
		return UserReport{}, err
	}
	var rec *Record
	for _, c := range recs {
		if c.UserARN == user || c.User == user {
			if rec != nil {
				return UserReport{}, fmt.Errorf("rollback %s: the name matches several users; give the ARN", user)
			}
			rec = c
		}
	}
	if rec == nil {
		return UserReport{}, fmt.Errorf("rollback %s: %w", user, ErrNoRotation)
	}
	rn := &run{at: r.o.Now()}
	ur := UserReport{User: rec.User, UserARN: rec.UserARN, Phase: rec.Phase}
	switch rec.Phase {
	case PhaseDraining, PhaseDeactivated, PhaseRecovering, PhaseRolledBack:
	case PhaseDeleted:
		return ur, fmt.Errorf("rollback %s: %w: old key %s was deleted", rec.User, ErrCannotRollback, rec.OldKey)
	default:
		return ur, fmt.Errorf("rollback %s: %w in phase %s: the old key was never touched; the next run completes or compensates it", rec.User, ErrCannotRollback, rec.Phase)
	}
	keys, err := r.listKeys(ctx, rec.User)
	if err != nil {
		return ur, fmt.Errorf("rollback %s: %w", rec.User, err)
	}
	old := findKey(keys, rec.OldKey)
	if old != nil && rec.NewKey != "" && findKey(keys, rec.NewKey) == nil {
		// The new key was deleted outside iamd: the target goes back to
		// the old key, which the rollback is about to revive. The record
		// is saved by every branch below that changes it.
		revoked := rec.Revoked
		if err := r.revokeDead(ctx, rn, rec, &ur, "deleted"); err != nil {
			return ur, fmt.Errorf("rollback %s: %w", rec.User, err)
		}
		if !rec.Revoked.Equal(revoked) && old.Active() && rec.Phase == PhaseRolledBack {
			if err := save(ctx, r.o.States, r.o.Now(), rec, "revoked the new key deleted outside iamd"); err != nil {
				return ur, err
			}
		}
	}
	switch {
	case old == nil:
		// The next run records how it went (a delete of ours that went
		// through, or one made outside iamd).
		return ur, fmt.Errorf("rollback %s: %w: old key %s no longer exists in IAM", rec.User, ErrCannotRollback, rec.OldKey)
	case !old.Active():
		if err := r.reactivate(ctx, rn, rec, &ur); err != nil {
			return ur, fmt.Errorf("rollback %s: %w", rec.User, err)
		}
	case rec.Phase == PhaseRolledBack:
		ur.Reason = "already rolled back; old key " + rec.OldKey + " is active"
		return ur, nil
	default:
		why := "rolled back while " + string(rec.Phase) + ": old key " + rec.OldKey + " is active, both keys stay active"
		rec.Phase, rec.Step, rec.Ended, rec.Reason = PhaseRolledBack, "", rn.at, why
		if err := save(ctx, r.o.States, r.o.Now(), rec, rec.Reason); err != nil {
			return ur, err
		}
		ur.Actions = append(ur.Actions, "stopped the rotation; old key "+rec.OldKey+" stays active")
	}
	ur.Phase, ur.Reason = rec.Phase, rec.Reason
	return ur, nil
}

// resumeRollback finishes a rollback whose UpdateAccessKey may not have
// gone through (the record still says StepRollback).
func (r *Rotator) resumeRollback(ctx context.Context, rn *run, rec *Record, ur *UserReport) error {
	if rn.dry {
		ur.Actions = append(ur.Actions, "would finish the interrupted rollback")
		return nil
	}
	keys, err := r.listKeys(ctx, rec.User)
	if err != nil {
		return err
	}
	switch old := findKey(keys, rec.OldKey); {
	case old == nil:
		return r.outside(ctx, rn, rec, ur, PhaseDeleted, "old key "+rec.OldKey+" deleted outside iamd during a rollback")
	case old.Active():
		rec.Phase, rec.Step, rec.Ended, rec.Reason = PhaseRolledBack, "", rn.at, "rolled back: old key reactivated"
		return save(ctx, r.o.States, r.o.Now(), rec, "reconciled an interrupted rollback")
	}
	return r.reactivate(ctx, rn, rec, ur)
}

// reactivate is rollback's AWS step: the old key becomes Active again.
func (r *Rotator) reactivate(ctx context.Context, rn *run, rec *Record, ur *UserReport) error {
	r.notify(ctx, rn, Event{Kind: EventReactivate, User: rec.User, UserARN: rec.UserARN, AccessKeyID: rec.OldKey, NewKeyID: rec.NewKey, Phase: rec.Phase,
		Message: "reactivating old access key " + rec.OldKey + " of " + rec.User + " (rollback)"})
	err := r.mutate(ctx, rec, StepRollback, func(ctx context.Context) error {
		return r.o.IAM.SetAccessKeyStatus(ctx, rec.User, rec.OldKey, true)
	}, func() {
		rec.Phase, rec.Ended, rec.Reason = PhaseRolledBack, r.o.Now(), "rolled back: old key reactivated"
	})
	if err != nil {
		return err
	}
	ur.Actions = append(ur.Actions, "reactivated old key "+rec.OldKey)
	return nil
}

// mutate runs one AWS step write-ahead: the record says the step began
// before the call and what it did after, so a process that dies in
// between leaves a Step the next run reconciles with IAM. On error the
// Step stays set (with LastError) for the caller to handle.
func (r *Rotator) mutate(ctx context.Context, rec *Record, step Step, call func(context.Context) error, done func()) error {
	rec.Step, rec.StepAt = step, r.o.Now()
	if err := save(ctx, r.o.States, rec.StepAt, rec, ""); err != nil {
		return err
	}
	r.hook(string(step) + "/started")
	if err := r.retry(ctx, string(step), call); err != nil {
		rec.LastError = err.Error()
		return err
	}
	r.hook(string(step) + "/called")
	rec.Step, rec.StepAt, rec.LastError = "", time.Time{}, ""
	done()
	if err := save(ctx, r.o.States, r.o.Now(), rec, ""); err != nil {
		return err
	}
	r.log.Info("rotation step done", logUser, rec.User, logStep, string(step), logPhase, string(rec.Phase), logKey, rec.OldKey, logNewKey, rec.NewKey)
	r.hook(string(step) + "/saved")
	return nil
}

// transition is a store-only phase change.
func (r *Rotator) transition(ctx context.Context, rec *Record, to Phase, note string) error {
	rec.Phase = to
	if err := save(ctx, r.o.States, r.o.Now(), rec, note); err != nil {
		return err
	}
	r.log.Info("rotation phase", logUser, rec.User, logPhase, string(to), logKey, rec.OldKey, logNewKey, rec.NewKey)
	r.hook(string(to) + "/saved")
	return nil
}

// keyInfo fills a KeyReport with the index's usage and IAM's last use.
func (r *Rotator) keyInfo(ctx context.Context, now time.Time, k iam.AccessKey) (*KeyReport, store.KeyUsage, time.Time, error) {
	kr := &KeyReport{ID: k.ID, Status: k.Status, Created: k.Created, AgeDays: ageDays(now, k.Created)}
	ku, _, err := r.o.Usage.KeyUsage(ctx, k.ID)
	if err != nil {
		return nil, ku, time.Time{}, fmt.Errorf("usage of %s: %w", k.ID, err)
	}
	var iamLast time.Time
	err = r.retry(ctx, "last used", func(ctx context.Context) (err error) {
		iamLast, _, err = r.o.IAM.LastUsed(ctx, k.ID)
		return err
	})
	if err != nil {
		return nil, ku, time.Time{}, err
	}
	kr.LastUsed = later(ku.LastSeen, iamLast)
	kr.SourceIPs, kr.UserAgents = ku.SourceIPs, ku.UserAgents
	return kr, ku, iamLast, nil
}

// listKeys lists a user's keys with step retries.
func (r *Rotator) listKeys(ctx context.Context, user string) ([]iam.AccessKey, error) {
	var keys []iam.AccessKey
	err := r.retry(ctx, "list keys", func(ctx context.Context) (err error) {
		keys, err = r.o.IAM.ListAccessKeys(ctx, user)
		return err
	})
	return keys, err
}

func findKey(keys []iam.AccessKey, id string) *iam.AccessKey {
	i := slices.IndexFunc(keys, func(k iam.AccessKey) bool { return k.ID == id })
	if i < 0 {
		return nil
	}
	return &keys[i]
}

func keyIDs(keys []iam.AccessKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

func describeUse(kr *KeyReport) string {
	if kr.LastUsed.IsZero() {
		return kr.ID + " (never used)"
	}
	return fmt.Sprintf("%s (last used %s%s)", kr.ID, stamp(kr.LastUsed), who(kr.SourceIPs, kr.UserAgents))
}
