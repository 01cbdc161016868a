package report

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/usage"
)

// runWithFacts is Run with every action read from its facts
// (usage.Read), as reports were made before the action totals.
func runWithFacts(t *testing.T, sc *Scope, db usage.Store, an *Analyser) *Report {
	t.Helper()
	r := &Report{Window: sc.Window, Principals: make([]PrincipalReport, len(sc.Principals))}
	for i, p := range sc.Principals {
		tl := sc.Timeline(p)
		u, err := usage.Read(context.Background(), db, p, sc.Window, NeedsDays(tl))
		if err != nil {
			t.Fatal(err)
		}
		r.Principals[i] = an.Principal(u, tl, sc.Activity.DataSeen(iam.AccountOf(p), sc.Window))
	}
	return r
}

// A report read from the action totals (and the facts of the actions
// whose grants name resources) says what one read from every fact says:
// over random calls, windows that hold every call or cut through them,
// one model or two in the window, grants on everything, on some
// resources, or none. Only the time of the last refusal differs: the
// totals know it exactly, the facts only as their last call, so it is
// checked against the calls themselves.
func TestSummaryMatchesFacts(t *testing.T) {
	grants := map[string]string{
		alice: `[{"Sid":"Docs","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::docs/*"},
		         {"Sid":"Read","Effect":"Allow","Action":["ec2:DescribeInstances","kms:Decrypt"],"Resource":"*"}]`,
		ci: `[{"Effect":"Allow","Action":["ec2:DescribeInstances","s3:GetObject","dynamodb:GetItem"],"Resource":"*"}]`,
	}
	actions := []string{"s3:GetObject", "s3:PutObject", "ec2:DescribeInstances", "kms:Decrypt", "dynamodb:GetItem", "iam:CreateUser"}
	checked := 0
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 3))
		var calls []call
		lastDenied := map[[2]string]time.Time{}
		for range 300 {
			c := call{
				at:     t0.Add(time.Duration(r.IntN(40*24*60)) * time.Minute),
				who:    []string{alice, ci, ghost}[r.IntN(3)],
				action: actions[r.IntN(len(actions))],
				denied: r.IntN(8) == 0,
			}
			bucket := []string{"docs", "private"}[r.IntN(2)]
			c.resource = fmt.Sprintf("arn:aws:s3:::%s/%02d", bucket, r.IntN(1+r.IntN(12)))
			if c.denied && c.at.After(lastDenied[[2]string{c.who, c.action}]) {
				lastDenied[[2]string{c.who, c.action}] = c.at
			}
			calls = append(calls, c)
		}
		snaps := map[time.Time][]byte{t0.Add(-5 * day): details(t0.Add(-5*day), grants)}
		if seed%2 == 1 {
			// A second model in the windows: every day is judged by its own.
			g := map[string]string{alice: grants[alice], ci: `[{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}]`}
			snaps[t0.Add(20*day)] = details(t0.Add(20*day), g)
		}
		db := newStore(t, calls, snaps)
		an, err := NewAnalyser(testCat, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			at     time.Time
			length string
		}{{t0.Add(41 * day), "60d"}, {t0.Add(30 * day), "20d"}, {t0.Add(25*day + 7*time.Hour), "240h"}} {
			t.Run(fmt.Sprintf("seed %d at %s %s", seed, w.at.Format("01-02T15"), w.length), func(t *testing.T) {
				sc, err := NewScope(context.Background(), db, ScopeOptions{Catalog: testCat, At: w.at, Window: w.length})
				if err != nil {
					t.Fatal(err)
				}
				got, err := an.Run(context.Background(), db, sc, 2)
				if err != nil {
					t.Fatal(err)
				}
				want := runWithFacts(t, sc, db, an)
				for i := range got.Principals {
					g, f := &got.Principals[i], &want.Principals[i]
					for j := range g.Denied {
						d := &g.Denied[j]
						exact := lastDenied[[2]string{g.Principal, d.Action}]
						if sc.Window.Contains(exact) && !d.LastDenied.Equal(exact) {
							t.Errorf("%s %s: last refusal %v, the calls say %v", g.Principal, d.Action, d.LastDenied, exact)
						}
						if j < len(f.Denied) {
							f.Denied[j].LastDenied = d.LastDenied
						}
					}
					a, _ := json.MarshalIndent(g, "", " ")
					b, _ := json.MarshalIndent(f, "", " ")
					if string(a) != string(b) {
						t.Fatalf("%s from the totals:\n%s\nfrom the facts:\n%s", g.Principal, a, b)
					}
					checked += len(g.Used) + len(g.Denied) + len(g.NotGranted)
				}
			})
		}
	}
	if checked < 100 {
		t.Fatalf("only %d used, denied and not-granted actions compared", checked)
	}
}
