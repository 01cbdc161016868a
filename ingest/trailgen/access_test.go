package trailgen

import (
	"context"
	"io"
	"slices"
	"testing"
)

// TestAccessGroundTruth checks the manifest's per-principal split: it
// partitions the granted actions, agrees with the usage counts, and the
// snapshot grants more than the trail uses, including actions no record
// can show.
func TestAccessGroundTruth(t *testing.T) {
	for _, seed := range []int64{3, 12, 40} {
		o := DefaultOptions(seed)
		o.Users, o.Roles, o.Events, o.Days = 9, 7, 4000, 3
		g := mustNew(t, o)
		m, err := g.WriteJSONLines(context.Background(), io.Discard, false)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(m.Access), o.Users+o.Roles; got != want {
			t.Fatalf("seed %d: %d access entries, want one per user and role (%d)", seed, got, want)
		}
		var unused, unobservable, passRoles int
		for _, a := range m.Access {
			parts := slices.Concat(a.Used, a.Unused, a.Unobservable)
			slices.Sort(parts)
			if !slices.Equal(parts, a.Granted) {
				t.Fatalf("seed %d %s: used+unused+unobservable %q is not granted %q", seed, a.Principal, parts, a.Granted)
			}
			for _, d := range a.Denied {
				if slices.Contains(a.Granted, d) {
					t.Fatalf("seed %d %s: denied action %s is granted", seed, a.Principal, d)
				}
			}
			for _, u := range m.Usage {
				if u.Principal == a.Principal && u.Allowed > 0 && !slices.Contains(a.Used, u.Action) {
					t.Fatalf("seed %d %s: allowed calls of %s are not in Used", seed, a.Principal, u.Action)
				}
			}
			unused += len(a.Unused)
			unobservable += len(a.Unobservable)
			if slices.Contains(a.Unobservable, passRole) {
				passRoles++
			}
		}
		if unused == 0 || unobservable == 0 || passRoles == 0 {
			t.Fatalf("seed %d: %d unused, %d unobservable (%d with iam:PassRole): the snapshot must grant more than the trail shows", seed, unused, unobservable, passRoles)
		}
	}
}
