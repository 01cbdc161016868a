// Package usage reads what one principal did over a time window from the
// usage index: per action the calls allowed and denied, exact to the day
// (from the per-day counts), the resources each action touched (from the
// principal × action × resource facts, or the most used of them from the
// principal × action totals), and who acted inside a role. It is the
// analyzer's reader of usage: report, unused and suggest work on its
// Principal values and never scan the index themselves.
//
// It reaches the store only through the narrow Store interface declared
// here, and imports store for its record types; nothing else of ours.
package usage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iamd/iamd/store"
)

// Store is what Read and Summary need of the usage index (store.DB
// implements it).
type Store interface {
	EachFact(ctx context.Context, q store.FactQuery, fn func(store.Fact) error) error
	EachActionOf(ctx context.Context, principal string, fn func(store.ActionUsage) error) error
	EachDayCountOf(ctx context.Context, principal string, fn func(action string, d store.DayCount) error) error
	Sessions(ctx context.Context, principal string) (store.PrincipalSessions, bool, error)
}

const day = 24 * time.Hour

// Window is the tracking window [Start, End]. The index counts calls per
// UTC day, so a day belongs to the window when any part of it does.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// ErrBadLength is wrapped by ParseLength's errors.
var ErrBadLength = errors.New("bad window length")

// ParseLength reads a window length: whole days ("90d") or a Go
// duration ("36h"). days reports the first form.
func ParseLength(s string) (d time.Duration, days bool, err error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v <= 0 {
			return 0, false, fmt.Errorf("%w %q: want a positive number of days, e.g. 90d", ErrBadLength, s)
		}
		return time.Duration(v) * day, true, nil
	}
	d, err = time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, false, fmt.Errorf("%w %q: want e.g. 90d or 36h", ErrBadLength, s)
	}
	return d, false, nil
}

// NewWindow returns the window of the given length (ParseLength) ending
// at end. A length in days covers that many whole UTC days up to and
// including end's day, since the index counts per day: "90d" ending at
// any time on 1 March starts at midnight 90 days earlier than 2 March.
// A Go duration starts exactly that long before end.
func NewWindow(end time.Time, length string) (Window, error) {
	d, days, err := ParseLength(length)
	if err != nil {
		return Window{}, err
	}
	end = end.UTC()
	if days {
		return Window{Start: end.Truncate(day).Add(day - d), End: end}, nil
	}
	return Window{Start: end.Add(-d), End: end}, nil
}

// HasDay reports whether the UTC day starting at d overlaps the window.
func (w Window) HasDay(d time.Time) bool {
	return d.Add(day).After(w.Start) && !d.After(w.End)
}

// Contains reports whether t is inside the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && !t.After(w.End) }

// Days is the number of UTC days the window touches.
func (w Window) Days() int {
	return int(w.End.Truncate(day).Sub(w.Start.Truncate(day))/day) + 1
}

// Principal is one principal's activity in a window.
type Principal struct {
	ARN    string
	Window Window
	// Actions are the actions called (allowed or denied) in the window,
	// sorted by name.
	Actions []Action
	// Sessions are the role session names and source identities seen
	// inside the principal (the index keeps the latest few, not per
	// window); nil when there are none.
	Sessions *store.PrincipalSessions
}

// Action is one action's calls in the window.
type Action struct {
	Action string // as ingest mapped it, catalog casing
	// Allowed and Denied count the calls in the window.
	Allowed uint64
	Denied  uint64
	// Days are the days of the window with calls, oldest first, when the
	// action was counted from its per-day counts (see Read); nil when
	// its facts counted it.
	Days []store.DayCount
	// First and Last are the first and last call in the window: a
	// fact's exact time where it falls inside the window, else the day.
	First, Last time.Time
	// LastDenied is the last refused call (the day, or a fact's time
	// when that fact holds refused calls only); zero without any.
	LastDenied time.Time
	// Resources are the facts of this action active in the window, by
	// ARN. Their counts cover the fact's whole life: the index keeps
	// per-day counts per action, not per resource. Nil when Partial.
	Resources []Resource
	// Partial says the action was read from its totals (Summary): only
	// its most used resources are known, through TopAllowed and
	// TopDenied; Complete reads the rest.
	Partial bool
	// topAllowed, topDenied and allowedResources stand for Resources
	// while Partial.
	topAllowed, topDenied []Resource
	allowedResources      int
}

