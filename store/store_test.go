package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// clock is an injectable clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openMem(t testing.TB, mod func(*Options)) (*DB, *clock) {
	t.Helper()
	c := &clock{t: t0}
	o := Options{InMemory: true, Now: c.Now}
	if mod != nil {
		mod(&o)
	}
	db, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return db, c
}

const (
	alice   = "arn:aws:iam::111122223333:user/alice"
	bob     = "arn:aws:iam::111122223333:user/bob"
	deploy  = "arn:aws:iam::111122223333:role/deploy"
	bucketA = "arn:aws:s3:::a/x"
	bucketB = "arn:aws:s3:::b/y"
)

// ev builds an event; opts tweak it.
func ev(id, principal string, at time.Time, uses ...Use) Event {
	return Event{ID: id, Principal: principal, Time: at, Uses: uses}
}

func use(action, resource string) Use { return Use{Action: action, Resource: resource} }

func denied(e Event) Event { e.Outcome = OutcomeDenied; return e }

func withKey(e Event, id, ip, ua string) Event {
	e.AccessKeyID, e.SourceIP, e.UserAgent = id, ip, ua
	return e
}

func mustWrite(t testing.TB, db *DB, b *Batch) WriteResult {
	t.Helper()
	res, err := db.Write(context.Background(), b)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return res
}

// dump returns every live key and value, for comparing whole stores.
func dump(t testing.TB, db *DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().Key())] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return out
}

// dumpUsage is dump without the dedup segments and their sequence.
func dumpUsage(t testing.TB, db *DB) map[string]string {
	out := dump(t, db)
	for k := range out {
		if k[0] == pfxDedupHour || k == string(key(pfxMeta, metaDedupSeq)) {
			delete(out, k)
		}
	}
	return out
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string // "" = Open succeeds
	}{
		{"in memory", Options{InMemory: true}, ""},
		{"no dir", Options{}, "Dir"},
		{"negative raw retention", Options{InMemory: true, RawRetention: -time.Hour}, "RawRetention"},
		{"short dedup ttl", Options{InMemory: true, DedupTTL: time.Minute}, "DedupTTL"},
		{"stall below l0", Options{InMemory: true, NumLevelZeroTables: 4, NumLevelZeroTablesStall: 3}, "NumLevelZeroTablesStall"},
		{"one compactor", Options{InMemory: true, NumCompactors: 1}, "NumCompactors"},
		{"value threshold above batch", Options{InMemory: true, MemTableSize: 1 << 20, ValueThreshold: 512 << 10}, "ValueThreshold"},
		{"negative cache", Options{InMemory: true, BlockCacheSize: -1}, "BlockCacheSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(tt.opts)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if err := db.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("Open err = %v, want a ValidationError on %s", err, tt.field)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
			}
		})
	}
}

func TestWriteAggregates(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name    string
		batches [][]Event
		want    []Fact
		days    map[string][]DayCount // "principal action" → counts
		result  WriteResult           // of the last batch
	}{
		{
			name:    "one event",
			batches: [][]Event{{ev("1", alice, t0, use("s3:GetObject", bucketA))}},
			want:    []Fact{{Principal: alice, Action: "s3:GetObject", Resource: bucketA, FirstSeen: t0, LastSeen: t0, Allowed: 1}},
			days:    map[string][]DayCount{alice + " s3:GetObject": {{Day: t0.Truncate(24 * h), Allowed: 1}}},
			result:  WriteResult{Events: 1, Facts: 1, NewFacts: 1},
		},
		{
			name: "out of order across batches, allowed and denied",
			batches: [][]Event{
				{ev("1", alice, t0.Add(5*h), use("s3:GetObject", bucketA))},
				{denied(ev("2", alice, t0.Add(-30*h), use("s3:GetObject", bucketA))), ev("3", alice, t0.Add(2*h), use("s3:GetObject", bucketA))},
			},
			want: []Fact{{Principal: alice, Action: "s3:GetObject", Resource: bucketA, FirstSeen: t0.Add(-30 * h), LastSeen: t0.Add(5 * h), Allowed: 2, Denied: 1}},
			days: map[string][]DayCount{alice + " s3:GetObject": {
				{Day: t0.Add(-30 * h).Truncate(24 * h), Denied: 1},
				{Day: t0.Truncate(24 * h), Allowed: 2},
			}},
			result: WriteResult{Events: 2, Facts: 1}, // the fact was written by the first batch
		},
		{
			name: "several uses, principals and resources, sorted output",
			batches: [][]Event{{
				ev("1", bob, t0, use("kms:ReEncryptFrom", "k1"), use("kms:ReEncryptTo", "k2")),
				ev("2", alice, t0.Add(h), use("s3:PutObject", bucketB), use("s3:GetObject", bucketA)),
				ev("3", alice, t0.Add(2*h), use("s3:GetObject", bucketB)),
				// the same action on two resources counts once per day
				ev("4", alice, t0.Add(3*h), use("s3:GetObject", bucketA), use("s3:GetObject", bucketB)),
				// the same use twice in one record is one use
				ev("5", bob, t0.Add(h), use("kms:ReEncryptTo", "k2"), use("kms:ReEncryptTo", "k2")),
			}},
			want: []Fact{
				{Principal: alice, Action: "s3:GetObject", Resource: bucketA, FirstSeen: t0.Add(h), LastSeen: t0.Add(3 * h), Allowed: 2},
				{Principal: alice, Action: "s3:GetObject", Resource: bucketB, FirstSeen: t0.Add(2 * h), LastSeen: t0.Add(3 * h), Allowed: 2},
				{Principal: alice, Action: "s3:PutObject", Resource: bucketB, FirstSeen: t0.Add(h), LastSeen: t0.Add(h), Allowed: 1},
				{Principal: bob, Action: "kms:ReEncryptFrom", Resource: "k1", FirstSeen: t0, LastSeen: t0, Allowed: 1},
				{Principal: bob, Action: "kms:ReEncryptTo", Resource: "k2", FirstSeen: t0, LastSeen: t0.Add(h), Allowed: 2},
			},
			days: map[string][]DayCount{
				alice + " s3:GetObject":  {{Day: t0.Truncate(24 * h), Allowed: 3}},
				bob + " kms:ReEncryptTo": {{Day: t0.Truncate(24 * h), Allowed: 2}},
			},
			result: WriteResult{Events: 5, Facts: 5, NewFacts: 5},
		},
		{
			name:    "event without uses counts nowhere in facts",
			batches: [][]Event{{ev("1", alice, t0)}},
			want:    nil,
			result:  WriteResult{Events: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := openMem(t, nil)
			var res WriteResult
			for _, b := range tt.batches {
				res = mustWrite(t, db, &Batch{Events: b})
			}
			if res != tt.result {
				t.Errorf("WriteResult = %+v, want %+v", res, tt.result)
			}
			got, err := db.Facts(context.Background(), FactQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Facts() =\n%+v\nwant\n%+v", got, tt.want)
			}
			for pa, want := range tt.days {
				p, a, _ := strings.Cut(pa, " ")
				got, err := db.DayCounts(context.Background(), p, a)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("DayCounts(%s) = %+v, want %+v", pa, got, want)
				}
			}
		})
	}
}

