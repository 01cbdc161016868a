package evidence

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/store"
)

var _ Store = (*store.DB)(nil)

var t0 = time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)

const (
	root  = "arn:aws:iam::111122223333:root"
	alice = "arn:aws:iam::111122223333:user/alice"
	bob   = "arn:aws:iam::111122223333:user/bob"
	carol = "arn:aws:iam::111122223333:user/carol"
	admin = "arn:aws:iam::111122223333:role/Admins"
)

type trail struct{ evs []store.Event }

func (tr *trail) call(who, key, ip, ua, action, resource string, denied bool, at time.Time) {
	e := store.Event{ID: fmt.Sprint(len(tr.evs)), Time: at, Principal: who, AccessKeyID: key, SourceIP: ip, UserAgent: ua,
		Uses: []store.Use{{Action: action, Resource: resource}}}
	if denied {
		e.Outcome = store.OutcomeDenied
	}
	tr.evs = append(tr.evs, e)
}

func (tr *trail) signIn(who, typ string, out store.SignIn, mfa bool, ip string, at time.Time) {
	tr.evs = append(tr.evs, store.Event{ID: fmt.Sprint(len(tr.evs)), Time: at, Principal: who, PrincipalType: typ, SourceIP: ip,
		EventSource: "signin.amazonaws.com", EventName: "ConsoleLogin", SignIn: out, MFAUsed: mfa})
}

func audit(t *testing.T, tr *trail) []string {
	t.Helper()
	fs := auditFindings(t, tr)
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule+" "+f.Principal[strings.LastIndexByte(f.Principal, ':')+1:]+" "+string(f.Severity)+": "+strings.Join(f.Evidence, " | "))
	}
	return got
}

