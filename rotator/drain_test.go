package rotator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/store"
)

// TestDrainOnGeneratedUsage writes generated CloudTrail usage for many
// keys, each with a known last use, source IPs and user agents, into a
// store, and checks every drain decision against that ground truth.
func TestDrainOnGeneratedUsage(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(16, 7))
	ips := []string{"10.0.0.1", "10.0.0.2", "198.51.100.7", "203.0.113.9"}
	agents := []string{"aws-cli/2.15", "boto3/1.34", "terraform/1.9"}
	const drain, overlap = 7 * day, 24 * time.Hour

	type truth struct {
		id        string
		lastIndex time.Time // last use written to the index (zero: never)
		lastIAM   time.Time // what GetAccessKeyLastUsed says
		published time.Time
		ipLast    map[string]time.Time
		agentLast map[string]time.Time
	}
	var keys []truth
	var events []store.Event
	for i := range 200 {
		k := truth{id: fmt.Sprintf("AKIAGEN%013d", i), ipLast: map[string]time.Time{}, agentLast: map[string]time.Time{},
			published: now.Add(-time.Duration(rng.IntN(10*24)) * time.Hour)}
		if rng.IntN(6) > 0 { // one key in six is never used
			k.lastIndex = now.Add(-time.Duration(rng.IntN(30*24*60)) * time.Minute)
			n := 1 + rng.IntN(20)
			for j := range n {
				at := k.lastIndex
				if j > 0 {
					at = k.lastIndex.Add(-time.Duration(rng.IntN(60*24*60)) * time.Minute)
				}
				ip, ua := ips[rng.IntN(len(ips))], agents[rng.IntN(len(agents))]
				if at.After(k.ipLast[ip]) {
					k.ipLast[ip] = at
				}
				if at.After(k.agentLast[ua]) {
					k.agentLast[ua] = at
				}
				events = append(events, store.Event{ID: fmt.Sprintf("gen-%d-%d", i, j), Time: at, Principal: "arn:aws:iam::111122223333:user/gen" + fmt.Sprint(i%17),
					PrincipalType: "IAMUser", AccountID: "111122223333", RecipientAccountID: "111122223333", AccessKeyID: k.id, SourceIP: ip, UserAgent: ua,
					EventSource: "s3.amazonaws.com", EventName: "GetObject", Uses: []store.Use{{Action: "s3:GetObject", Resource: "*"}}})
			}
		}
		// IAM's last use agrees, lags (an older use), or has seen a use
		// the index has not ingested yet.
		switch rng.IntN(3) {
		case 0:
			k.lastIAM = k.lastIndex
		case 1:
			if !k.lastIndex.IsZero() {
				k.lastIAM = k.lastIndex.Add(-time.Duration(rng.IntN(48)) * time.Hour)
			}
		case 2:
			k.lastIAM = now.Add(-time.Duration(rng.IntN(12*24)) * time.Hour)
		}
		keys = append(keys, k)
	}
	// Ingest is an hour behind and CloudTrail is current: a call of
	// another principal 40 minutes before the checkpoint.
	updated := now.Add(-time.Hour)
	events = append(events, store.Event{ID: "tick", Time: updated.Add(-40 * time.Minute), Principal: "arn:aws:iam::111122223333:role/app",
		PrincipalType: "AssumedRole", AccountID: "111122223333", RecipientAccountID: "111122223333",
		EventSource: "sqs.amazonaws.com", EventName: "ReceiveMessage", Uses: []store.Use{{Action: "sqs:ReceiveMessage", Resource: "*"}}})
	if _, err := db.Write(ctx, &store.Batch{Events: events, Checkpoints: []store.Checkpoint{{Source: "file:/gen", Position: "end", Updated: updated}}}); err != nil {
		t.Fatal(err)
	}
	newest, err := db.NewestEvent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The index has seen every call up to the checkpoint less
	// CloudTrail's delivery lag, and no further than its newest event's
	// hour: the drain window ends there, not now.
	covered := updated.Add(-rotator.DeliveryLag)
	if newest.Before(covered) {
		covered = newest
	}
	if gap := now.Sub(covered); gap < time.Hour || gap > 3*time.Hour {
		t.Fatalf("index covers up to %v, %v before now: the fixture is not what it means to be", covered, gap)
	}

	idle, busy := 0, 0
	for _, k := range keys {
		ku, _, err := db.KeyUsage(ctx, k.id)
		if err != nil {
			t.Fatal(err)
		}
		d := rotator.DecideDrain(rotator.DrainInput{Now: now, Published: k.published, Usage: ku, IAMLastUsed: k.lastIAM,
			IndexUpdated: updated, NewestEvent: newest, DeliveryLag: rotator.DeliveryLag, Drain: drain, MinOverlap: overlap, MaxIndexLag: 48 * time.Hour})
		last := k.lastIndex
		if k.lastIAM.After(last) {
			last = k.lastIAM
		}
		wantIdle := (last.IsZero() || covered.Sub(last) >= drain) && !now.Before(k.published.Add(overlap))
		if d.Idle != wantIdle {
			t.Errorf("%s: idle = %v (%s), want %v (index %v, IAM %v, published %v)", k.id, d.Idle, d.Reason, wantIdle, k.lastIndex, k.lastIAM, k.published)
		}
		if !d.LastUse.Equal(last) {
			t.Errorf("%s: last use %v, want %v", k.id, d.LastUse, last)
		}
		if !d.IndexCovered.Equal(covered) {
			t.Errorf("%s: index covered %v, want %v", k.id, d.IndexCovered, covered)
		}
		wantNotBefore := k.published.Add(overlap)
		if lag := now.Sub(covered); !last.IsZero() && last.Add(drain+lag).After(wantNotBefore) {
			wantNotBefore = last.Add(drain + lag)
		}
		if !d.NotBefore.Equal(wantNotBefore) {
			t.Errorf("%s: not before %v, want %v", k.id, d.NotBefore, wantNotBefore)
		}
		if got, want := values(d.SourceIPs), within(k.ipLast, covered.Add(-drain)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: source IPs in the drain window %v, want %v", k.id, got, want)
		}
		if got, want := values(d.UserAgents), within(k.agentLast, covered.Add(-drain)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: user agents in the drain window %v, want %v", k.id, got, want)
		}
		if wantIdle {
			idle++
		} else {
			busy++
		}
	}
	if idle < 20 || busy < 20 {
		t.Errorf("generated %d idle and %d busy keys: too few of one kind to mean anything", idle, busy)
	}

	t.Run("a stale index decides nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name            string
			updated, newest time.Time
		}{
			{"no checkpoint", time.Time{}, newest},
			{"the least current source wrote 49h ago", now.Add(-49 * time.Hour), newest},
			{"no event", updated, time.Time{}},
			{"fresh checkpoints, events of 49h ago (a backlog replayed)", updated, now.Add(-49 * time.Hour)},
		} {
			for _, k := range keys {
				ku, _, _ := db.KeyUsage(ctx, k.id)
				d := rotator.DecideDrain(rotator.DrainInput{Now: now, Published: now.Add(-30 * day), Usage: ku, IAMLastUsed: k.lastIAM,
					IndexUpdated: tc.updated, NewestEvent: tc.newest, DeliveryLag: rotator.DeliveryLag, Drain: drain, MinOverlap: overlap, MaxIndexLag: 48 * time.Hour})
				if d.Idle {
					t.Fatalf("%s: %s idle: %s", tc.name, k.id, d.Reason)
				}
			}
		}
	})
}