func TestFactQuery(t *testing.T) {
	db, _ := openMem(t, nil)
	h := time.Hour
	mustWrite(t, db, &Batch{Events: []Event{
		ev("1", alice, t0, use("s3:GetObject", bucketA)),
		ev("2", alice, t0.Add(2*h), use("s3:GetBucketPolicy", "arn:aws:s3:::a")),
		ev("3", alice, t0.Add(h), use("sqs:SendMessage", "q")),
		ev("4", bob, t0.Add(3*h), use("s3:GetObject", bucketB)),
		// a principal whose ARN extends alice's must not leak into hers
		ev("5", alice+"2", t0, use("s3:GetObject", bucketA)),
	}})
	key := func(fs []Fact) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Principal+" "+f.Action+" "+f.Resource)
		}
		return out
	}
	tests := []struct {
		name string
		q    FactQuery
		want []string
	}{
		{"one principal", FactQuery{Principal: alice}, []string{
			alice + " s3:GetBucketPolicy arn:aws:s3:::a", alice + " s3:GetObject " + bucketA, alice + " sqs:SendMessage q"}},
		{"action prefix", FactQuery{Principal: alice, ActionPrefix: "s3:Get"}, []string{
			alice + " s3:GetBucketPolicy arn:aws:s3:::a", alice + " s3:GetObject " + bucketA}},
		{"exact action is a prefix too", FactQuery{Principal: alice, ActionPrefix: "s3:GetObject"}, []string{alice + " s3:GetObject " + bucketA}},
		{"since", FactQuery{Principal: alice, Since: t0.Add(h)}, []string{
			alice + " s3:GetBucketPolicy arn:aws:s3:::a", alice + " sqs:SendMessage q"}},
		{"all principals by action", FactQuery{ActionPrefix: "s3:GetObject"}, []string{
			alice + " s3:GetObject " + bucketA, alice + "2 s3:GetObject " + bucketA, bob + " s3:GetObject " + bucketB}},
		{"all principals since", FactQuery{Since: t0.Add(2 * h)}, []string{
			alice + " s3:GetBucketPolicy arn:aws:s3:::a", bob + " s3:GetObject " + bucketB}},
		{"unknown principal", FactQuery{Principal: "arn:aws:iam::1:user/nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Facts(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if g := key(got); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Facts(%+v) = %q, want %q", tt.q, g, tt.want)
			}
		})
	}
	t.Run("principals", func(t *testing.T) {
		got, err := db.Principals(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{alice, alice + "2", bob}; !reflect.DeepEqual(got, want) {
			t.Errorf("Principals() = %q, want %q", got, want)
		}
	})
	t.Run("callback error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := db.EachFact(context.Background(), FactQuery{}, func(Fact) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("EachFact err=%v after %d calls, want stop after 1", err, n)
		}
	})
}

func TestDedup(t *testing.T) {
	batch := func() *Batch {
		return &Batch{
			Events: []Event{
				withKey(ev("e1", alice, t0, use("s3:GetObject", bucketA)), "AKIA1", "10.0.0.1", "cli"),
				ev("e2", alice, t0.Add(time.Minute), use("s3:GetObject", bucketA)),
				ev("5f0d6e3a-1b2c-4d5e-8f90-a1b2c3d4e5f6", bob, t0, use("sqs:SendMessage", "q")),
			},
			Checkpoints: []Checkpoint{{Source: "file:/a", Position: "100"}},
		}
	}
	t.Run("same batch twice leaves identical contents", func(t *testing.T) {
		db, _ := openMem(t, nil)
		if got, want := mustWrite(t, db, batch()), (WriteResult{Events: 3, Facts: 2, NewFacts: 2}); got != want {
			t.Fatalf("first Write = %+v, want %+v", got, want)
		}
		before := dump(t, db)
		if got, want := mustWrite(t, db, batch()), (WriteResult{Duplicates: 3}); got != want {
			t.Fatalf("second Write = %+v, want %+v", got, want)
		}
		if after := dump(t, db); !reflect.DeepEqual(before, after) {
			t.Errorf("store changed on redelivery:\nbefore %q\nafter  %q", before, after)
		}
	})
	t.Run("duplicate inside a batch", func(t *testing.T) {
		db, _ := openMem(t, nil)
		b := batch()
		b.Events = append(b.Events, b.Events[0], b.Events[2])
		if got, want := mustWrite(t, db, b), (WriteResult{Events: 3, Duplicates: 2, Facts: 2, NewFacts: 2}); got != want {
			t.Fatalf("Write = %+v, want %+v", got, want)
		}
		fs, _ := db.Facts(context.Background(), FactQuery{Principal: alice})
		if len(fs) != 1 || fs[0].Allowed != 2 {
			t.Errorf("alice facts = %+v, want one fact with Allowed 2", fs)
		}
		k, _, _ := db.KeyUsage(context.Background(), "AKIA1")
		if k.Calls != 1 {
			t.Errorf("AKIA1 calls = %d, want 1", k.Calls)
		}
	})
	t.Run("ttl expiry by the injected clock", func(t *testing.T) {
		db, c := openMem(t, func(o *Options) { o.DedupTTL = 48 * time.Hour })
		mustWrite(t, db, batch())
		for _, id := range []string{"e1", "5f0d6e3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"} {
			if seen, err := db.Seen(context.Background(), id, t0); err != nil || !seen {
				t.Fatalf("Seen(%s) = %v, %v; want true", id, seen, err)
			}
		}
		c.Add(47 * time.Hour)
		if got := mustWrite(t, db, batch()); got.Duplicates != 3 {
			t.Fatalf("Write within TTL = %+v, want 3 duplicates", got)
		}
		c.Add(time.Hour) // 48h after the first write: expired
		if seen, _ := db.Seen(context.Background(), "e1", t0); seen {
			t.Fatal("Seen(e1) after TTL = true")
		}
		if got := mustWrite(t, db, batch()); got.Events != 3 {
			t.Fatalf("Write after TTL = %+v, want 3 events counted again", got)
		}
		fs, _ := db.Facts(context.Background(), FactQuery{Principal: bob})
		if len(fs) != 1 || fs[0].Allowed != 2 {
			t.Errorf("bob facts = %+v, want Allowed 2 (counted again after expiry)", fs)
		}
		if seen, _ := db.Seen(context.Background(), "e1", t0); !seen {
			t.Error("Seen(e1) after re-count = false, want the dedup entry renewed")
		}
	})
	t.Run("uuid and verbatim ids do not collide", func(t *testing.T) {
		db, _ := openMem(t, nil)
		upper := "5F0D6E3A-1B2C-4D5E-8F90-A1B2C3D4E5F6"
		mustWrite(t, db, &Batch{Events: []Event{ev("5f0d6e3a-1b2c-4d5e-8f90-a1b2c3d4e5f6", bob, t0)}})
		if got := mustWrite(t, db, &Batch{Events: []Event{ev(upper, bob, t0)}}); got.Events != 1 {
			t.Errorf("upper-case id Write = %+v, want counted as a distinct id", got)
		}
	})
}

