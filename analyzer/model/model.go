// Package model gives the IAM model in force on any day of a window, per
// account: the snapshots kept in the store (iamd snapshot save), loaded
// once and ordered by time, or one authorization-details file that stands
// for the whole window. Each loaded Model carries the granted set of every
// principal and builds the policy sets our engine evaluates requests
// against, with conditions read permissively (see Permissive), since the
// usage index keeps no request context.
//
// It imports analyzer/catalog, analyzer/policy and analyzer/iam, and store
// for the snapshot record types; the store is reached through Store.
package model

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/policy"
	"github.com/iamd/iamd/store"
)

// Store is what Load needs of the store (store.DB implements it).
type Store interface {
	Snapshots(ctx context.Context, accountID string) ([]store.SnapshotInfo, error)
	Snapshot(ctx context.Context, accountID string, taken time.Time) (store.Snapshot, error)
}

// ErrNoModel is returned by Load when no account has a snapshot.
var ErrNoModel = errors.New("no IAM model")

// SourceStore is Model.Source for a snapshot read from the store.
const SourceStore = "store"

// Model is one account's IAM model at one time. It is safe for
// concurrent use once built.
type Model struct {
	Account *iam.Account
	Org     *iam.Org // nil: no organization policies
	// Taken is when the snapshot was taken (zero for a file without it).
	Taken time.Time
	// Source is SourceStore or the file the model was read from.
	Source string

	granted map[string]*iam.GrantedSet // users, roles and root, by ARN
	// granter computes sets for suggested policies; it is not safe for
	// concurrent use, hence granterMu.
	granter   *iam.Granter
	granterMu sync.Mutex
	// permissives caches Permissive per policy (*policy.Policy → *policy.Policy).
	permissives sync.Map
}

// New builds a Model and the granted set of every user, role and the
// root user.
func New(cat *catalog.Catalog, acct *iam.Account, org *iam.Org, source string) (*Model, error) {
	g, err := iam.NewGranter(cat, acct, org)
	if err != nil {
		return nil, fmt.Errorf("model of %s: %w", acct.ID, err)
	}
	m := &Model{Account: acct, Org: org, Taken: acct.Taken, Source: source, granted: map[string]*iam.GrantedSet{}, granter: g}
	for _, p := range acct.Principals {
		if p.Kind != iam.KindGroup {
			m.granted[p.ARN] = g.Granted(p)
		}
	}
	return m, nil
}

// Granted returns the granted set of a user, role or the root user.
func (m *Model) Granted(arn string) (*iam.GrantedSet, bool) {
	g, ok := m.granted[arn]
	return g, ok
}

// GrantedWith returns the granted set p would have with identity as all
// of its identity-based policies (iam.Granter.GrantedWith).
func (m *Model) GrantedWith(p *iam.Principal, identity []*policy.Policy) *iam.GrantedSet {
	m.granterMu.Lock()
	defer m.granterMu.Unlock()
	return m.granter.GrantedWith(p, identity)
}

// Name says which model this is, for reports: "store snapshot of
// 111122223333 taken 2026-11-01T00:00:00Z" or the file name.
func (m *Model) Name() string {
	if m.Source == SourceStore {
		return fmt.Sprintf("store snapshot of %s taken %s", m.Account.ID, m.Taken.UTC().Format(time.RFC3339))
	}
	return m.Source
}

// Timeline is one account's models, oldest first.
type Timeline struct {
	AccountID string
	Models    []*Model
}

// At returns the model in force on the UTC day starting at d: the newest
// one taken before that day ends, so a grant made during the day counts
// for the day's calls; days before the first model are judged by the
// first (there is nothing older to go by).
func (t *Timeline) At(d time.Time) *Model {
	end := d.Add(24 * time.Hour)
	i := sort.Search(len(t.Models), func(i int) bool { return !t.Models[i].Taken.Before(end) })
	if i == 0 {
		return t.Models[0]
	}
	return t.Models[i-1]
}

// Current returns the newest model: the one in force at the window's end.
func (t *Timeline) Current() *Model { return t.Models[len(t.Models)-1] }

// Accounts holds the timelines of the accounts that have a model.
type Accounts struct {
	timelines map[string]*Timeline
	// File is set when one file stands for the whole window.
	File string
}