func auditFindings(t *testing.T, tr *trail) []iam.Finding {
	t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Write(context.Background(), &store.Batch{Events: tr.evs}); err != nil {
		t.Fatal(err)
	}
	sc, err := report.NewScope(context.Background(), db, report.ScopeOptions{Catalog: cat, Window: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	an, _ := report.NewAnalyser(cat, 0)
	r, err := an.Run(context.Background(), db, sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Audit(context.Background(), db, r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// rules reduces findings to "rule principal severity".
func rules(lines []string) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l[:strings.Index(l, ":")])
	}
	return out
}

func find(lines []string, prefix string) string {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func TestAudit(t *testing.T) {
	tr := &trail{}
	tr.call(root, "ASIAROOT", "198.51.100.7", "console", "s3:ListAllMyBuckets", "*", false, t0)
	// alice: her key in use from her usual address since before the
	// window (30 days ending at t0+5h), and once from elsewhere inside it.
	for i := range 200 {
		tr.call(alice, "AKIAALICE", "203.0.113.5", "aws-cli", "s3:ListAllMyBuckets", "*", false, t0.Add(-40*24*time.Hour+time.Duration(i)*5*time.Hour))
	}
	tr.call(alice, "AKIAALICE", "192.0.2.66", "aws-cli", "s3:ListAllMyBuckets", "*", false, t0.Add(5*time.Hour))
	// bob tries to escalate and is refused; his key is new in the window,
	// so its second address is no change from a history.
	tr.call(bob, "AKIABOB", "203.0.113.9", "sdk", "iam:AttachUserPolicy", "arn:aws:iam::111122223333:user/bob", true, t0)
	tr.call(bob, "AKIABOB", "203.0.113.10", "sdk", "iam:AttachUserPolicy", "arn:aws:iam::111122223333:user/bob", true, t0.Add(time.Hour))
	got := audit(t, tr)
	want := []string{"CT001 root high", "CT003 user/alice medium", "CT004 user/bob high"}
	if !slices.Equal(rules(got), want) {
		t.Fatalf("findings %q, want %q", got, want)
	}
	if ev := got[0]; !strings.Contains(ev, "198.51.100.7") || !strings.Contains(ev, "1 calls in the window") {
		t.Errorf("root evidence %q", ev)
	}
	if ev := got[1]; !strings.Contains(ev, `"192.0.2.66" at 2026-10-01T14:00:00Z`) || !strings.Contains(ev, "1 of 201") || !strings.Contains(ev, `"203.0.113.5" (since 2026-08-22T09:00:00Z)`) {
		t.Errorf("new source evidence %q", ev)
	}
	if ev := got[2]; !strings.Contains(ev, "refused 2 times") || !strings.Contains(ev, "AttachUserPolicy") {
		t.Errorf("escalation evidence %q", ev)
	}
}

// Console sign-ins without MFA in the window: a user's (high), the root
// user's (critical, and the root user counts as used even without a
// call); not a federated role's, whose MFA is the identity provider's,
// nor one outside the window.
func TestAuditSignIns(t *testing.T) {
	tr := &trail{}
	tr.call(bob, "AKIABOB", "203.0.113.9", "sdk", "s3:ListAllMyBuckets", "*", false, t0.Add(2*time.Hour))
	tr.signIn(alice, "IAMUser", store.SignInSuccess, true, "192.0.2.1", t0)
	tr.signIn(alice, "IAMUser", store.SignInFailure, false, "198.51.100.99", t0.Add(time.Hour))
	tr.signIn(alice, "IAMUser", store.SignInSuccess, false, "192.0.2.2", t0.Add(90*time.Minute))
	tr.signIn(root, "Root", store.SignInSuccess, false, "192.0.2.3", t0.Add(30*time.Minute))
	tr.signIn(admin, "AssumedRole", store.SignInSuccess, false, "192.0.2.4", t0.Add(40*time.Minute))
	tr.signIn(carol, "IAMUser", store.SignInSuccess, false, "192.0.2.5", t0.Add(-60*24*time.Hour))
	tr.signIn(carol, "IAMUser", store.SignInSuccess, true, "192.0.2.5", t0.Add(-time.Hour))
	got := audit(t, tr)
	want := []string{"CT001 root high", "CT002 root critical", "CT002 user/alice high"}
	if !slices.Equal(rules(got), want) {
		t.Fatalf("findings %q, want %q", got, want)
	}
	if ev := find(got, "CT001 root"); !strings.Contains(ev, "signed in to the console, last 2026-10-01T09:30:00Z from 192.0.2.3") || strings.Contains(ev, "calls in the window") {
		t.Errorf("root used evidence %q", ev)
	}
	ev := find(got, "CT002 user/alice")
	for _, w := range []string{"without MFA, last 2026-10-01T10:30:00Z", "1 of 2 password sign-ins since 2026-10-01T09:00:00Z", "192.0.2.2 (1)", "1 failed sign-ins"} {
		if !strings.Contains(ev, w) {
			t.Errorf("alice's evidence %q lacks %q", ev, w)
		}
	}
}

// A key's values recorded before first sightings were kept (unknown) are
// judged by their share of the calls; a value of a full list is not
// judged new, since the list may have dropped it once.
func TestUnusualSourcesUnknownAndFull(t *testing.T) {
	w, _ := usage.NewWindow(t0, "30d")
	r := &report.Report{Window: w}
	old := t0.Add(-100 * 24 * time.Hour)
	k := store.KeyUsage{AccessKeyID: "AKIAALICE", FirstSeen: old, LastSeen: t0, Calls: 1001,
		SourceIPs: []store.Seen{
			{Value: "192.0.2.66", LastSeen: t0, Count: 1},
			{Value: "203.0.113.5", LastSeen: t0.Add(-time.Hour), Count: 1000},
		},
		UserAgents: []store.Seen{{Value: "aws-cli", FirstSeen: old, LastSeen: t0, Count: 1001}},
	}
	fs := unusualSources(alice, k, r, Options{RareShare: 0.01, DominantShare: 0.9})
	if len(fs) != 1 || !strings.Contains(strings.Join(fs[0].Evidence, " "), "judged by its share") {
		t.Fatalf("unknown first sightings: %+v, want the rare address by its share", fs)
	}
	var full []store.Seen
	for i := range store.MaxKeySeen {
		full = append(full, store.Seen{Value: fmt.Sprintf("10.0.0.%d", i), FirstSeen: t0.Add(-time.Duration(i) * time.Hour), LastSeen: t0, Count: 10})
	}
	k.SourceIPs = full
	if fs := unusualSources(alice, k, r, Options{RareShare: 0.01, DominantShare: 0.9}); len(fs) != 0 {
		t.Errorf("a full list gave %+v, want nothing judged new", fs)
	}
	k.SourceIPs = full[:store.MaxKeySeen-1]
	if fs := unusualSources(alice, k, r, Options{RareShare: 0.01, DominantShare: 0.9}); len(fs) != store.MaxKeySeen-1 {
		t.Errorf("a list that never filled gave %d findings, want one per value first seen in the window", len(fs))
	}
}
