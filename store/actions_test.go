package store

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// recount works out the action totals from the events alone: calls once
// per record and action, and the resources from a recount of the facts,
// sorted for the top lists.
func recount(events []Event) []ActionUsage {
	type res struct {
		allowed, denied uint64
		last            time.Time
	}
	acts := map[[2]string]*ActionUsage{}
	facts := map[[2]string]map[string]*res{}
	for _, e := range events {
		seen := map[string]bool{}
		for _, u := range e.Uses {
			k := [2]string{e.Principal, u.Action}
			if facts[k] == nil {
				facts[k] = map[string]*res{}
				acts[k] = &ActionUsage{Principal: e.Principal, Action: u.Action, FirstSeen: e.Time, LastSeen: e.Time}
			}
			r := facts[k][u.Resource]
			if r == nil {
				r = &res{}
				facts[k][u.Resource] = r
			}
			if !seen[u.Action+"\x00"+u.Resource] {
				seen[u.Action+"\x00"+u.Resource] = true
				if e.Outcome == OutcomeDenied {
					r.denied++
				} else {
					r.allowed++
				}
				r.last = later(r.last, e.Time)
			}
			if seen[u.Action] {
				continue
			}
			seen[u.Action] = true
			a := acts[k]
			a.FirstSeen, a.LastSeen = earlier(a.FirstSeen, e.Time), later(a.LastSeen, e.Time)
			if e.Outcome == OutcomeDenied {
				a.Denied++
				a.LastDenied = later(a.LastDenied, e.Time)
			} else {
				a.Allowed++
			}
		}
	}
	top := func(list []ResourceCount) []ResourceCount {
		slices.SortFunc(list, func(a, b ResourceCount) int {
			if a.Calls != b.Calls {
				return cmp.Compare(b.Calls, a.Calls)
			}
			return strings.Compare(a.Resource, b.Resource)
		})
		return list[:min(len(list), MaxTopResources)]
	}
	var out []ActionUsage
	for k, a := range acts {
		for arn, r := range facts[k] {
			a.Resources++
			if r.allowed > 0 {
				a.AllowedResources++
				a.TopAllowed = append(a.TopAllowed, ResourceCount{Resource: arn, Calls: r.allowed, LastSeen: r.last})
			}
			if r.denied > 0 {
				a.TopDenied = append(a.TopDenied, ResourceCount{Resource: arn, Calls: r.denied, LastSeen: r.last})
			}
		}
		a.TopAllowed, a.TopDenied = top(a.TopAllowed), top(a.TopDenied)
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b ActionUsage) int {
		return cmp.Or(strings.Compare(a.Principal, b.Principal), strings.Compare(a.Action, b.Action))
	})
	return out
}

// Whatever the order of the events and however they fall into batches,
// the action totals Write keeps are those a recount from the events
// gives: the top lists in particular are exact, not an approximation
// that depends on which resource came first.
func TestActionTotalsAnyBatches(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			var events []Event
			for i := range 400 {
				p := []string{alice, bob}[r.IntN(2)]
				at := t0.Add(time.Duration(r.IntN(5000)) * time.Minute)
				var uses []Use
				for range 1 + r.IntN(3) {
					// Skewed: a few objects get most calls, many a few.
					obj := r.IntN(1 + r.IntN(20))
					uses = append(uses, use([]string{"s3:GetObject", "s3:PutObject"}[r.IntN(2)], fmt.Sprintf("arn:aws:s3:::b/%02d", obj)))
				}
				e := ev(fmt.Sprint(i), p, at, uses...)
				if r.IntN(6) == 0 {
					e = denied(e)
				}
				events = append(events, e)
			}
			// Cache on and off: a cached total must be the stored one.
			for _, cache := range []int{0, -1} {
				db, _ := openMem(t, func(o *Options) { o.AggregateCache = cache })
				for rest := events; len(rest) > 0; {
					n := min(len(rest), 1+r.IntN(60))
					mustWrite(t, db, &Batch{Events: rest[:n]})
					rest = rest[n:]
				}
				var got []ActionUsage
				if err := db.EachAction(context.Background(), func(a ActionUsage) error { got = append(got, a); return nil }); err != nil {
					t.Fatal(err)
				}
				want := recount(events)
				if !reflect.DeepEqual(got, want) {
					for i := range min(len(got), len(want)) {
						if !reflect.DeepEqual(got[i], want[i]) {
							t.Fatalf("cache %d: action %d =\n%+v\nwant\n%+v", cache, i, got[i], want[i])
						}
					}
					t.Fatalf("cache %d: %d actions, want %d", cache, len(got), len(want))
				}
				var mine []ActionUsage
				if err := db.EachActionOf(context.Background(), bob, func(a ActionUsage) error { mine = append(mine, a); return nil }); err != nil {
					t.Fatal(err)
				}
				for _, a := range mine {
					if a.Principal != bob {
						t.Fatalf("EachActionOf(bob) gave %s", a.Principal)
					}
				}
				if len(mine) == 0 || len(mine) >= len(got) {
					t.Errorf("EachActionOf(bob) gave %d of %d actions", len(mine), len(got))
				}
			}
		})
	}
}

