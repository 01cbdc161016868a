// Package golden reads everything a store answers into one comparable
// value, Dump, and keeps it with what was written in a File: the
// expected answers of the small stores of each released schema version
// under store/testdata, written by store/internal/genstore and checked by
// the store's tests after migrating a copy. It imports only store.
package golden

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/iamd/iamd/store"
)

// File is a testdata store's golden file: what was written into it and
// what every query must answer.
type File struct {
	// Version is the schema version the store was written with.
	Version int `json:"version"`
	// Writer says how the store was written.
	Writer string `json:"writer"`
	Probe  Probe  `json:"probe"`
	// Batches are the writes, in order: writing them again must count
	// nothing new.
	Batches []store.Batch `json:"batches"`
	Want    Dump          `json:"want"`
}

// Probe is what Take asks beyond what the store lists by itself.
type Probe struct {
	// Now is the clock (Options.Now) the answers hold at.
	Now        time.Time `json:"now"`
	Accounts   []string  `json:"accounts"`    // whose snapshots to list
	StateKinds []string  `json:"state_kinds"` // whose states to list
	KeyIDs     []string  `json:"key_ids"`     // access keys to look up one by one
	Seen       []Event   `json:"seen"`        // events to ask Seen about
	Raw        []string  `json:"raw"`         // event IDs to ask Raw about
}

// Event names an event by ID and time.
type Event struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// Dump is what a store answers, query by query, in each query's order.
type Dump struct {
	Principals []string     `json:"principals"`
	Facts      []store.Fact `json:"facts"`
	DayCounts  []DayCounts  `json:"day_counts"`
	// Actions and SignIns came with schema version 3: golden files of
	// earlier versions have none (see MigratedActions).
	Actions          []store.ActionUsage       `json:"actions,omitempty"`
	SignIns          []store.ConsoleSignIns    `json:"sign_ins,omitempty"`
	KeysOf           []KeysOf                  `json:"keys_of"`
	KeyUsage         []KeyUsage                `json:"key_usage"`
	Sessions         []store.PrincipalSessions `json:"sessions"`
	CrossAccount     []store.CrossAccount      `json:"cross_account"`
	Checkpoints      []store.Checkpoint        `json:"checkpoints"`
	Quarantine       []store.Quarantined       `json:"quarantine"`
	QuarantineCounts map[string]uint64         `json:"quarantine_counts"`
	Snapshots        []Snapshot                `json:"snapshots"`
	States           []store.State             `json:"states"`
	Seen             []Seen                    `json:"seen"`
	Raw              []Raw                     `json:"raw"`
}

// DayCounts are the per-day counts of one principal × action.
type DayCounts struct {
	Principal string           `json:"principal"`
	Action    string           `json:"action"`
	Days      []store.DayCount `json:"days"`
}

// KeysOf are the access keys of one principal.
type KeysOf struct {
	Principal string           `json:"principal"`
	Keys      []store.KeyUsage `json:"keys"`
}

// KeyUsage is one KeyUsage look-up.
type KeyUsage struct {
	ID    string          `json:"id"`
	Found bool            `json:"found"`
	Usage *store.KeyUsage `json:"usage,omitempty"`
}

// Snapshot is one stored snapshot with a digest of its data.
type Snapshot struct {
	AccountID string    `json:"account_id"`
	Taken     time.Time `json:"taken"`
	SHA256    string    `json:"sha256"`
}

// Seen is one Seen answer.
type Seen struct {
	Event
	Seen bool `json:"seen"`
}

// Raw is one Raw answer.
type Raw struct {
	ID    string `json:"id"`
	Found bool   `json:"found"`
	Raw   []byte `json:"raw,omitempty"`
}