// The dedup set is kept by event hour (dedup.go): a redelivery whose
// time moved into a neighbouring hour is still a duplicate, and hours
// dropped from the in-memory cache are read back from Badger.
func TestDedupHours(t *testing.T) {
	ctx := context.Background()
	t.Run("neighbouring hours", func(t *testing.T) {
		db, _ := openMem(t, nil)
		at := time.Date(2026, 11, 1, 12, 59, 0, 0, time.UTC)
		mustWrite(t, db, &Batch{Events: []Event{ev("e1", alice, at, use("s3:GetObject", bucketA))}})
		tests := []struct {
			at   time.Time
			want WriteResult
		}{
			{at.Add(2 * time.Minute), WriteResult{Duplicates: 1}},        // 13:01, the next hour
			{at.Add(-59 * time.Minute), WriteResult{Duplicates: 1}},      // 12:00, same hour
			{at.Add(-60 * time.Minute), WriteResult{Duplicates: 1}},      // 11:59, the hour before
			{at.Add(62 * time.Minute), WriteResult{Events: 1, Facts: 1}}, // 14:01: two hours on, another event
		}
		for _, tc := range tests {
			got := mustWrite(t, db, &Batch{Events: []Event{ev("e1", alice, tc.at, use("s3:GetObject", bucketA))}})
			if got != tc.want {
				t.Errorf("e1 again at %s: Write = %+v, want %+v", tc.at.Format("15:04"), got, tc.want)
			}
		}
	})
	t.Run("same rule inside a batch as against the store", func(t *testing.T) {
		// One ID reused by events hours apart (seen in shared sample
		// data): how they fall into batches must not decide what
		// counts, or a second ingest of the same input changes facts.
		db, _ := openMem(t, nil)
		a := ev("reused", alice, t0, use("s3:GetObject", bucketA))
		b := ev("reused", alice, t0.Add(5*time.Hour), use("s3:GetObject", bucketA))
		if got := mustWrite(t, db, &Batch{Events: []Event{a, b}}); got.Events != 2 {
			t.Fatalf("one batch: Write = %+v, want both events counted (5 hours apart)", got)
		}
		before := dumpUsage(t, db)
		for _, e := range []Event{a, b} {
			if got := mustWrite(t, db, &Batch{Events: []Event{e}}); got != (WriteResult{Duplicates: 1}) {
				t.Errorf("%s again alone: Write = %+v, want a duplicate", e.Time.Format("15:04"), got)
			}
		}
		if after := dumpUsage(t, db); !reflect.DeepEqual(before, after) {
			t.Error("usage changed on the second ingest")
		}
	})
	t.Run("neighbouring hours inside a batch", func(t *testing.T) {
		db, _ := openMem(t, nil)
		at := time.Date(2026, 11, 1, 12, 59, 0, 0, time.UTC)
		for _, tc := range []struct {
			name  string
			times []time.Time
			want  WriteResult
		}{
			{"next hour", []time.Time{at, at.Add(2 * time.Minute)}, WriteResult{Events: 1, Facts: 1, NewFacts: 1, Duplicates: 1}},
			{"hour before", []time.Time{at.Add(2 * time.Minute), at}, WriteResult{Events: 1, Facts: 1, Duplicates: 1}},
			{"back and forth", []time.Time{at, at.Add(3 * time.Hour), at.Add(time.Minute)}, WriteResult{Events: 2, Facts: 1, Duplicates: 1}},
			{"two hours on", []time.Time{at, at.Add(62 * time.Minute)}, WriteResult{Events: 2, Facts: 1}},
		} {
			var b Batch
			for _, t := range tc.times {
				b.Events = append(b.Events, ev("in-batch-"+tc.name, alice, t, use("s3:GetObject", bucketA)))
			}
			if got := mustWrite(t, db, &b); got != tc.want {
				t.Errorf("%s: Write = %+v, want %+v", tc.name, got, tc.want)
			}
		}
	})
	t.Run("evicted hours are read back", func(t *testing.T) {
		db, _ := openMem(t, func(o *Options) { o.DedupCache = 3 })
		var batches []*Batch
		for h := range 8 {
			var b Batch
			for i := range 4 {
				at := t0.Add(time.Duration(3*h)*time.Hour + time.Duration(i)*time.Minute)
				b.Events = append(b.Events, ev(fmt.Sprintf("e-%d-%d", h, i), alice, at, use("s3:GetObject", bucketA)))
			}
			batches = append(batches, &b)
			mustWrite(t, db, &b)
		}
		// The last Write's hour (4 hashes) and its two neighbours.
		if n, want := db.dedup.total, 4+3*hourWeight; n > want {
			t.Errorf("dedup cache weighs %d, want at most the last Write's hours (%d)", n, want)
		}
		for h, b := range batches {
			if got := mustWrite(t, db, b); got != (WriteResult{Duplicates: 4}) {
				t.Errorf("batch %d again: Write = %+v, want 4 duplicates", h, got)
			}
		}
		fs, _ := db.Facts(ctx, FactQuery{Principal: alice})
		if len(fs) != 1 || fs[0].Allowed != 32 {
			t.Errorf("facts = %+v, want one fact with Allowed 32", fs)
		}
	})
	t.Run("survives reopen", func(t *testing.T) {
		dir := t.TempDir()
		c := &clock{t: t0}
		b := &Batch{Events: []Event{ev("e1", alice, t0, use("s3:GetObject", bucketA)), ev("e2", bob, t0.Add(5*time.Hour), use("s3:GetObject", bucketA))}}
		for i, want := range []WriteResult{{Events: 2, Facts: 2, NewFacts: 2}, {Duplicates: 2}} {
			db, err := Open(Options{Dir: dir, Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			if got := mustWrite(t, db, b); got != want {
				t.Errorf("open %d: Write = %+v, want %+v", i, got, want)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("corrupt segment is an error naming the key", func(t *testing.T) {
		db, _ := openMem(t, nil)
		err := db.bdb.Update(func(txn *badger.Txn) error {
			return txn.Set(dedupSegmentKey(dedupHour(t0), 1), []byte{0x7f, 0x02, 1, 2, 3})
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.Write(ctx, &Batch{Events: []Event{ev("e1", alice, t0, use("s3:GetObject", bucketA))}})
		if !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), "dedup segment") {
			t.Errorf("Write over a corrupt segment: err = %v, want errCorrupt naming the dedup segment", err)
		}
	})
}

func TestAtomicity(t *testing.T) {
	good := ev("g1", alice, t0, use("s3:GetObject", bucketA))
	cp := Checkpoint{Source: "kafka:t/0", Position: "42"}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		batch *Batch
		field string
	}{
		{"invalid event after a good one", context.Background(),
			&Batch{Events: []Event{good, ev("", alice, t0)}, Checkpoints: []Checkpoint{cp}}, "Events[1].ID"},
		{"invalid checkpoint", context.Background(),
			&Batch{Events: []Event{good}, Checkpoints: []Checkpoint{cp, {Position: "1"}}}, "Checkpoints[1].Source"},
		{"cancelled context", cancelled, &Batch{Events: []Event{good}, Checkpoints: []Checkpoint{cp}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := openMem(t, nil)
			before := dump(t, db)
			_, err := db.Write(tt.ctx, tt.batch)
			if err == nil {
				t.Fatal("Write succeeded")
			}
			if tt.field != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.field {
					t.Fatalf("Write err = %v, want ValidationError on %s", err, tt.field)
				}
			} else if !errors.Is(err, context.Canceled) {
				t.Fatalf("Write err = %v, want context.Canceled", err)
			}
			if after := dump(t, db); !reflect.DeepEqual(before, after) {
				t.Errorf("failed Write changed the store: %q", after)
			}
			if _, ok, _ := db.Checkpoint(context.Background(), cp.Source); ok {
				t.Error("checkpoint written by a failed Write")
			}
		})
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name  string
		ev    Event
		field string
	}{
		{"no id", ev("", alice, t0), "Events[0].ID"},
		{"no principal", ev("x", "", t0), "Events[0] (id x).Principal"},
		{"no time", ev("x", alice, time.Time{}), "Events[0] (id x).Time"},
		{"no action", ev("x", alice, t0, use("", "r")), "Events[0] (id x).Uses[0].Action"},
		{"no resource", ev("x", alice, t0, use("s3:GetObject", "")), "Events[0] (id x).Uses[0].Resource"},
		{"nul in principal", ev("x", "arn\x00x", t0), "Events[0] (id x).Principal"},
		{"bad outcome", Event{ID: "x", Principal: alice, Time: t0, Outcome: 7}, "Events[0] (id x).Outcome"},
		{"huge resource", ev("x", alice, t0, use("s3:GetObject", strings.Repeat("a", maxComponent+1))), "Events[0] (id x).Uses[0].Resource"},
	}
	db, _ := openMem(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Write(context.Background(), &Batch{Events: []Event{tt.ev}})
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("Write err = %v, want ValidationError on %q", err, tt.field)
			}
		})
	}
	t.Run("nil batch", func(t *testing.T) {
		if _, err := db.Write(context.Background(), nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Write(nil) err = %v, want ErrInvalid", err)
		}
	})
	t.Run("quarantine without where", func(t *testing.T) {
		_, err := db.Write(context.Background(), &Batch{Quarantined: []Quarantined{{Reason: "bad-json"}}})
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "Quarantined[0].Where" {
			t.Fatalf("Write err = %v, want ValidationError on Quarantined[0].Where", err)
		}
	})
}

func TestKeyUsageAndSessions(t *testing.T) {
	db, _ := openMem(t, nil)
	m := time.Minute
	var events []Event
	// 7 source IPs: the 5 most recent are kept; 10.0.0.6 is seen twice.
	for i := range 7 {
		events = append(events, withKey(ev(fmt.Sprintf("k%d", i), alice, t0.Add(time.Duration(i)*m), use("s3:ListBucket", "b")),
			"AKIAALICE", fmt.Sprintf("10.0.0.%d", i), "aws-cli/2"))
	}
	events = append(events, withKey(ev("k7", alice, t0.Add(-time.Hour)), "AKIAALICE", "10.0.0.6", "boto3"))
	events = append(events, withKey(ev("b1", bob, t0), "AKIABOB", "", ""))
	for i := range MaxSessionSeen + 3 {
		e := ev(fmt.Sprintf("s%d", i), deploy, t0.Add(time.Duration(i)*m))
		e.AccessKeyID = "ASIATEMP"
		e.SessionName = fmt.Sprintf("session-%02d", i)
		e.SourceIdentity = "alice@example.com"
		events = append(events, e)
	}
	mustWrite(t, db, &Batch{Events: events[:4]})
	mustWrite(t, db, &Batch{Events: events[4:]})
	ctx := context.Background()

	k, ok, err := db.KeyUsage(ctx, "AKIAALICE")
	if err != nil || !ok {
		t.Fatalf("KeyUsage = %v, %v", ok, err)
	}
	want := KeyUsage{
		AccessKeyID: "AKIAALICE", Principal: alice, FirstSeen: t0.Add(-time.Hour), LastSeen: t0.Add(6 * m), Calls: 8,
		SourceIPs: []Seen{
			{"10.0.0.6", t0.Add(-time.Hour), t0.Add(6 * m), 2}, {"10.0.0.5", t0.Add(5 * m), t0.Add(5 * m), 1},
			{"10.0.0.4", t0.Add(4 * m), t0.Add(4 * m), 1}, {"10.0.0.3", t0.Add(3 * m), t0.Add(3 * m), 1},
			{"10.0.0.2", t0.Add(2 * m), t0.Add(2 * m), 1},
		},
		UserAgents: []Seen{{"aws-cli/2", t0, t0.Add(6 * m), 7}, {"boto3", t0.Add(-time.Hour), t0.Add(-time.Hour), 1}},
	}
	if !reflect.DeepEqual(k, want) {
		t.Errorf("KeyUsage =\n%+v\nwant\n%+v", k, want)
	}
	if _, ok, _ := db.KeyUsage(ctx, "AKIANONE"); ok {
		t.Error("KeyUsage(unknown) found")
	}
	keys, err := db.KeysOf(ctx, alice)
	if err != nil || len(keys) != 1 || keys[0].AccessKeyID != "AKIAALICE" {
		t.Errorf("KeysOf(alice) = %+v, %v", keys, err)
	}
	keys, _ = db.KeysOf(ctx, bob)
	if len(keys) != 1 || keys[0].AccessKeyID != "AKIABOB" || keys[0].Calls != 1 || len(keys[0].SourceIPs) != 0 {
		t.Errorf("KeysOf(bob) = %+v", keys)
	}

	s, ok, err := db.Sessions(ctx, deploy)
	if err != nil || !ok {
		t.Fatalf("Sessions = %v, %v", ok, err)
	}
	if len(s.SessionNames) != MaxSessionSeen || s.SessionNames[0].Value != fmt.Sprintf("session-%02d", MaxSessionSeen+2) ||
		s.SessionNames[MaxSessionSeen-1].Value != "session-03" {
		t.Errorf("SessionNames = %+v, want the %d most recent, newest first", s.SessionNames, MaxSessionSeen)
	}
	if len(s.SourceIdentities) != 1 || s.SourceIdentities[0].Count != MaxSessionSeen+3 {
		t.Errorf("SourceIdentities = %+v", s.SourceIdentities)
	}
	if _, ok, _ := db.Sessions(ctx, alice); ok {
		t.Error("Sessions(alice) found; alice has no sessions")
	}
}

func TestKeyOwnerChange(t *testing.T) {
	db, _ := openMem(t, nil)
	mustWrite(t, db, &Batch{Events: []Event{withKey(ev("1", alice, t0), "AKIAX", "", "")}})
	mustWrite(t, db, &Batch{Events: []Event{withKey(ev("2", bob, t0.Add(time.Hour)), "AKIAX", "", "")}})
	// An older record naming alice again does not move the key back.
	mustWrite(t, db, &Batch{Events: []Event{withKey(ev("3", alice, t0.Add(time.Minute)), "AKIAX", "", "")}})
	ctx := context.Background()
	if ks, _ := db.KeysOf(ctx, alice); len(ks) != 0 {
		t.Errorf("KeysOf(alice) = %+v, want none", ks)
	}
	if ks, _ := db.KeysOf(ctx, bob); len(ks) != 1 || ks[0].Principal != bob || ks[0].Calls != 3 {
		t.Errorf("KeysOf(bob) = %+v, want AKIAX owned by bob with 3 calls", ks)
	}
}

func TestQuarantineAndCheckpoints(t *testing.T) {
	db, c := openMem(t, nil)
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), MaxRawSize+100)
	mustWrite(t, db, &Batch{
		Quarantined: []Quarantined{
			{Where: "file:/a.json.gz#3", Reason: "bad-json", Detail: "unexpected EOF", Raw: []byte(`{"eventVersion":`)},
			{Where: "file:/a.json.gz#9", Reason: "no-event-time", Raw: big},
		},
		Checkpoints: []Checkpoint{{Source: "file:/a.json.gz", Position: "10"}, {Source: "kafka:ct/1", Position: "7"}},
	})
	c.Add(time.Minute)
	mustWrite(t, db, &Batch{
		Quarantined: []Quarantined{
			{Where: "s3://b/k.json.gz#0", Reason: "bad-json"},
			// the same input again (re-read file): replaced, not added
			{Where: "file:/a.json.gz#9", Reason: "bad-json", Detail: "second look"},
		},
		Checkpoints: []Checkpoint{{Source: "kafka:ct/1", Position: "9", Updated: t0.Add(time.Hour)}},
	})
	q, err := db.Quarantine(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var where []string
	for _, r := range q {
		where = append(where, r.Where)
	}
	if want := []string{"s3://b/k.json.gz#0", "file:/a.json.gz#9", "file:/a.json.gz#3"}; !reflect.DeepEqual(where, want) {
		t.Errorf("Quarantine() order = %q, want %q", where, want)
	}
	if q[0].Time != t0.Add(time.Minute) || q[2].Time != t0 {
		t.Errorf("Quarantine times = %v, %v; want defaulted from the clock", q[0].Time, q[2].Time)
	}
	if q[1].Detail != "second look" || q[1].Raw != nil {
		t.Errorf("replaced record = %+v", q[1])
	}
	if q, _ := db.Quarantine(ctx, 1); len(q) != 1 || q[0].Where != "s3://b/k.json.gz#0" {
		t.Errorf("Quarantine(1) = %+v", q)
	}
	counts, err := db.QuarantineCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]uint64{"bad-json": 3}; !reflect.DeepEqual(counts, want) {
		t.Errorf("QuarantineCounts() = %v, want %v", counts, want)
	}

	t.Run("raw cap", func(t *testing.T) {
		db, _ := openMem(t, nil)
		mustWrite(t, db, &Batch{Quarantined: []Quarantined{{Where: "w", Reason: "r", Raw: big}}})
		q, _ := db.Quarantine(ctx, 0)
		if len(q) != 1 || len(q[0].Raw) != MaxRawSize || !bytes.Equal(q[0].Raw, big[:MaxRawSize]) {
			t.Fatalf("Raw len = %d, want %d", len(q[0].Raw), MaxRawSize)
		}
	})

	cp, ok, err := db.Checkpoint(ctx, "kafka:ct/1")
	if err != nil || !ok || cp != (Checkpoint{Source: "kafka:ct/1", Position: "9", Updated: t0.Add(time.Hour)}) {
		t.Errorf("Checkpoint = %+v, %v, %v", cp, ok, err)
	}
	cps, err := db.Checkpoints(ctx, "file:")
	if err != nil || len(cps) != 1 || cps[0] != (Checkpoint{Source: "file:/a.json.gz", Position: "10", Updated: t0}) {
		t.Errorf("Checkpoints(file:) = %+v, %v", cps, err)
	}
	if cps, _ := db.Checkpoints(ctx, ""); len(cps) != 2 {
		t.Errorf("Checkpoints(\"\") = %+v, want 2", cps)
	}
}

