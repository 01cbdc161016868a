package report

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/store"
)

// Store is what a report needs of the store (store.DB implements it).
type Store interface {
	usage.Store
	model.Store
	Principals(ctx context.Context) ([]string, error)
	EachAction(ctx context.Context, fn func(store.ActionUsage) error) error
}

// DefaultWindow is the tracking window's default length.
const DefaultWindow = "90d"

// ScopeOptions choose what to analyse.
type ScopeOptions struct {
	Catalog *catalog.Catalog
	// Models, when set, are used instead of the stored snapshots (a
	// file given with --iam).
	Models *model.Accounts
	// Org is the organization layer applied to stored snapshots.
	Org *iam.Org
	// Window is the window's length (usage.ParseLength); default 90d.
	Window string
	// At is the window's end; zero: the newest call in the store (Now
	// when the store has none).
	At time.Time
	// Now is the clock; required only when the store may be empty.
	Now func() time.Time
	// Principals limits the analysis to these ARNs; nil: every principal
	// with activity or in a model.
	Principals []string
	// RequireModel makes NewScope fail with model.ErrNoModel when neither
	// Models nor a stored snapshot gives one (report and unused need one;
	// suggest can do without).
	RequireModel bool
}

// Scope is one analysis's window, models and principals.
type Scope struct {
	Window     usage.Window
	Models     *model.Accounts // nil when there is no model at all
	Activity   *Activity
	Principals []string
}

// NewScope reads the store's activity, fixes the window and loads the
// models in force during it.
func NewScope(ctx context.Context, s Store, o ScopeOptions) (*Scope, error) {
	if o.Catalog == nil {
		return nil, errors.New("report scope: catalog is required")
	}
	act, err := ReadActivity(ctx, s, o.Catalog)
	if err != nil {
		return nil, err
	}
	end := o.At
	switch {
	case !end.IsZero():
	case !act.Newest.IsZero():
		end = act.Newest
	case o.Now != nil:
		end = o.Now()
	default:
		end = time.Now()
	}
	length := o.Window
	if length == "" {
		length = DefaultWindow
	}
	w, err := usage.NewWindow(end, length)
	if err != nil {
		return nil, err
	}
	sc := &Scope{Window: w, Activity: act, Models: o.Models}
	if sc.Models == nil {
		accounts := accountsOf(act.Principals)
		for _, p := range o.Principals {
			accounts = appendAccount(accounts, iam.AccountOf(p))
		}
		sc.Models, err = model.Load(ctx, s, o.Catalog, accounts, o.Org, w.Start, w.End)
		switch {
		case errors.Is(err, model.ErrNoModel) && !o.RequireModel:
			sc.Models = nil
		case err != nil:
			return nil, err
		}
	}
	sc.Principals = o.Principals
	if sc.Principals == nil {
		sc.Principals = allPrincipals(act.Principals, sc.Models)
	}
	return sc, nil
}

func accountsOf(principals []string) []string {
	var out []string
	for _, p := range principals {
		out = appendAccount(out, iam.AccountOf(p))
	}
	sort.Strings(out)
	return out
}

func appendAccount(list []string, id string) []string {
	if id == "" {
		return list
	}
	for _, x := range list {
		if x == id {
			return list
		}
	}
	return append(list, id)
}