// TopAllowed returns the n resources with the most allowed calls, most
// first (ties by ARN), and how many resources had allowed calls. n must
// not exceed the top Summary was given.
func (a *Action) TopAllowed(n int) ([]Resource, int) {
	if a.Partial {
		return a.topAllowed[:min(n, len(a.topAllowed))], a.allowedResources
	}
	rs := ByAllowed(a.Resources)
	return rs[:min(n, len(rs))], len(rs)
}

// TopDenied returns the n resources with the most refused calls, most
// first (ties by ARN); as TopAllowed, n must not exceed Summary's top.
func (a *Action) TopDenied(n int) []Resource {
	if a.Partial {
		return a.topDenied[:min(n, len(a.topDenied))]
	}
	rs := make([]Resource, 0, len(a.Resources))
	for _, r := range a.Resources {
		if r.Denied > 0 {
			rs = append(rs, r)
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Denied > rs[j].Denied })
	return rs[:min(n, len(rs))]
}

// ByAllowed returns the resources with allowed calls, most first; in
// the order of rs (by ARN, as read) among equals.
func ByAllowed(rs []Resource) []Resource {
	out := make([]Resource, 0, len(rs))
	for _, r := range rs {
		if r.Allowed > 0 {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Allowed > out[j].Allowed })
	return out
}

// Resource is one principal × action × resource fact.
type Resource struct {
	ARN         string
	Allowed     uint64
	Denied      uint64
	First, Last time.Time
}

// DeniedOnly reports whether every call on the resource was refused.
func (r Resource) DeniedOnly() bool { return r.Allowed == 0 && r.Denied > 0 }

// Lookup returns the action named a (exact, as stored).
func (p *Principal) Lookup(a string) (*Action, bool) {
	i := sort.Search(len(p.Actions), func(i int) bool { return p.Actions[i].Action >= a })
	if i < len(p.Actions) && p.Actions[i].Action == a {
		return &p.Actions[i], true
	}
	return nil, false
}