// Take asks db every query: the facts and, per principal, its day counts
// (per action of its facts), action totals, console sign-ins, keys,
// sessions and cross-account calls, then checkpoints, quarantine,
// snapshots and states, and p's look-ups.
func Take(ctx context.Context, db *store.DB, p Probe) (Dump, error) {
	var d Dump
	var err error
	if d.Principals, err = db.Principals(ctx); err != nil {
		return d, err
	}
	if d.Facts, err = db.Facts(ctx, store.FactQuery{}); err != nil {
		return d, err
	}
	for _, f := range d.Facts {
		if n := len(d.DayCounts); n > 0 && d.DayCounts[n-1].Principal == f.Principal && d.DayCounts[n-1].Action == f.Action {
			continue
		}
		days, err := db.DayCounts(ctx, f.Principal, f.Action)
		if err != nil {
			return d, err
		}
		d.DayCounts = append(d.DayCounts, DayCounts{Principal: f.Principal, Action: f.Action, Days: days})
	}
	err = db.EachAction(ctx, func(a store.ActionUsage) error {
		d.Actions = append(d.Actions, a)
		return nil
	})
	if err != nil {
		return d, err
	}
	for _, pr := range d.Principals {
		if s, ok, err := db.ConsoleSignIns(ctx, pr); err != nil {
			return d, err
		} else if ok {
			d.SignIns = append(d.SignIns, s)
		}
		keys, err := db.KeysOf(ctx, pr)
		if err != nil {
			return d, err
		}
		if len(keys) > 0 {
			d.KeysOf = append(d.KeysOf, KeysOf{Principal: pr, Keys: keys})
		}
		if s, ok, err := db.Sessions(ctx, pr); err != nil {
			return d, err
		} else if ok {
			d.Sessions = append(d.Sessions, s)
		}
		if c, ok, err := db.CrossAccount(ctx, pr); err != nil {
			return d, err
		} else if ok {
			d.CrossAccount = append(d.CrossAccount, c)
		}
	}
	for _, id := range p.KeyIDs {
		k, ok, err := db.KeyUsage(ctx, id)
		if err != nil {
			return d, err
		}
		ku := KeyUsage{ID: id, Found: ok}
		if ok {
			ku.Usage = &k
		}
		d.KeyUsage = append(d.KeyUsage, ku)
	}
	if d.Checkpoints, err = db.Checkpoints(ctx, ""); err != nil {
		return d, err
	}
	if d.Quarantine, err = db.Quarantine(ctx, 0); err != nil {
		return d, err
	}
	if d.QuarantineCounts, err = db.QuarantineCounts(ctx); err != nil {
		return d, err
	}
	for _, acct := range p.Accounts {
		infos, err := db.Snapshots(ctx, acct)
		if err != nil {
			return d, err
		}
		for _, in := range infos {
			s, err := db.Snapshot(ctx, acct, in.Taken)
			if err != nil {
				return d, err
			}
			sum := sha256.Sum256(s.Data)
			d.Snapshots = append(d.Snapshots, Snapshot{AccountID: acct, Taken: in.Taken, SHA256: hex.EncodeToString(sum[:])})
		}
	}
	for _, kind := range p.StateKinds {
		states, err := db.States(ctx, kind)
		if err != nil {
			return d, err
		}
		d.States = append(d.States, states...)
	}
	for _, e := range p.Seen {
		seen, err := db.Seen(ctx, e.ID, e.Time)
		if err != nil {
			return d, err
		}
		d.Seen = append(d.Seen, Seen{Event: e, Seen: seen})
	}
	for _, id := range p.Raw {
		raw, ok, err := db.Raw(ctx, id)
		if err != nil {
			return d, err
		}
		d.Raw = append(d.Raw, Raw{ID: id, Found: ok, Raw: raw})
	}
	return d, nil
}

// Read reads a golden file.
func Read(path string) (File, error) {
	var f File
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("read %s: %w", path, err)
	}
	return f, nil
}

// Write writes f as indented JSON.
func Write(path string, f File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Diff compares got with want as JSON and returns the first lines that
// differ, "" when they are the same.
func Diff(got, want Dump) (string, error) {
	g, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		return "", err
	}
	w, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		return "", err
	}
	if slices.Equal(g, w) {
		return "", nil
	}
	gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			lo := max(0, i-3)
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s\ncontext (want):\n%s", i+1, a, b, strings.Join(wl[lo:min(len(wl), i+3)], "\n")), nil
		}
	}
	return "", nil
}

// MigratedActions are the action totals the migration to schema version
// 3 builds from what an older store answered (its facts and per-day
// counts): the calls are the per-day counts summed, first and last the
// facts' earliest and latest, the last refusal the last call of the
// latest fact with refusals (older stores kept no time of it), and the
// top lists the facts sorted by count, then resource.
func MigratedActions(d Dump) []store.ActionUsage {
	var out []store.ActionUsage
	for _, f := range d.Facts {
		n := len(out)
		if n == 0 || out[n-1].Principal != f.Principal || out[n-1].Action != f.Action {
			out = append(out, store.ActionUsage{Principal: f.Principal, Action: f.Action, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen})
			n++
			for _, dc := range d.DayCounts {
				if dc.Principal == f.Principal && dc.Action == f.Action {
					for _, day := range dc.Days {
						out[n-1].Allowed += day.Allowed
						out[n-1].Denied += day.Denied
					}
				}
			}
		}
		a := &out[n-1]
		if f.FirstSeen.Before(a.FirstSeen) {
			a.FirstSeen = f.FirstSeen
		}
		if f.LastSeen.After(a.LastSeen) {
			a.LastSeen = f.LastSeen
		}
		a.Resources++
		if f.Allowed > 0 {
			a.AllowedResources++
			a.TopAllowed = append(a.TopAllowed, store.ResourceCount{Resource: f.Resource, Calls: f.Allowed, LastSeen: f.LastSeen})
		}
		if f.Denied > 0 {
			a.TopDenied = append(a.TopDenied, store.ResourceCount{Resource: f.Resource, Calls: f.Denied, LastSeen: f.LastSeen})
			if f.LastSeen.After(a.LastDenied) {
				a.LastDenied = f.LastSeen
			}
		}
	}
	for i := range out {
		out[i].TopAllowed = Top(out[i].TopAllowed)
		out[i].TopDenied = Top(out[i].TopDenied)
	}
	return out
}

// Top sorts a resource list by calls, most first, then by resource, and
// keeps store.MaxTopResources of it.
func Top(list []store.ResourceCount) []store.ResourceCount {
	slices.SortFunc(list, func(a, b store.ResourceCount) int {
		if a.Calls != b.Calls {
			return cmp.Compare(b.Calls, a.Calls)
		}
		return strings.Compare(a.Resource, b.Resource)
	})
	return list[:min(len(list), store.MaxTopResources)]
}