// allPrincipals is every principal with activity and every user, role
// and root user of the models, sorted.
func allPrincipals(active []string, ms *model.Accounts) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(active))
	for _, p := range active {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if ms != nil {
		for _, id := range ms.IDs() {
			tl, _ := ms.Timeline(id)
			for _, p := range tl.Current().Account.Principals {
				if p.Kind != iam.KindGroup && !seen[p.ARN] {
					seen[p.ARN] = true
					out = append(out, p.ARN)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// Timeline returns the timeline of a principal's account (nil: none).
func (sc *Scope) Timeline(principal string) *model.Timeline {
	tl, ok := sc.Models.Timeline(iam.AccountOf(principal))
	if !ok {
		return nil
	}
	return tl
}

// Activity is what one pass over the principal × action totals tells
// before any principal is analysed: where activity ends, who was active,
// and the newest call each account's principals made of the kinds
// CloudTrail logs only as data events. It costs one read of every
// principal × action (not of every fact, which grow with the resources
// touched, nor of every day count, which grow with the days of
// activity).
type Activity struct {
	Newest     time.Time // the newest call of any principal; zero: none
	Principals []string  // with at least one counted call, sorted
	dataLast   map[[2]string]time.Time
	last       map[string]time.Time // principal → its newest call
}

// LastDay returns the time of principal's newest call, inside the window
// or not; zero when never. Calls that need no permission leave no fact
// and are not counted.
func (a *Activity) LastDay(principal string) time.Time { return a.last[principal] }

// ReadActivity reads the store's activity.
func ReadActivity(ctx context.Context, s Store, cat *catalog.Catalog) (*Activity, error) {
	a := &Activity{dataLast: map[[2]string]time.Time{}, last: map[string]time.Time{}}
	principals, err := s.Principals(ctx)
	if err != nil {
		return nil, fmt.Errorf("read store activity: %w", err)
	}
	a.Principals = principals
	groups := map[string]string{} // action → data group ("" none)
	var cur string                // facts come by principal: account of cur
	var curAcct string
	err = s.EachAction(ctx, func(t store.ActionUsage) error {
		if t.LastSeen.After(a.Newest) {
			a.Newest = t.LastSeen
		}
		if t.Principal != cur {
			cur, curAcct = t.Principal, iam.AccountOf(t.Principal)
		}
		if t.LastSeen.After(a.last[cur]) {
			a.last[cur] = t.LastSeen
		}
		g, ok := groups[t.Action]
		if !ok {
			g, _ = DataGroup(cat, t.Action)
			groups[t.Action] = g
		}
		if g != "" {
			k := [2]string{curAcct, g}
			if t.LastSeen.After(a.dataLast[k]) {
				a.dataLast[k] = t.LastSeen
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read store activity: %w", err)
	}
	return a, nil
}

// DataSeen returns whether the account's principals made calls of a
// data-event group inside w: if none did, the account's trail does not
// log those data events (Unobservable).
func (a *Activity) DataSeen(account string, w usage.Window) func(group string) bool {
	return func(group string) bool {
		t, ok := a.dataLast[[2]string{account, group}]
		return ok && !t.Before(w.Start)
	}
}

// Run analyses every principal of the scope, reading usage from s with
// workers goroutines (0: GOMAXPROCS), and returns the report in
// principal order.
func (an *Analyser) Run(ctx context.Context, s usage.Store, sc *Scope, workers int) (*Report, error) {
	r := &Report{Window: sc.Window, Models: []ModelRef{}, Principals: make([]PrincipalReport, len(sc.Principals))}
	if sc.Models != nil {
		sc.Models.Each(func(m *model.Model) {
			r.Models = append(r.Models, ModelRef{Account: m.Account.ID, Taken: m.Taken, Source: m.Source})
		})
	}
	missing := map[string]bool{}
	for _, p := range sc.Principals {
		if id := iam.AccountOf(p); sc.Timeline(p) == nil && !missing[id] {
			missing[id] = true
			r.AccountsWithoutModel = append(r.AccountsWithoutModel, id)
		}
	}
	sort.Strings(r.AccountsWithoutModel)
	err := forEach(ctx, len(sc.Principals), workers, func(ctx context.Context, i int) error {
		pr, err := an.Analyse(ctx, s, sc, sc.Principals[i])
		if err != nil {
			return err
		}
		r.Principals[i] = pr
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Analyse reads one principal's usage in the scope's window and
// analyses it. It reads each action's totals (usage.Summary), and every
// fact only of the actions whose grants name resources or that today's
// model does not grant everywhere (NeedsResources), so that a report
// costs what the principals' actions cost, not what their resources do.
func (an *Analyser) Analyse(ctx context.Context, s usage.Store, sc *Scope, principal string) (PrincipalReport, error) {
	tl := sc.Timeline(principal)
	u, err := usage.Summary(ctx, s, principal, sc.Window, NeedsDays(tl), an.top)
	if err != nil {
		return PrincipalReport{}, err
	}
	if err := u.Complete(ctx, s, NeedsResources(u, tl)); err != nil {
		return PrincipalReport{}, err
	}
	return an.Principal(u, tl, sc.Activity.DataSeen(iam.AccountOf(principal), sc.Window)), nil
}

// NeedsDays reports whether a principal's calls must be judged day by day:
// when more than one model of its account is in force during the window.
func NeedsDays(tl *model.Timeline) bool {
	return tl != nil && len(tl.Models) > 1
}

// forEach runs fn(0…n-1) on workers goroutines (0: GOMAXPROCS) and
// returns the first error, after which the others stop early.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(n, 1))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
