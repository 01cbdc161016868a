package rotator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iamd/iamd/store"
)

// StateKind is the store.State kind of rotation records; the ID is the
// user ARN.
const StateKind = "rotation"

// recordVersion is the layout of Record's JSON; bump on incompatible change.
const recordVersion = 1

// Phase is where a user's rotation stands.
type Phase string

// Phases, in order. A rotation moves planned → created → delivered →
// verified → draining → deactivated → recovering → deleted; it ends
// instead in aborted (compensated) or rolled-back. announced and waiting
// precede planned: nothing has changed in AWS yet.
const (
	PhaseAnnounced   Phase = "announced"   // the key is due within NotifyAhead
	PhaseWaiting     Phase = "waiting"     // due, but blocked (quota); Reason says why
	PhasePlanned     Phase = "planned"     // about to create the new key
	PhaseCreated     Phase = "created"     // new key exists; secret in memory only
	PhaseDelivered   Phase = "delivered"   // staged at the target
	PhaseVerified    Phase = "verified"    // STS accepted the new key
	PhaseDraining    Phase = "draining"    // published; waiting for the old key to go idle
	PhaseDeactivated Phase = "deactivated" // old key Inactive
	PhaseRecovering  Phase = "recovering"  // old key kept inactive for Recovery
	PhaseDeleted     Phase = "deleted"     // old key deleted: done
	PhaseAborted     Phase = "aborted"     // new key deleted, old untouched
	PhaseRolledBack  Phase = "rolled-back" // old key reactivated by rollback
)

// InProgress reports whether AWS holds a change the rotation has not
// finished: from planned to recovering.
func (p Phase) InProgress() bool {
	switch p {
	case PhasePlanned, PhaseCreated, PhaseDelivered, PhaseVerified, PhaseDraining, PhaseDeactivated, PhaseRecovering:
		return true
	}
	return false
}

// Step is an AWS call a record says has started; a record with a Step
// may or may not have had it done (the process can die between the call
// and the next write), so the next run reads IAM back before going on.
type Step string

// Steps.
const (
	StepCreate     Step = "create"
	StepFreeSlot   Step = "free-slot"
	StepDeliver    Step = "deliver"
	StepPromote    Step = "promote"
	StepDeactivate Step = "deactivate"
	StepDelete     Step = "delete"
	StepCompensate Step = "compensate"
	StepRollback   Step = "rollback"
)

// Alert is something an operator must look at: a use of the old key
// after its deactivation (Kind EventAlert, or "" in records written
// before Kind existed), or another problem the rotation waits on (Kind
// the event sent for it, Message what it is).
type Alert struct {
	At         time.Time    `json:"at"`                // when the rotator saw it
	Kind       string       `json:"kind,omitempty"`    // an Event kind
	KeyID      string       `json:"keyId"`             // the key it is about
	LastSeen   time.Time    `json:"lastSeen,omitzero"` // the use, from the usage index (EventAlert)
	SourceIPs  []store.Seen `json:"sourceIps,omitempty"`
	UserAgents []store.Seen `json:"userAgents,omitempty"`
	Message    string       `json:"message,omitempty"`
}

// oldKeyUse reports whether a is a use of rec's old key after its
// deactivation.
func (a Alert) oldKeyUse(rec *Record) bool {
	return a.KeyID == rec.OldKey && (a.Kind == "" || a.Kind == EventAlert)
}

// hasAlert reports whether rec already holds an alert of kind about key.
func (r *Record) hasAlert(kind, key string) bool {
	for _, a := range r.Alerts {
		if a.Kind == kind && a.KeyID == key {
			return true
		}
	}
	return false
}

// Transition is one entry of a record's history.
type Transition struct {
	At    time.Time `json:"at"`
	Phase Phase     `json:"phase"`
	Step  Step      `json:"step,omitempty"`
	Note  string    `json:"note,omitempty"`
}

// maxHistory bounds Record.History.
const maxHistory = 40

// maxAlerts bounds Record.Alerts.
const maxAlerts = 20

