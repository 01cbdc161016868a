package usage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iamd/iamd/store"
)

var _ Store = (*store.DB)(nil)

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

const alice = "arn:aws:iam::111122223333:user/alice"

func openStore(t *testing.T, events ...store.Event) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Write(context.Background(), &store.Batch{Events: events}); err != nil {
		t.Fatal(err)
	}
	return db
}

func call(id string, at time.Time, action, resource string, denied bool) store.Event {
	e := store.Event{ID: id, Time: at, Principal: alice, Uses: []store.Use{{Action: action, Resource: resource}}}
	if denied {
		e.Outcome = store.OutcomeDenied
	}
	return e
}

func TestNewWindow(t *testing.T) {
	end := time.Date(2026, 3, 1, 15, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		length     string
		start      time.Time
		days       int
		wantErr    bool
		inside     []time.Time
		outsideDay []time.Time
	}{
		{length: "1d", start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), days: 1},
		{length: "90d", start: time.Date(2025, 12, 2, 0, 0, 0, 0, time.UTC), days: 90},
		{length: "36h", start: time.Date(2026, 2, 28, 3, 30, 0, 0, time.UTC), days: 2},
		{length: "0d", wantErr: true},
		{length: "-3h", wantErr: true},
		{length: "ninety", wantErr: true},
	} {
		t.Run(tc.length, func(t *testing.T) {
			w, err := NewWindow(end, tc.length)
			if tc.wantErr {
				if !errors.Is(err, ErrBadLength) {
					t.Fatalf("NewWindow(%q) error = %v, want ErrBadLength", tc.length, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !w.Start.Equal(tc.start) || !w.End.Equal(end) {
				t.Fatalf("NewWindow(%q) = %v…%v, want %v…%v", tc.length, w.Start, w.End, tc.start, end)
			}
			if got := w.Days(); got != tc.days {
				t.Fatalf("Days() = %d, want %d", got, tc.days)
			}
			if !w.HasDay(tc.start.Truncate(day)) || w.HasDay(tc.start.Truncate(day).Add(-day)) || w.HasDay(end.Truncate(day).Add(day)) {
				t.Fatalf("HasDay wrong at the edges of %v…%v", w.Start, w.End)
			}
		})
	}
}

func TestRead(t *testing.T) {
	d := 24 * time.Hour
	db := openStore(t,
		// Before the window: counted neither in calls nor resources.
		call("0", t0.Add(-10*d), "s3:GetObject", "arn:aws:s3:::b/old", false),
		// b/x straddles the window's start: its fact counts 3 calls, the
		// window holds 2 of them.
		call("1a", t0.Add(-2*d), "s3:GetObject", "arn:aws:s3:::b/x", false),
		call("1", t0, "s3:GetObject", "arn:aws:s3:::b/x", false),
		call("2", t0.Add(d), "s3:GetObject", "arn:aws:s3:::b/x", false),
		call("3", t0.Add(d+time.Hour), "s3:GetObject", "arn:aws:s3:::b/y", false),
		call("4", t0.Add(2*d), "s3:PutObject", "arn:aws:s3:::b/x", true),
		call("5", t0.Add(2*d+time.Minute), "s3:PutObject", "arn:aws:s3:::b/z", false),
		// After the window's end.
		call("6", t0.Add(5*d), "ec2:DescribeInstances", "*", false),
	)
	w := Window{Start: t0.Truncate(day), End: t0.Add(3 * d)}
	for _, days := range []bool{false, true} {
		t.Run(fmt.Sprint("days ", days), func(t *testing.T) {
			p, err := Read(context.Background(), db, alice, w, days)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Actions) != 2 {
				t.Fatalf("actions = %+v, want s3:GetObject and s3:PutObject", p.Actions)
			}
			get, ok := p.Lookup("s3:GetObject")
			if !ok {
				t.Fatal("no s3:GetObject")
			}
			// From the day counts (the fact of b/x straddles the start).
			if get.Allowed != 3 || get.Denied != 0 || len(get.Days) != 2 {
				t.Fatalf("GetObject = %d allowed %d denied over %d days, want 3/0 over 2", get.Allowed, get.Denied, len(get.Days))
			}
			if !get.First.Equal(t0.Truncate(day)) || !get.Last.Equal(t0.Add(d+time.Hour)) {
				t.Fatalf("GetObject first/last = %v/%v", get.First, get.Last)
			}
			if len(get.Resources) != 2 || get.Resources[0].ARN != "arn:aws:s3:::b/x" || get.Resources[0].Allowed != 3 {
				t.Fatalf("GetObject resources = %+v", get.Resources)
			}
			put, _ := p.Lookup("s3:PutObject")
			if put.Allowed != 1 || put.Denied != 1 {
				t.Fatalf("PutObject = %d/%d, want 1/1", put.Allowed, put.Denied)
			}
			// Inside the window: from the facts unless days were asked for.
			if (put.Days == nil) == days {
				t.Fatalf("PutObject days %v with days=%v", put.Days, days)
			}
			if !put.LastDenied.Equal(t0.Add(2*d)) || !put.Resources[0].DeniedOnly() || put.Resources[1].DeniedOnly() {
				t.Fatalf("PutObject last denied %v, resources %+v", put.LastDenied, put.Resources)
			}
			if _, ok := p.Lookup("ec2:DescribeInstances"); ok {
				t.Fatal("a call after the window's end was read")
			}
		})
	}
	empty, err := Read(context.Background(), db, "arn:aws:iam::111122223333:user/nobody", w, false)
	if err != nil || len(empty.Actions) != 0 || empty.Sessions != nil {
		t.Fatalf("unknown principal = %+v, %v", empty, err)
	}
}
