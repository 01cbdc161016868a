package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAggregateCacheSameStore writes the same mixed workload (new events,
// a redelivered batch, events on many days) with the aggregate cache
// off, tiny (a generation flip every few keys) and at its default, and
// requires byte-identical stores.
func TestAggregateCacheSameStore(t *testing.T) {
	batches := func() []*Batch {
		w := newWorkload(7)
		var out []*Batch
		for range 12 {
			out = append(out, w.batch(300))
		}
		return append(out, out[3]) // redelivery: all duplicates
	}
	write := func(limit int) (*DB, map[string]string) {
		db, _ := openMem(t, func(o *Options) { o.AggregateCache = limit })
		for _, b := range batches() {
			mustWrite(t, db, b)
		}
		return db, dump(t, db)
	}
	_, want := write(-1)
	for _, tc := range []struct {
		name    string
		limit   int
		maxLen  int
		wantUse bool
	}{
		{name: "tiny", limit: 4, maxLen: 4, wantUse: true},
		{name: "default", limit: 0, maxLen: DefaultAggregateCache, wantUse: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, got := write(tc.limit)
			if n := db.aggs.len(); n > tc.maxLen || (tc.wantUse && n == 0) {
				t.Errorf("cache holds %d entries, want 1..%d", n, tc.maxLen)
			}
			if len(got) != len(want) {
				t.Fatalf("store has %d keys, without cache %d", len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("key %q = %x, without cache %x", k, got[k], v)
				}
			}
		})
	}
}

// flipCtx reports no error for its first ok calls of Err, then
// context.Canceled: Write checks the context on entry and again just
// before commit, so ok=1 cancels a batch after it has been applied to
// its transaction but before the commit.
type flipCtx struct {
	context.Context
	ok int
}

func (c *flipCtx) Err() error {
	if c.ok > 0 {
		c.ok--
		return nil
	}
	return context.Canceled
}

// TestAggregateCacheUncommitted checks that a batch that never commits
// leaves nothing in the cache: the next batch must add to the stored
// value, not to the uncommitted one.
func TestAggregateCacheUncommitted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
	}{
		{name: "off", limit: -1},
		{name: "tiny", limit: 2},
		{name: "default", limit: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openMem(t, func(o *Options) { o.AggregateCache = tc.limit })
			at := t0.Add(-time.Hour)
			const akid = "AKIAALICE"
			mustWrite(t, db, &Batch{Events: []Event{withKey(ev("e1", alice, at, use("s3:GetObject", bucketA)), akid, "192.0.2.1", "cli")}})
			_, err := db.Write(&flipCtx{Context: context.Background(), ok: 1}, &Batch{Events: []Event{
				withKey(ev("e2", alice, at.Add(time.Second), use("s3:GetObject", bucketA)), akid, "192.0.2.1", "cli"),
				ev("e2b", bob, at, use("s3:GetObject", bucketA)),
			}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Write with a context cancelled before commit: err = %v, want context.Canceled", err)
			}
			mustWrite(t, db, &Batch{Events: []Event{withKey(denied(ev("e3", alice, at.Add(2*time.Second), use("s3:GetObject", bucketA))), akid, "192.0.2.1", "sdk")}})

			ku, ok, err := db.KeyUsage(context.Background(), akid)
			if err != nil || !ok {
				t.Fatalf("KeyUsage(%s) = %v, %v", akid, ok, err)
			}
			if ku.Calls != 2 || len(ku.SourceIPs) != 1 || ku.SourceIPs[0].Count != 2 || len(ku.UserAgents) != 2 {
				t.Errorf("KeyUsage(%s) = %+v, want 2 calls, one source IP seen twice, two user agents", akid, ku)
			}

			facts, err := db.Facts(context.Background(), FactQuery{Principal: alice})
			if err != nil {
				t.Fatal(err)
			}
			if len(facts) != 1 {
				t.Fatalf("Facts(alice) = %+v, want one fact", facts)
			}
			if got, want := [2]uint64{facts[0].Allowed, facts[0].Denied}, [2]uint64{1, 1}; got != want {
				t.Errorf("Facts(alice) allowed, denied = %v, want %v", got, want)
			}
			if got, want := facts[0].LastSeen, at.Add(2*time.Second); !got.Equal(want) {
				t.Errorf("Facts(alice) LastSeen = %v, want %v", got, want)
			}
			days, err := db.DayCounts(context.Background(), alice, "s3:GetObject")
			if err != nil {
				t.Fatal(err)
			}
			if len(days) != 1 || days[0].Allowed != 1 || days[0].Denied != 1 {
				t.Errorf("DayCounts(alice) = %+v, want one day with 1 allowed, 1 denied", days)
			}
			principals, err := db.Principals(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(principals) != 1 || principals[0] != alice {
				t.Errorf("Principals() = %v, want only %s (bob's batch never committed)", principals, alice)
			}
		})
	}
}