func TestSnapshots(t *testing.T) {
	db, _ := openMem(t, nil)
	ctx := context.Background()
	data := func(i int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf(`{"UserDetailList":[{"UserName":"u%d"}]}`, i)), 1000)
	}
	for i, at := range []time.Time{t0.Add(time.Hour), t0, t0.Add(2 * time.Hour)} {
		if err := db.PutSnapshot(ctx, Snapshot{AccountID: "111122223333", Taken: at, Data: data(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutSnapshot(ctx, Snapshot{AccountID: "444455556666", Taken: t0.Add(9 * time.Hour), Data: data(9)}); err != nil {
		t.Fatal(err)
	}
	list, err := db.Snapshots(ctx, "111122223333")
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for _, s := range list {
		times = append(times, s.Taken)
		if s.Stored <= 0 || s.Stored >= int64(len(data(0)))/4 {
			t.Errorf("Stored = %d, want compressed well below %d", s.Stored, len(data(0)))
		}
	}
	if want := []time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour)}; !reflect.DeepEqual(times, want) {
		t.Errorf("Snapshots() taken = %v, want %v", times, want)
	}
	latest, ok, err := db.LatestSnapshot(ctx, "111122223333")
	if err != nil || !ok || !latest.Taken.Equal(t0.Add(2*time.Hour)) || !bytes.Equal(latest.Data, data(2)) {
		t.Errorf("LatestSnapshot = %v %v %v (%d bytes)", latest.Taken, ok, err, len(latest.Data))
	}
	s, err := db.Snapshot(ctx, "111122223333", t0.Add(time.Hour))
	if err != nil || !bytes.Equal(s.Data, data(0)) {
		t.Errorf("Snapshot(t0+1h) = %d bytes, %v", len(s.Data), err)
	}
	if _, err := db.Snapshot(ctx, "111122223333", t0.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Snapshot(missing) err = %v, want ErrNotFound", err)
	}
	if _, ok, _ := db.LatestSnapshot(ctx, "999"); ok {
		t.Error("LatestSnapshot(unknown account) found")
	}
	if accts, err := db.SnapshotAccounts(ctx); err != nil || !reflect.DeepEqual(accts, []string{"111122223333", "444455556666"}) {
		t.Errorf("SnapshotAccounts() = %v, %v; want both accounts once", accts, err)
	}
	if err := db.PutSnapshot(ctx, Snapshot{AccountID: "1"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("PutSnapshot(zero Taken) err = %v, want ErrInvalid", err)
	}
}

func TestReopenAndSchema(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(Options{Dir: dir, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, db, &Batch{
		Events:      []Event{withKey(ev("1", alice, t0, use("s3:GetObject", bucketA)), "AKIA1", "1.2.3.4", "cli")},
		Checkpoints: []Checkpoint{{Source: "file:/x", Position: "5"}},
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Facts(ctx, FactQuery{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Facts after Close err = %v, want ErrClosed", err)
	}
	if _, err := db.Write(ctx, &Batch{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close err = %v, want ErrClosed", err)
	}

	t.Run("reopen keeps data", func(t *testing.T) {
		db, err := Open(Options{Dir: dir, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		fs, _ := db.Facts(ctx, FactQuery{Principal: alice})
		if len(fs) != 1 || fs[0].Allowed != 1 {
			t.Errorf("Facts after reopen = %+v", fs)
		}
		if cp, ok, _ := db.Checkpoint(ctx, "file:/x"); !ok || cp.Position != "5" {
			t.Errorf("Checkpoint after reopen = %+v, %v", cp, ok)
		}
		if res := mustWrite(t, db, &Batch{Events: []Event{ev("1", alice, t0, use("s3:GetObject", bucketA))}}); res.Duplicates != 1 {
			t.Errorf("Write of a known event after reopen = %+v, want a duplicate", res)
		}
	})

	t.Run("schema mismatch", func(t *testing.T) {
		bdb, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		e := encoder{}
		e.uvarint(99)
		if err := bdb.Update(func(txn *badger.Txn) error { return txn.Set(key(pfxMeta, metaSchema), e.b) }); err != nil {
			t.Fatal(err)
		}
		if err := bdb.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = Open(Options{Dir: dir})
		var se *SchemaError
		if !errors.As(err, &se) || se.Have != 99 || se.Want != SchemaVersion {
			t.Fatalf("Open err = %v, want SchemaError{Have: 99}", err)
		}
		if !errors.Is(err, ErrSchemaMismatch) {
			t.Fatalf("errors.Is(%v, ErrSchemaMismatch) = false", err)
		}
		// The failed Open released the directory lock.
		bdb, err = badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
		if err != nil {
			t.Fatalf("reopen after mismatch: %v", err)
		}
		bdb.Close()
	})
}

func TestRawRetention(t *testing.T) {
	ctx := context.Background()
	e := ev("r1", alice, t0, use("s3:GetObject", bucketA))
	e.Raw = []byte(`{"eventID":"r1"}`)
	t.Run("off by default", func(t *testing.T) {
		db, _ := openMem(t, nil)
		mustWrite(t, db, &Batch{Events: []Event{e}})
		if _, ok, _ := db.Raw(ctx, "r1"); ok {
			t.Error("Raw kept with retention off")
		}
	})
	t.Run("kept until retention ends", func(t *testing.T) {
		db, c := openMem(t, func(o *Options) { o.RawRetention = 24 * time.Hour })
		mustWrite(t, db, &Batch{Events: []Event{e}})
		raw, ok, err := db.Raw(ctx, "r1")
		if err != nil || !ok || string(raw) != string(e.Raw) {
			t.Fatalf("Raw = %q, %v, %v", raw, ok, err)
		}
		c.Add(24 * time.Hour)
		if _, ok, _ := db.Raw(ctx, "r1"); ok {
			t.Error("Raw still returned after retention")
		}
	})
}

func TestStats(t *testing.T) {
	db, _ := openMem(t, nil)
	mustWrite(t, db, &Batch{
		Events: []Event{
			withKey(ev("1", alice, t0, use("s3:GetObject", bucketA), use("s3:PutObject", bucketA)), "AKIA1", "", ""),
			ev("2", bob, t0.Add(48*time.Hour), use("s3:GetObject", bucketA)),
		},
		Quarantined: []Quarantined{{Where: "w", Reason: "r"}},
		Checkpoints: []Checkpoint{{Source: "s"}},
	})
	got, err := db.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Facts: 3, Actions: 3, DayCounts: 3, Principals: 2, Keys: 1, Dedup: 2, Checkpoints: 1, Quarantined: 1}
	if got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

// A batch far over one transaction's limit is split and gives the same
// store as the same events written in small batches.
func TestSplitWrite(t *testing.T) {
	var events []Event
	for i := range 12000 {
		r := fmt.Sprintf("arn:aws:s3:::bucket-%d/%s", i, strings.Repeat("k", 100))
		e := ev(fmt.Sprintf("id-%d", i), fmt.Sprintf("arn:aws:iam::1:user/u%d", i%50),
			t0.Add(time.Duration(i)*time.Second), use("s3:GetObject", r))
		// Every third call lands in another account, one of seven.
		e.AccountID, e.RecipientAccountID = "1", "1"
		if i%3 == 0 {
			e.RecipientAccountID = fmt.Sprint(2 + i%7)
		}
		events = append(events, e)
	}
	events = append(events, events[5]) // a duplicate across chunks
	var qs []Quarantined
	for i := range 800 {
		qs = append(qs, Quarantined{Where: fmt.Sprintf("f#%d", i), Reason: "bad-json", Raw: bytes.Repeat([]byte("z"), 3000)})
	}
	cp := []Checkpoint{{Source: "file:/big", Position: "end"}}

	probe, _ := openMem(t, nil)
	if _, n, err := probe.writeOne(context.Background(), &Batch{Events: events}, t0); err != nil || n >= len(events) {
		t.Fatalf("events: writeOne took %d of %d events, err %v; want fewer: the test would not exercise the split", n, len(events), err)
	}
	if _, _, err := probe.writeOne(context.Background(), &Batch{Quarantined: qs}, t0); !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("quarantine: writeOne err = %v, want ErrTxnTooBig: the test would not exercise the split", err)
	}

	split, _ := openMem(t, nil)
	res := mustWrite(t, split, &Batch{Events: events, Quarantined: qs, Checkpoints: cp})
	if res.Events != 12000 || res.Duplicates != 1 {
		t.Errorf("split Write = %+v, want 12000 events, 1 duplicate", res)
	}
	small, _ := openMem(t, nil)
	for i := 0; i < len(events); i += 500 {
		mustWrite(t, small, &Batch{Events: events[i:min(i+500, len(events))]})
	}
	for i := 0; i < len(qs); i += 100 {
		mustWrite(t, small, &Batch{Quarantined: qs[i : i+100]})
	}
	mustWrite(t, small, &Batch{Checkpoints: cp})
	// The dedup segments differ by how events were grouped into
	// transactions; what they hold must not.
	for _, db := range []*DB{split, small} {
		st, err := db.Stats(context.Background())
		if err != nil || st.Dedup != 12000 || st.CrossAccount != 50 {
			t.Errorf("Stats = %+v, %v; want 12000 event IDs in the dedup set, 50 cross-account principals", st, err)
		}
		for _, e := range events[:20] {
			if seen, err := db.Seen(context.Background(), e.ID, e.Time); err != nil || !seen {
				t.Fatalf("Seen(%s) = %v, %v; want true", e.ID, seen, err)
			}
		}
	}
	a, b := dumpUsage(t, split), dumpUsage(t, small)
	if len(a) != len(b) {
		t.Fatalf("split store has %d keys, small-batch store %d", len(a), len(b))
	}
	for k, v := range b {
		if a[k] != v {
			t.Fatalf("key %q differs: split %x, small %x", k, a[k], v)
		}
	}
}

// A batch whose values are far bigger than Write's estimate (here: no
// value sizes learned yet, and key usage with five long user agents per
// key) gets ErrTxnTooBig from Badger; Write halves the chunk and still
// gives the same store as small batches.
func TestSplitWriteEstimateShort(t *testing.T) {
	var events []Event
	for k := range 400 {
		for j := range 5 {
			i := k*5 + j
			e := ev(fmt.Sprintf("id-%d", i), alice, t0.Add(time.Duration(i)*time.Second), use("s3:GetObject", bucketA))
			events = append(events, withKey(e, fmt.Sprintf("ASIAKEY%05d", k), "10.0.0.1",
				fmt.Sprintf("agent-%d/%s", j, strings.Repeat("u", 700))))
		}
	}
	short := func(db *DB) { db.valSizes = valueSizes{} }

	probe, _ := openMem(t, nil)
	short(probe)
	if _, _, err := probe.writeOne(context.Background(), &Batch{Events: events}, t0); !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("writeOne err = %v, want ErrTxnTooBig: the test would not exercise halving", err)
	}

	split, _ := openMem(t, nil)
	short(split)
	if res := mustWrite(t, split, &Batch{Events: events}); res.Events != len(events) {
		t.Errorf("Write = %+v, want %d events", res, len(events))
	}
	small, _ := openMem(t, nil)
	for i := 0; i < len(events); i += 100 {
		mustWrite(t, small, &Batch{Events: events[i : i+100]})
	}
	a, b := dumpUsage(t, split), dumpUsage(t, small)
	if len(a) != len(b) {
		t.Fatalf("split store has %d keys, small-batch store %d", len(a), len(b))
	}
	for k, v := range b {
		if a[k] != v {
			t.Fatalf("key %q differs: split %x, small %x", k, a[k], v)
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	db, _ := openMem(t, nil)
	const writers, perWriter = 4, 300
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i += 50 {
				var b Batch
				// writers overlap: each writes events 0..perWriter with
				// its own source; event IDs are shared, so each counts once.
				for j := i; j < i+50; j++ {
					b.Events = append(b.Events, withKey(ev(fmt.Sprintf("e%d", j), alice, t0.Add(time.Duration(j)*time.Second),
						use("s3:GetObject", bucketA)), "AKIA1", "", ""))
				}
				b.Checkpoints = []Checkpoint{{Source: fmt.Sprintf("kafka:t/%d", w), Position: fmt.Sprint(i)}}
				if _, err := db.Write(context.Background(), &b); err != nil {
					errs <- err
					return
				}
				if _, err := db.Facts(context.Background(), FactQuery{Principal: alice}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fs, _ := db.Facts(context.Background(), FactQuery{Principal: alice})
	if len(fs) != 1 || fs[0].Allowed != perWriter {
		t.Errorf("Facts = %+v, want Allowed %d", fs, perWriter)
	}
	if k, _, _ := db.KeyUsage(context.Background(), "AKIA1"); k.Calls != perWriter {
		t.Errorf("Calls = %d, want %d", k.Calls, perWriter)
	}
	if cps, _ := db.Checkpoints(context.Background(), "kafka:"); len(cps) != writers {
		t.Errorf("Checkpoints = %d, want %d", len(cps), writers)
	}
}

// Real get-account-authorization-details outputs round-trip through
// PutSnapshot and compress well.
func TestSnapshotSharedData(t *testing.T) {
	const dir = "../../shared/testdata/iam-snapshots/cloudsplaining"
	data, err := os.ReadFile(filepath.Join(dir, "examples_example.json"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("snapshot round trip: shared test data not found at " + dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	db, _ := openMem(t, nil)
	ctx := context.Background()
	if err := db.PutSnapshot(ctx, Snapshot{AccountID: "200611803367", Taken: t0, Data: data}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := db.LatestSnapshot(ctx, "200611803367")
	if err != nil || !ok || !bytes.Equal(got.Data, data) {
		t.Fatalf("LatestSnapshot = %d bytes, %v, %v; want the %d bytes put", len(got.Data), ok, err, len(data))
	}
	list, _ := db.Snapshots(ctx, "200611803367")
	if len(list) != 1 || list[0].Stored*5 > int64(len(data)) {
		t.Errorf("Snapshots() = %+v, want one stored at under a fifth of %d bytes", list, len(data))
	}
	t.Logf("%d bytes stored as %d", len(data), list[0].Stored)
}

func TestState(t *testing.T) {
	db, c := openMem(t, nil)
	ctx := context.Background()
	var zero time.Time
	if err := db.PutState(ctx, State{Kind: "rotation", ID: "AKIA2", Data: []byte("created")}, &zero); err != nil {
		t.Fatalf("PutState(new, prev zero): %v", err)
	}
	c.Add(time.Minute)
	if err := db.PutState(ctx, State{Kind: "rotation", ID: "AKIA1", Data: []byte("pending")}, nil); err != nil {
		t.Fatal(err)
	}
	s, ok, err := db.GetState(ctx, "rotation", "AKIA2")
	if err != nil || !ok || string(s.Data) != "created" || !s.Updated.Equal(t0) {
		t.Fatalf("GetState = %+v, %v, %v", s, ok, err)
	}
	t.Run("compare and set", func(t *testing.T) {
		stale := t0.Add(-time.Hour)
		err := db.PutState(ctx, State{Kind: "rotation", ID: "AKIA2", Data: []byte("lost")}, &stale)
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("PutState(stale prev) err = %v, want ErrConflict", err)
		}
		if err := db.PutState(ctx, State{Kind: "rotation", ID: "AKIA2", Data: []byte("rotated")}, &s.Updated); err != nil {
			t.Fatalf("PutState(current prev): %v", err)
		}
		if err := db.PutState(ctx, State{Kind: "rotation", ID: "AKIA3"}, &stale); !errors.Is(err, ErrConflict) {
			t.Fatalf("PutState(missing record, non-zero prev) err = %v, want ErrConflict", err)
		}
	})
	all, err := db.States(ctx, "rotation")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range all {
		got = append(got, s.ID+"="+string(s.Data))
	}
	if want := []string{"AKIA1=pending", "AKIA2=rotated"}; !reflect.DeepEqual(got, want) {
		t.Errorf("States() = %q, want %q", got, want)
	}
	if err := db.DeleteState(ctx, "rotation", "AKIA1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.GetState(ctx, "rotation", "AKIA1"); ok {
		t.Error("GetState after DeleteState found the record")
	}
	if other, _ := db.States(ctx, "rotatio"); len(other) != 0 {
		t.Errorf("States(prefix of a kind) = %+v, want none", other)
	}
	if err := db.PutState(ctx, State{Kind: "rotation"}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("PutState(no ID) err = %v, want ErrInvalid", err)
	}
}

// Temporary session keys carry a Badger TTL on usage and owner index;
// long-term keys do not.
func TestTemporaryKeyTTL(t *testing.T) {
	db, _ := openMem(t, nil)
	mustWrite(t, db, &Batch{Events: []Event{
		withKey(ev("1", alice, t0), "AKIALONG", "", ""),
		withKey(ev("2", deploy, t0), "ASIASESSION", "", ""),
	}})
	tests := []struct {
		name    string
		key     []byte
		wantTTL bool
	}{
		{"long-term usage", key(pfxKey, "AKIALONG"), false},
		{"long-term index", key(pfxKeyOwner, alice, "AKIALONG"), false},
		{"session usage", key(pfxKey, "ASIASESSION"), true},
		{"session index", key(pfxKeyOwner, deploy, "ASIASESSION"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.bdb.View(func(txn *badger.Txn) error {
				item, err := txn.Get(tt.key)
				if err != nil {
					return err
				}
				if got := item.ExpiresAt() != 0; got != tt.wantTTL {
					t.Errorf("ExpiresAt = %d, want TTL %v", item.ExpiresAt(), tt.wantTTL)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPruneQuarantine(t *testing.T) {
	db, _ := openMem(t, nil)
	ctx := context.Background()
	const n = pruneChunk + 500 // more than one pruning transaction
	var qs []Quarantined
	for i := range n {
		reason := "bad-json"
		if i%2 == 1 {
			reason = "no-event-time"
		}
		qs = append(qs, Quarantined{Where: fmt.Sprintf("f#%d", i), Reason: reason, Time: t0.Add(time.Duration(i) * time.Second)})
	}
	for i := 0; i < n; i += 500 {
		mustWrite(t, db, &Batch{Quarantined: qs[i:min(i+500, n)]})
	}
	got, err := db.PruneQuarantine(ctx, t0.Add((n-3)*time.Second))
	if err != nil || got != n-3 {
		t.Fatalf("PruneQuarantine = %d, %v; want %d", got, err, n-3)
	}
	left, _ := db.Quarantine(ctx, 0)
	var where []string
	for _, q := range left {
		where = append(where, q.Where)
	}
	want := []string{fmt.Sprintf("f#%d", n-1), fmt.Sprintf("f#%d", n-2), fmt.Sprintf("f#%d", n-3)}
	if !reflect.DeepEqual(where, want) {
		t.Errorf("left after prune = %q, want %q", where, want)
	}
	counts, _ := db.QuarantineCounts(ctx)
	// n-1 = 1499 is odd (no-event-time), 1498 bad-json, 1497 no-event-time
	if want := map[string]uint64{"bad-json": 1, "no-event-time": 2}; !reflect.DeepEqual(counts, want) {
		t.Errorf("QuarantineCounts after prune = %v, want %v", counts, want)
	}
	// A pruned Where quarantined again is a new record, not a ghost.
	mustWrite(t, db, &Batch{Quarantined: []Quarantined{{Where: "f#0", Reason: "bad-json"}}})
	if q, _ := db.Quarantine(ctx, 1); len(q) != 1 || q[0].Where != "f#0" {
		t.Errorf("newest after re-quarantine = %+v, want f#0", q)
	}
	if counts, _ := db.QuarantineCounts(ctx); counts["bad-json"] != 2 {
		t.Errorf("bad-json count = %d, want 2", counts["bad-json"])
	}
}

func TestDeleteSnapshot(t *testing.T) {
	db, _ := openMem(t, nil)
	ctx := context.Background()
	for _, at := range []time.Time{t0, t0.Add(time.Hour)} {
		if err := db.PutSnapshot(ctx, Snapshot{AccountID: "1", Taken: at, Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteSnapshot(ctx, "1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s, ok, _ := db.LatestSnapshot(ctx, "1"); !ok || !s.Taken.Equal(t0) {
		t.Errorf("LatestSnapshot after delete = %v %v, want t0", s.Taken, ok)
	}
}

func TestCollectGarbageAndClose(t *testing.T) {
	db, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustWrite(t, db, &Batch{Quarantined: []Quarantined{{Where: "w", Reason: "r", Raw: bytes.Repeat([]byte("x"), 8<<10)}}})
	if err := db.CollectGarbage(ctx); err != nil {
		t.Fatalf("CollectGarbage: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close err = %v, want ErrClosed", err)
	}
	if err := db.CollectGarbage(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("CollectGarbage after Close err = %v, want ErrClosed", err)
	}
}

func TestUnixPeriods(t *testing.T) {
	for _, tc := range []struct {
		t         time.Time
		day, hour int64
	}{
		{time.Unix(0, 0), 0, 0},
		{time.Unix(3599, 0), 0, 0},
		{time.Unix(3600, 0), 0, 1},
		{time.Unix(86400, 0), 1, 24},
		{time.Unix(-1, 0), -1, -1}, // 1969-12-31T23:59:59: floored, not truncated
		{time.Unix(-86400, 0), -1, -24},
		{time.Unix(-86401, 0), -2, -25},
	} {
		if d, h := dayNumber(tc.t), dedupHour(tc.t); d != tc.day || h != tc.hour {
			t.Errorf("%v: day %d hour %d, want %d %d", tc.t.UTC(), d, h, tc.day, tc.hour)
		}
	}
}