// Read returns what principal did in w. A principal without calls in
// the window gives a Principal without Actions.
//
// The facts come first: an action all of whose facts lie inside the
// window is counted from them, exactly (their counts are the window's),
// and costs nothing more. An action with a fact that straddles the
// window's start or end is counted from its per-day counts, as is every
// action when days is set (a caller that judges each day against the
// model in force that day). So the cost follows the facts, not the days
// of activity, unless the window cuts through them.
func Read(ctx context.Context, s Store, principal string, w Window, days bool) (*Principal, error) {
	p := &Principal{ARN: principal, Window: w}
	byDay := map[string]bool{} // actions to count from the day counts
	err := s.EachFact(ctx, store.FactQuery{Principal: principal, Since: w.Start}, func(f store.Fact) error {
		if f.FirstSeen.After(w.End) {
			return nil
		}
		n := len(p.Actions)
		if n == 0 || p.Actions[n-1].Action != f.Action {
			p.Actions = append(p.Actions, Action{Action: f.Action, First: f.FirstSeen, Last: f.LastSeen})
			n++
		}
		a := &p.Actions[n-1]
		a.Resources = append(a.Resources, Resource{ARN: f.Resource, Allowed: f.Allowed, Denied: f.Denied, First: f.FirstSeen, Last: f.LastSeen})
		if days || f.FirstSeen.Before(w.Start) || f.LastSeen.After(w.End) {
			byDay[f.Action] = true
			return nil
		}
		a.Allowed += f.Allowed
		a.Denied += f.Denied
		if f.FirstSeen.Before(a.First) {
			a.First = f.FirstSeen
		}
		if f.LastSeen.After(a.Last) {
			a.Last = f.LastSeen
		}
		if f.Denied > 0 && f.LastSeen.After(a.LastDenied) {
			// The fact's last call, refused or not: the index keeps no
			// separate time of the last refusal.
			a.LastDenied = f.LastSeen
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read facts of %s: %w", principal, err)
	}
	if len(byDay) > 0 {
		if err := readDays(ctx, s, p, w, byDay); err != nil {
			return nil, err
		}
	}
	return p, readSessions(ctx, s, p)
}

// readDays counts the actions of byDay from their per-day counts.
func readDays(ctx context.Context, s Store, p *Principal, w Window, byDay map[string]bool) error {
	idx := map[string]*Action{}
	for i := range p.Actions {
		if a := &p.Actions[i]; byDay[a.Action] {
			a.Allowed, a.Denied, a.Days, a.LastDenied = 0, 0, nil, time.Time{}
			idx[a.Action] = a
		}
	}
	err := s.EachDayCountOf(ctx, p.ARN, func(action string, d store.DayCount) error {
		a := idx[action]
		if a == nil || !w.HasDay(d.Day) {
			return nil
		}
		if len(a.Days) == 0 {
			a.First = d.Day
		}
		a.Allowed += d.Allowed
		a.Denied += d.Denied
		a.Days = append(a.Days, d)
		a.Last = d.Day
		if d.Denied > 0 {
			a.LastDenied = d.Day
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read usage of %s: %w", p.ARN, err)
	}
	// An action whose facts straddle the window but with no day inside it
	// had no call in the window after all.
	kept := p.Actions[:0]
	for _, a := range p.Actions {
		if byDay[a.Action] {
			if len(a.Days) == 0 {
				continue
			}
			refineTimes(&a, w)
		}
		kept = append(kept, a)
	}
	p.Actions = kept
	return nil
}

// refineTimes replaces day-precision first/last times with the facts'
// exact ones where those fall inside the window.
func refineTimes(a *Action, w Window) {
	firstDay, lastDay := a.First, a.Last
	var first, last, lastDenied time.Time
	for _, r := range a.Resources {
		if w.Contains(r.First) && (first.IsZero() || r.First.Before(first)) {
			first = r.First
		}
		if w.Contains(r.Last) && r.Last.After(last) {
			last = r.Last
		}
		if r.DeniedOnly() && w.Contains(r.Last) && r.Last.After(lastDenied) {
			lastDenied = r.Last
		}
	}
	// A fact's time counts only on the day the day counts name: a fact
	// first seen before the window has no exact time inside it.
	if !first.IsZero() && first.Truncate(day).Equal(firstDay) {
		a.First = first
	}
	if !last.IsZero() && last.Truncate(day).Equal(lastDay) {
		a.Last = last
	}
	if !lastDenied.IsZero() && lastDenied.Truncate(day).Equal(a.LastDenied) {
		a.LastDenied = lastDenied
	}
}

// Summary returns what principal did in w as Read does, with the cost
// following the principal's actions rather than the resources they
// touched: an action whose calls all fall inside the window is read from
// its totals (store.ActionUsage), one record however many resources it
// has, exact in its counts and times (a refusal's time included), with
// only its most used resources known (Action.Partial; top is how many
// the caller lists, at most store.MaxTopResources, beyond which Summary
// reads as Read). An action the window cuts through is read from its
// facts and per-day counts, as Read reads every action. With days set,
// every action is counted from its per-day counts. A first or last call
// or last refusal of the totals that falls inside the window, on the day
// the day counts give, is the exact time they know only the day of.
//
// A caller that must know every resource of some actions (to evaluate a
// grant that names resources) asks Complete for them.
func Summary(ctx context.Context, s Store, principal string, w Window, days bool, top int) (*Principal, error) {
	if top > store.MaxTopResources {
		return Read(ctx, s, principal, w, days)
	}
	p := &Principal{ARN: principal, Window: w}
	byDay := map[string]bool{} // actions to count from the day counts
	var cut []int              // actions the window cuts through
	totals := map[string]store.ActionUsage{}
	err := s.EachActionOf(ctx, principal, func(t store.ActionUsage) error {
		if t.LastSeen.Before(w.Start) || t.FirstSeen.After(w.End) {
			return nil
		}
		a := Action{Action: t.Action, First: t.FirstSeen, Last: t.LastSeen}
		totals[t.Action] = t
		if t.FirstSeen.Before(w.Start) || t.LastSeen.After(w.End) {
			cut = append(cut, len(p.Actions))
			byDay[t.Action] = true
			p.Actions = append(p.Actions, a)
			return nil
		}
		a.Allowed, a.Denied, a.LastDenied = t.Allowed, t.Denied, t.LastDenied
		a.Partial, a.allowedResources = true, int(t.AllowedResources)
		for _, r := range t.TopAllowed {
			a.topAllowed = append(a.topAllowed, Resource{ARN: r.Resource, Allowed: r.Calls, Last: r.LastSeen})
		}
		for _, r := range t.TopDenied {
			a.topDenied = append(a.topDenied, Resource{ARN: r.Resource, Denied: r.Calls, Last: r.LastSeen})
		}
		if days {
			byDay[t.Action] = true
		}
		p.Actions = append(p.Actions, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read actions of %s: %w", principal, err)
	}
	for _, i := range cut {
		a := &p.Actions[i]
		a.Resources = []Resource{}
		err := s.EachFact(ctx, store.FactQuery{Principal: principal, Action: a.Action, Since: w.Start}, func(f store.Fact) error {
			if !f.FirstSeen.After(w.End) {
				a.Resources = append(a.Resources, Resource{ARN: f.Resource, Allowed: f.Allowed, Denied: f.Denied, First: f.FirstSeen, Last: f.LastSeen})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read facts of %s: %w", principal, err)
		}
	}
	if len(byDay) > 0 {
		if err := readDays(ctx, s, p, w, byDay); err != nil {
			return nil, err
		}
		// A time of the totals inside the window, on the day the day
		// counts name, is the exact time they only know the day of. (A
		// store migrated from schema 2 has, for older refusals, the last
		// call of a fact with refusals, which may be a later allowed one:
		// the day tells.)
		exact := func(dst *time.Time, t time.Time) {
			if w.Contains(t) && t.Truncate(day).Equal(dst.Truncate(day)) {
				*dst = t
			}
		}
		for i := range p.Actions {
			a := &p.Actions[i]
			if !byDay[a.Action] {
				continue
			}
			t := totals[a.Action]
			exact(&a.First, t.FirstSeen)
			exact(&a.Last, t.LastSeen)
			exact(&a.LastDenied, t.LastDenied)
		}
	}
	return p, readSessions(ctx, s, p)
}

// Complete reads every resource of the named actions that Summary read
// from their totals (Partial), from their facts.
func (p *Principal) Complete(ctx context.Context, s Store, actions []string) error {
	for _, name := range actions {
		a, ok := p.Lookup(name)
		if !ok || !a.Partial {
			continue
		}
		rs := []Resource{}
		err := s.EachFact(ctx, store.FactQuery{Principal: p.ARN, Action: name}, func(f store.Fact) error {
			rs = append(rs, Resource{ARN: f.Resource, Allowed: f.Allowed, Denied: f.Denied, First: f.FirstSeen, Last: f.LastSeen})
			return nil
		})
		if err != nil {
			return fmt.Errorf("read facts of %s: %w", p.ARN, err)
		}
		a.Resources, a.Partial, a.topAllowed, a.topDenied = rs, false, nil, nil
	}
	return nil
}

func readSessions(ctx context.Context, s Store, p *Principal) error {
	ses, found, err := s.Sessions(ctx, p.ARN)
	if err != nil {
		return fmt.Errorf("read sessions of %s: %w", p.ARN, err)
	}
	if found {
		p.Sessions = &ses
	}
	return nil
}
