// Package listing is the JSON shape of what the store lists (usage facts,
// principals, quarantined records, snapshots) and of an account's audit,
// shared by the CLI's --format json, the daemon's /api/v1 and the web
// dashboard, so that all show the same document for the same store. It
// imports store, analyzer/iam and, for the utilisation type,
// analyzer/report.
package listing

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/store"
)

// WriteJSON writes v as the CLI's --format json does: indented by two
// spaces, one trailing newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// UsageFact is one principal × action × resource fact.
type UsageFact struct {
	Principal string    `json:"principal"`
	Action    string    `json:"action"`
	Resource  string    `json:"resource"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Allowed   uint64    `json:"allowed"`
	Denied    uint64    `json:"denied"`
}

// UsageFacts converts facts, never returning nil (an empty list prints
// as []).
func UsageFacts(facts []store.Fact) []UsageFact {
	out := make([]UsageFact, 0, len(facts))
	for _, f := range facts {
		out = append(out, UsageFact(f))
	}
	return out
}

// Principal is one principal's usage in the index.
type Principal struct {
	Principal string    `json:"principal"`
	Actions   int       `json:"actions"` // distinct actions called
	Facts     int       `json:"facts"`   // distinct action × resource pairs
	Allowed   uint64    `json:"allowed"` // calls AWS authorized
	Denied    uint64    `json:"denied"`  // calls refused for lack of permission
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Utilisation is used / granted actions over the analysis window,
	// when an IAM model holds the principal.
	Utilisation *report.Utilisation `json:"utilisation,omitempty"`
}

// UtilisationFunc returns used / granted actions by principal ARN, of one
// principal when principal is set; nil when there is no IAM model.
type UtilisationFunc func(ctx context.Context, principal string) (map[string]report.Utilisation, error)

// AddUtilisation sets each principal's utilisation from u.
func AddUtilisation(ps []Principal, u map[string]report.Utilisation) {
	for i := range ps {
		if v, ok := u[ps[i].Principal]; ok {
			ps[i].Utilisation = &v
		}
	}
}

// FactWalker walks facts; *store.DB has it.
type FactWalker interface {
	EachFact(ctx context.Context, q store.FactQuery, fn func(store.Fact) error) error
}

// Principals sums the facts of every principal (or of one, when
// principal is set), by principal ARN. Facts come ordered by principal,
// so only one principal's actions are held at a time.
func Principals(ctx context.Context, db FactWalker, principal string) ([]Principal, error) {
	out := []Principal{}
	var cur *Principal
	actions := map[string]bool{}
	err := db.EachFact(ctx, store.FactQuery{Principal: principal}, func(f store.Fact) error {
		if cur == nil || cur.Principal != f.Principal {
			out = append(out, Principal{Principal: f.Principal, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen})
			cur = &out[len(out)-1]
			clear(actions)
		}
		if !actions[f.Action] {
			actions[f.Action] = true
			cur.Actions++
		}
		cur.Facts++
		cur.Allowed += f.Allowed
		cur.Denied += f.Denied
		if f.FirstSeen.Before(cur.FirstSeen) {
			cur.FirstSeen = f.FirstSeen
		}
		if f.LastSeen.After(cur.LastSeen) {
			cur.LastSeen = f.LastSeen
		}
		return nil
	})
	for i := range out {
		out[i].FirstSeen, out[i].LastSeen = out[i].FirstSeen.UTC(), out[i].LastSeen.UTC()
	}
	return out, err
}

// Quarantined is one quarantined record. Time and Raw are set when the
// record comes from the store (not in an ingest run's sample).
type Quarantined struct {
	Where  string     `json:"where"`
	Reason string     `json:"reason"`
	Detail string     `json:"detail"`
	Time   *time.Time `json:"time,omitempty"`
	Raw    *string    `json:"raw,omitempty"`
}

// QuarantineRecords converts stored records, with their time and raw
// bytes (redacted when they were quarantined).
func QuarantineRecords(qs []store.Quarantined) []Quarantined {
	out := make([]Quarantined, 0, len(qs))
	for _, q := range qs {
		t, raw := q.Time.UTC(), string(q.Raw)
		out = append(out, Quarantined{Where: q.Where, Reason: q.Reason, Detail: q.Detail, Time: &t, Raw: &raw})
	}
	return out
}

// Snapshots lists one account's stored IAM snapshots.
type Snapshots struct {
	Account   string     `json:"account"`
	Snapshots []Snapshot `json:"snapshots"`
}

// Snapshot is one stored snapshot: when it was taken (RFC 3339, as
// `iamd snapshot diff` takes it) and its stored size.
type Snapshot struct {
	Taken  string `json:"taken"`
	Stored int64  `json:"storedBytes"`
}

// SnapshotList converts infos.
func SnapshotList(account string, infos []store.SnapshotInfo) Snapshots {
	out := Snapshots{Account: account, Snapshots: []Snapshot{}}
	for _, s := range infos {
		out.Snapshots = append(out.Snapshots, Snapshot{Taken: FormatTaken(s.Taken), Stored: s.Stored})
	}
	return out
}

// FormatTaken prints a snapshot time so that parsing it finds the same
// stored snapshot: RFC 3339, with fractional seconds only when there are
// any.
func FormatTaken(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Audit is one account's audit, as `iamd audit --format json` prints it.
type Audit struct {
	Account  string             `json:"account"`
	Warnings []string           `json:"warnings,omitempty"`
	Findings []iam.Finding      `json:"findings"`
	Skipped  []iam.SkippedCheck `json:"skipped"`
}

// AccountAudit is the document of acct's findings and skipped checks;
// empty lists print as [].
func AccountAudit(acct *iam.Account, fs []iam.Finding, skipped []iam.SkippedCheck) Audit {
	out := Audit{Account: acct.ID, Findings: fs, Skipped: skipped}
	if out.Findings == nil {
		out.Findings = []iam.Finding{}
	}
	if out.Skipped == nil {
		out.Skipped = []iam.SkippedCheck{}
	}
	for _, w := range acct.Warnings {
		out.Warnings = append(out.Warnings, w.String())
	}
	return out
}