// Record is one user's rotation as stored (JSON in a store.State). It
// holds key IDs and times only, never a secret.
type Record struct {
	V         int    `json:"v"`
	User      string `json:"user"`
	UserARN   string `json:"userArn"`
	UserPath  string `json:"userPath,omitempty"`
	AccountID string `json:"accountId,omitempty"`
	Phase     Phase  `json:"phase"`
	// Step is set while an AWS call of the phase is in flight.
	Step   Step      `json:"step,omitempty"`
	StepAt time.Time `json:"stepAt,omitzero"`
	// KeysBefore lists the user's keys when StepCreate started, so a key
	// created by a call whose answer was lost can be told apart.
	KeysBefore []string `json:"keysBefore,omitempty"`
	// FreeKey is the inactive key StepFreeSlot deletes.
	FreeKey string `json:"freeKey,omitempty"`
	Target  string `json:"target,omitempty"` // delivery target name

	OldKey        string    `json:"oldKey"`
	OldKeyCreated time.Time `json:"oldKeyCreated,omitzero"`
	NewKey        string    `json:"newKey,omitempty"`
	NewKeyCreated time.Time `json:"newKeyCreated,omitzero"`

	// Revoked is when the new key was revoked at the target because IAM
	// no longer held it (deleted, or deactivated before it replaced the
	// old key, outside iamd), so that consumers are not left reading it.
	Revoked time.Time `json:"revoked,omitzero"`

	Started     time.Time    `json:"started,omitzero"`   // planned
	Published   time.Time    `json:"published,omitzero"` // draining began
	Deactivated time.Time    `json:"deactivated,omitzero"`
	Ended       time.Time    `json:"ended,omitzero"`      // deleted, aborted, rolled back
	Announced   time.Time    `json:"announced,omitzero"`  // announcement sent
	DueAt       time.Time    `json:"dueAt,omitzero"`      // when the old key reaches MaxAge
	Reason      string       `json:"reason,omitempty"`    // why waiting, aborted, rolled back
	LastError   string       `json:"lastError,omitempty"` // the last run's failure, if any
	Alerts      []Alert      `json:"alerts,omitempty"`
	History     []Transition `json:"history,omitempty"`

	version time.Time // the store's Updated of the record read; zero: new
}

// StateStore keeps rotation records: store.DB implements it.
type StateStore interface {
	GetState(ctx context.Context, kind, id string) (store.State, bool, error)
	PutState(ctx context.Context, s store.State, prev *time.Time) error
	States(ctx context.Context, kind string) ([]store.State, error)
}

var _ StateStore = (*store.DB)(nil)

// ErrConcurrent means another process changed the record since it was read.
var ErrConcurrent = errors.New("rotation record changed by another process")

func decodeRecord(s store.State) (*Record, error) {
	var r Record
	if err := json.Unmarshal(s.Data, &r); err != nil {
		return nil, fmt.Errorf("rotation record %s: %w", s.ID, err)
	}
	if r.V != recordVersion {
		return nil, fmt.Errorf("rotation record %s: version %d, this build reads %d", s.ID, r.V, recordVersion)
	}
	if r.UserARN != s.ID {
		return nil, fmt.Errorf("rotation record %s: names user %s", s.ID, r.UserARN)
	}
	r.version = s.Updated
	return &r, nil
}

// loadRecords reads every rotation record, by user ARN.
func loadRecords(ctx context.Context, st StateStore) (map[string]*Record, error) {
	states, err := st.States(ctx, StateKind)
	if err != nil {
		return nil, fmt.Errorf("read rotation records: %w", err)
	}
	out := make(map[string]*Record, len(states))
	for _, s := range states {
		r, err := decodeRecord(s)
		if err != nil {
			return nil, err
		}
		out[r.UserARN] = r
	}
	return out, nil
}

// save writes r if nobody wrote it since it was read (compare-and-set on
// the store's Updated time) and records the transition in its history.
func save(ctx context.Context, st StateStore, now time.Time, r *Record, note string) error {
	r.V = recordVersion
	h := Transition{At: now, Phase: r.Phase, Step: r.Step, Note: note}
	if n := len(r.History); n == 0 || r.History[n-1] != h {
		r.History = append(r.History, h)
	}
	if len(r.History) > maxHistory {
		r.History = append(r.History[:1], r.History[len(r.History)-maxHistory+1:]...)
	}
	if len(r.Alerts) > maxAlerts {
		r.Alerts = r.Alerts[len(r.Alerts)-maxAlerts:]
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// The version must change with every write, even under a clock that
	// does not move (tests) or moves back: one nanosecond past the last.
	updated := now
	if !updated.After(r.version) {
		updated = r.version.Add(time.Nanosecond)
	}
	prev := r.version
	err = st.PutState(ctx, store.State{Kind: StateKind, ID: r.UserARN, Data: data, Updated: updated}, &prev)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("save rotation of %s: %w: %w", r.User, ErrConcurrent, err)
	}
	if err != nil {
		return fmt.Errorf("save rotation of %s: %w", r.User, err)
	}
	r.version = updated
	return nil
}

func (r *Record) recipient() Recipient {
	return Recipient{UserName: r.User, UserPath: r.UserPath, UserARN: r.UserARN, AccountID: r.AccountID}
}