// Console sign-ins are counted per principal: password sign-ins by MFA,
// federated ones apart (a role's sign-in never counts as without MFA),
// failures, and the addresses of successful ones with their first
// sighting.
func TestConsoleSignIns(t *testing.T) {
	db, _ := openMem(t, nil)
	m := time.Minute
	signIn := func(id, principal, typ string, at time.Time, out SignIn, mfa bool, ip string) Event {
		e := ev(id, principal, at)
		e.PrincipalType, e.SignIn, e.MFAUsed, e.SourceIP = typ, out, mfa, ip
		e.EventSource, e.EventName = "signin.amazonaws.com", "ConsoleLogin"
		return e
	}
	mustWrite(t, db, &Batch{Events: []Event{
		signIn("1", alice, "IAMUser", t0, SignInSuccess, true, "192.0.2.1"),
		signIn("2", alice, "IAMUser", t0.Add(5*m), SignInFailure, false, "203.0.113.9"),
		signIn("3", deploy, "AssumedRole", t0.Add(6*m), SignInSuccess, false, "192.0.2.7"),
	}})
	mustWrite(t, db, &Batch{Events: []Event{
		signIn("4", alice, "IAMUser", t0.Add(10*m), SignInSuccess, false, "192.0.2.2"),
		signIn("5", alice, "IAMUser", t0.Add(-m), SignInSuccess, true, "192.0.2.1"),
		// An API call is no sign-in.
		withKey(ev("6", alice, t0.Add(20*m), use("s3:GetObject", bucketA)), "AKIAALICE", "198.51.100.1", "aws-cli"),
	}})
	ctx := context.Background()
	got, ok, err := db.ConsoleSignIns(ctx, alice)
	if err != nil || !ok {
		t.Fatalf("ConsoleSignIns(alice) = %v, %v", ok, err)
	}
	want := ConsoleSignIns{
		Principal: alice, WithMFA: 2, WithoutMFA: 1, FirstSeen: t0.Add(-m), LastSeen: t0.Add(10 * m), LastWithoutMFA: t0.Add(10 * m),
		Failures: 1, LastFailure: t0.Add(5 * m),
		SourceIPs: []Seen{{"192.0.2.2", t0.Add(10 * m), t0.Add(10 * m), 1}, {"192.0.2.1", t0.Add(-m), t0, 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ConsoleSignIns(alice) =\n%+v\nwant\n%+v", got, want)
	}
	got, _, _ = db.ConsoleSignIns(ctx, deploy)
	if got.Federated != 1 || !got.LastFederated.Equal(t0.Add(6*m)) || got.WithoutMFA != 0 || got.WithMFA != 0 || !got.LastSeen.IsZero() {
		t.Errorf("ConsoleSignIns(deploy) = %+v, want one federated sign-in and no password one", got)
	}
	if _, ok, _ := db.ConsoleSignIns(ctx, bob); ok {
		t.Error("ConsoleSignIns(bob) found")
	}
	st, _ := db.Stats(ctx)
	if st.SignIns != 2 {
		t.Errorf("Stats.SignIns = %d, want 2", st.SignIns)
	}
}

// A Seen entry recorded before schema 3 has no first sighting: merging
// newer sightings into it keeps it unknown, while a new entry starts at
// its first sighting.
func TestMergeSeenKeepsUnknownFirstSeen(t *testing.T) {
	list := []Seen{{Value: "a", LastSeen: t0, Count: 3}}
	list = mergeSeen(list, []Seen{{"a", t0.Add(time.Hour), t0.Add(time.Hour), 1}, {"b", t0.Add(2 * time.Hour), t0.Add(3 * time.Hour), 2}}, 5)
	want := []Seen{{"b", t0.Add(2 * time.Hour), t0.Add(3 * time.Hour), 2}, {"a", time.Time{}, t0.Add(time.Hour), 4}}
	if !reflect.DeepEqual(list, want) {
		t.Errorf("mergeSeen = %+v, want %+v", list, want)
	}
	list = mergeSeen(list, []Seen{{"b", t0, t0, 1}}, 5)
	if !list[0].FirstSeen.Equal(t0) {
		t.Errorf("an earlier sighting of b gave FirstSeen %v, want %v", list[0].FirstSeen, t0)
	}
}