// TestDrainWindowEndsWhereTheIndexEnds: the index's silence proves a
// full drain window only up to what it has seen from every source; a use
// just inside the window that ends there keeps the key busy even when
// it is older than Drain before now.
func TestDrainWindowEndsWhereTheIndexEnds(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const drain = 7 * day
	for _, tc := range []struct {
		name            string
		lastUse         time.Time // index and IAM agree
		updated, newest time.Time
		lag             time.Duration // 0: MaxIndexLag off
		idle            bool
		covered         time.Time
	}{
		{name: "index current, use older than the window", lastUse: now.Add(-drain - 2*time.Hour),
			updated: now, newest: now.Add(-30 * time.Minute), lag: 48 * time.Hour, idle: true, covered: now.Add(-30 * time.Minute)},
		{name: "the checkpoint less the delivery lag bounds the window", lastUse: now.Add(-drain - 10*time.Minute),
			updated: now, newest: now, lag: 48 * time.Hour, covered: now.Add(-rotator.DeliveryLag)},
		{name: "a source 20h behind: 20h of the window unseen", lastUse: now.Add(-drain - 19*time.Hour),
			updated: now.Add(-20 * time.Hour), newest: now, lag: 48 * time.Hour, covered: now.Add(-20*time.Hour - rotator.DeliveryLag)},
		{name: "a source 20h behind, the use before its window", lastUse: now.Add(-drain - 21*time.Hour),
			updated: now.Add(-20 * time.Hour), newest: now, lag: 48 * time.Hour, idle: true, covered: now.Add(-20*time.Hour - rotator.DeliveryLag)},
		{name: "events 30h old under fresh checkpoints", lastUse: now.Add(-drain - 29*time.Hour),
			updated: now, newest: now.Add(-30 * time.Hour), lag: 48 * time.Hour, covered: now.Add(-30 * time.Hour)},
		{name: "no freshness check: the window ends now", lastUse: now.Add(-drain - time.Minute),
			idle: true, covered: now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := rotator.DecideDrain(rotator.DrainInput{Now: now, Published: now.Add(-30 * day),
				Usage: store.KeyUsage{LastSeen: tc.lastUse}, IAMLastUsed: tc.lastUse, IndexUpdated: tc.updated, IndexSource: "kafka:trail/1",
				NewestEvent: tc.newest, DeliveryLag: rotator.DeliveryLag, Drain: drain, MinOverlap: day, MaxIndexLag: tc.lag})
			if d.Idle != tc.idle {
				t.Errorf("idle = %v (%s), want %v", d.Idle, d.Reason, tc.idle)
			}
			if !d.IndexCovered.Equal(tc.covered) {
				t.Errorf("index covered %v, want %v", d.IndexCovered, tc.covered)
			}
			if want := tc.lastUse.Add(drain + now.Sub(tc.covered)); !tc.idle && !d.NotBefore.Equal(want) {
				t.Errorf("not before %v, want %v", d.NotBefore, want)
			}
		})
	}
}

func values(ss []store.Seen) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Value)
	}
	sort.Strings(out)
	return out
}

func within(last map[string]time.Time, since time.Time) []string {
	var out []string
	for v, t := range last {
		if t.After(since) {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}