// Timeline returns the account's timeline; false when it has no model.
func (a *Accounts) Timeline(accountID string) (*Timeline, bool) {
	if a == nil {
		return nil, false
	}
	t, ok := a.timelines[accountID]
	return t, ok
}

// IDs returns the accounts with a model, sorted.
func (a *Accounts) IDs() []string {
	if a == nil {
		return nil
	}
	out := make([]string, 0, len(a.timelines))
	for id := range a.timelines {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Len is the number of accounts with a model.
func (a *Accounts) Len() int {
	if a == nil {
		return 0
	}
	return len(a.timelines)
}

// Each calls fn for every model of every account, accounts sorted, models
// oldest first.
func (a *Accounts) Each(fn func(*Model)) {
	for _, id := range a.IDs() {
		for _, m := range a.timelines[id].Models {
			fn(m)
		}
	}
}

// FromAccount makes one model, read from source (a file), the model in
// force over the whole window for its account.
func FromAccount(cat *catalog.Catalog, acct *iam.Account, org *iam.Org, source string) (*Accounts, error) {
	if acct.ID == "" {
		return nil, fmt.Errorf("model %s: no account id: no ARN in the file names an account", source)
	}
	m, err := New(cat, acct, org, source)
	if err != nil {
		return nil, err
	}
	return &Accounts{File: source, timelines: map[string]*Timeline{acct.ID: {AccountID: acct.ID, Models: []*Model{m}}}}, nil
}

// Load reads, for each account, the stored snapshots that matter for the
// window [start, end]: the newest one taken at or before start (in force
// when the window opens) and every later one taken up to end. An account
// whose snapshots are all newer than end gets its oldest. Accounts
// without snapshots are left out; when none has one, Load returns
// ErrNoModel.
func Load(ctx context.Context, s Store, cat *catalog.Catalog, accounts []string, org *iam.Org, start, end time.Time) (*Accounts, error) {
	out := &Accounts{timelines: map[string]*Timeline{}}
	for _, id := range accounts {
		infos, err := s.Snapshots(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("list snapshots of %s: %w", id, err)
		}
		if len(infos) == 0 {
			continue
		}
		var pick []store.SnapshotInfo
		for i, in := range infos {
			switch {
			case in.Taken.After(end):
			case !in.Taken.After(start) && i+1 < len(infos) && !infos[i+1].Taken.After(start):
				// a newer one was also in force before the window opened
			default:
				pick = append(pick, in)
			}
		}
		if len(pick) == 0 {
			pick = infos[:1]
		}
		tl := &Timeline{AccountID: id}
		for _, in := range pick {
			snap, err := s.Snapshot(ctx, id, in.Taken)
			if err != nil {
				return nil, err
			}
			acct, err := iam.Parse(snap.Data, iam.LoadOptions{AccountID: id})
			if err != nil {
				return nil, fmt.Errorf("stored snapshot of %s taken %s: %w", id, in.Taken.Format(time.RFC3339), err)
			}
			// The store's key is the time of record for this snapshot.
			acct.Taken = in.Taken
			m, err := New(cat, acct, org, SourceStore)
			if err != nil {
				return nil, err
			}
			tl.Models = append(tl.Models, m)
		}
		out.timelines[id] = tl
	}
	if len(out.timelines) == 0 {
		return nil, fmt.Errorf("%w: the store holds no IAM snapshot of %s: add one with `iamd snapshot save --iam FILE` (the JSON of `aws iam get-account-authorization-details`) or `--live`, or pass --iam FILE",
			ErrNoModel, accountList(accounts))
	}
	return out, nil
}

func accountList(ids []string) string {
	switch len(ids) {
	case 0:
		return "any account (the store has no activity either)"
	case 1:
		return "account " + ids[0]
	}
	if len(ids) > 5 {
		return "accounts " + strings.Join(ids[:5], ", ") + fmt.Sprintf(" and %d more", len(ids)-5)
	}
	return "accounts " + strings.Join(ids, ", ")
}

// AccountOf returns the account of a principal ARN ("" if none).
func AccountOf(arn string) string { return iam.AccountOf(arn) }

// Principal returns the user, role or root user with the given ARN.
func (m *Model) Principal(arn string) (*iam.Principal, bool) {
	p, ok := m.Account.Principal(arn)
	if !ok || p.Kind == iam.KindGroup {
		return nil, false
	}
	return p, true
}
