package evidence

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/store"
)

var _ Store = (*store.DB)(nil)

var t0 = time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)

const (
	root  = "arn:aws:iam::111122223333:root"
	alice = "arn:aws:iam::111122223333:user/alice"
	bob   = "arn:aws:iam::111122223333:user/bob"
)

func TestAudit(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var evs []store.Event
	add := func(who, key, ip, ua, action, resource string, denied bool, at time.Time) {
		e := store.Event{ID: fmt.Sprint(len(evs)), Time: at, Principal: who, AccessKeyID: key, SourceIP: ip, UserAgent: ua,
			Uses: []store.Use{{Action: action, Resource: resource}}}
		if denied {
			e.Outcome = store.OutcomeDenied
		}
		evs = append(evs, e)
	}
	add(root, "ASIAROOT", "198.51.100.7", "console", "s3:ListAllMyBuckets", "*", false, t0)
	// alice: 200 calls from her usual address, 1 from elsewhere.
	for i := range 200 {
		add(alice, "AKIAALICE", "203.0.113.5", "aws-cli", "s3:ListAllMyBuckets", "*", false, t0.Add(time.Duration(i)*time.Minute))
	}
	add(alice, "AKIAALICE", "192.0.2.66", "aws-cli", "s3:ListAllMyBuckets", "*", false, t0.Add(5*time.Hour))
	// bob tries to escalate and is refused; his two addresses share calls.
	add(bob, "AKIABOB", "203.0.113.9", "sdk", "iam:AttachUserPolicy", "arn:aws:iam::111122223333:user/bob", true, t0)
	add(bob, "AKIABOB", "203.0.113.10", "sdk", "iam:AttachUserPolicy", "arn:aws:iam::111122223333:user/bob", true, t0.Add(time.Hour))
	if _, err := db.Write(context.Background(), &store.Batch{Events: evs}); err != nil {
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
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule+" "+f.Principal[strings.LastIndexByte(f.Principal, ':')+1:])
	}
	want := []string{"CT001 root", "CT003 user/alice", "CT004 user/bob"}
	if !slices.Equal(got, want) {
		t.Fatalf("findings %q, want %q\n%+v", got, want, fs)
	}
	if ev := strings.Join(fs[0].Evidence, " | "); !strings.Contains(ev, "198.51.100.7") || !strings.Contains(ev, "1 calls in the window") {
		t.Errorf("root evidence %q", ev)
	}
	if ev := strings.Join(fs[1].Evidence, " | "); !strings.Contains(ev, "192.0.2.66") || !strings.Contains(ev, "1 of 201") {
		t.Errorf("unusual source evidence %q", ev)
	}
	if ev := strings.Join(fs[2].Evidence, " | "); !strings.Contains(ev, "refused 2 times") || !strings.Contains(ev, "AttachUserPolicy") {
		t.Errorf("escalation evidence %q", ev)
	}
}
