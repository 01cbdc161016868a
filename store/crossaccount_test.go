package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

const (
	acctOwn   = "111122223333"
	acctProd  = "444455556666"
	acctAudit = "777788889999"
)

// xev is an event of principal from account into recipient.
func xev(id, principal, account, recipient string, at time.Time, uses ...Use) Event {
	e := ev(id, principal, at, uses...)
	e.AccountID, e.RecipientAccountID = account, recipient
	return e
}

func TestCrossAccount(t *testing.T) {
	m := time.Minute
	// More recipients than the cap, one a minute: the latest are kept.
	var many []Event
	for i := range MaxRecipientAccounts + 3 {
		many = append(many, xev(fmt.Sprintf("m%d", i), deploy, acctOwn, fmt.Sprintf("9%011d", i), t0.Add(time.Duration(i)*m)))
	}
	var kept []AccountSeen
	for i := MaxRecipientAccounts + 2; i >= 3; i-- {
		at := t0.Add(time.Duration(i) * m)
		kept = append(kept, AccountSeen{AccountID: fmt.Sprintf("9%011d", i), FirstSeen: at, LastSeen: at, Calls: 1})
	}

	for _, tc := range []struct {
		name    string
		batches [][]Event
		want    []CrossAccount // every principal with cross-account calls, by principal
		events  int            // events counted over all batches
	}{
		{
			name: "same-account calls record nothing",
			batches: [][]Event{{
				xev("1", alice, acctOwn, acctOwn, t0, use("s3:GetObject", bucketA)),
				xev("2", bob, acctOwn, acctOwn, t0, use("sts:GetCallerIdentity", "*")),
			}},
			events: 2,
		},
		{
			name: "an event without either account records nothing",
			batches: [][]Event{{
				xev("1", alice, "", acctProd, t0, use("s3:GetObject", bucketA)),
				xev("2", alice, acctOwn, "", t0, use("s3:GetObject", bucketA)),
				ev("3", alice, t0, use("s3:GetObject", bucketA)),
			}},
			events: 3,
		},
		{
			name: "a call on * keeps the recipient account",
			batches: [][]Event{{
				xev("1", deploy, acctOwn, acctProd, t0, use("ec2:DescribeInstances", "*")),
			}},
			want: []CrossAccount{{Principal: deploy, AccountID: acctOwn, Recipients: []AccountSeen{
				{AccountID: acctProd, FirstSeen: t0, LastSeen: t0, Calls: 1},
			}}},
			events: 1,
		},
		{
			name: "calls summed with first and last across batches, most recent first",
			batches: [][]Event{
				{
					xev("1", deploy, acctOwn, acctProd, t0.Add(10*m), use("s3:GetObject", bucketA)),
					xev("2", deploy, acctOwn, acctOwn, t0.Add(90*m), use("s3:GetObject", bucketA)), // same account: not counted
					xev("3", deploy, acctOwn, acctAudit, t0.Add(20*m)),
					xev("4", deploy, acctOwn, acctProd, t0.Add(5*m)),
				},
				{
					xev("5", deploy, acctOwn, acctProd, t0.Add(30*m)),
					xev("6", deploy, acctOwn, acctAudit, t0.Add(-time.Hour)),
					xev("7", alice, acctOwn, acctAudit, t0),
				},
			},
			want: []CrossAccount{ // byte order: ":role/deploy" < ":user/alice"
				{Principal: deploy, AccountID: acctOwn, Recipients: []AccountSeen{
					{AccountID: acctProd, FirstSeen: t0.Add(5 * m), LastSeen: t0.Add(30 * m), Calls: 3},
					{AccountID: acctAudit, FirstSeen: t0.Add(-time.Hour), LastSeen: t0.Add(20 * m), Calls: 2},
				}},
				{Principal: alice, AccountID: acctOwn, Recipients: []AccountSeen{
					{AccountID: acctAudit, FirstSeen: t0, LastSeen: t0, Calls: 1},
				}},
			},
			events: 7,
		},
		{
			name: "re-ingesting the same events changes nothing",
			batches: [][]Event{
				{xev("1", deploy, acctOwn, acctProd, t0), xev("2", deploy, acctOwn, acctProd, t0.Add(m))},
				{xev("1", deploy, acctOwn, acctProd, t0), xev("2", deploy, acctOwn, acctProd, t0.Add(m))},
				{xev("2", deploy, acctOwn, acctProd, t0.Add(m)), xev("2", deploy, acctOwn, acctProd, t0.Add(m))},
			},
			want: []CrossAccount{{Principal: deploy, AccountID: acctOwn, Recipients: []AccountSeen{
				{AccountID: acctProd, FirstSeen: t0, LastSeen: t0.Add(m), Calls: 2},
			}}},
			events: 2,
		},
		{
			name: "the own account of the latest call wins",
			batches: [][]Event{
				{xev("1", deploy, acctAudit, acctProd, t0.Add(m))},
				{xev("2", deploy, acctOwn, acctProd, t0)}, // older: does not replace
			},
			want: []CrossAccount{{Principal: deploy, AccountID: acctAudit, Recipients: []AccountSeen{
				{AccountID: acctProd, FirstSeen: t0, LastSeen: t0.Add(m), Calls: 2},
			}}},
			events: 2,
		},
		{
			name:    fmt.Sprintf("at most %d recipients, the most recent", MaxRecipientAccounts),
			batches: [][]Event{many[:10], many[10:]},
			want:    []CrossAccount{{Principal: deploy, AccountID: acctOwn, Recipients: kept}},
			events:  len(many),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openMem(t, nil)
			ctx := context.Background()
			events := 0
			for _, b := range tc.batches {
				events += mustWrite(t, db, &Batch{Events: b}).Events
			}
			if events != tc.events {
				t.Fatalf("Write counted %d events, want %d", events, tc.events)
			}
			var got []CrossAccount
			if err := db.EachCrossAccount(ctx, func(c CrossAccount) error { got = append(got, c); return nil }); err != nil {
				t.Fatalf("EachCrossAccount: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("EachCrossAccount =\n%+v\nwant\n%+v", got, tc.want)
			}
			for _, p := range []string{alice, bob, deploy} {
				c, found, err := db.CrossAccount(ctx, p)
				if err != nil {
					t.Fatalf("CrossAccount(%s): %v", p, err)
				}
				var want CrossAccount
				wantFound := false
				for _, w := range tc.want {
					if w.Principal == p {
						want, wantFound = w, true
					}
				}
				if found != wantFound || (found && !reflect.DeepEqual(c, want)) {
					t.Errorf("CrossAccount(%s) = %+v, %v; want %+v, %v", p, c, found, want, wantFound)
				}
			}
			st, err := db.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := st.CrossAccount, int64(len(tc.want)); got != want {
				t.Errorf("Stats().CrossAccount = %d, want %d", got, want)
			}
		})
	}
}

// Cross-account calls add their own records and nothing else: every
// other key and value is what the same calls within one account write.
// So a store written before cross-account recording reads as it did
// (it merely has no such records), and a build that predates it reads
// a newer store, skipping the keys it does not know.
func TestCrossAccountLeavesOtherRecordsAlone(t *testing.T) {
	events := func(recipient string) []Event {
		var out []Event
		for i := range 20 {
			e := xev(fmt.Sprintf("e%d", i), deploy, acctOwn, recipient, t0.Add(time.Duration(i)*time.Minute), use("s3:GetObject", "*"))
			e.AccessKeyID, e.SessionName, e.SourceIP = "ASIATEMP", fmt.Sprintf("s%d", i%3), "10.0.0.1"
			out = append(out, e)
		}
		return out
	}
	same, _ := openMem(t, nil)
	mustWrite(t, same, &Batch{Events: events(acctOwn)})
	cross, _ := openMem(t, nil)
	mustWrite(t, cross, &Batch{Events: events(acctProd)})

	a, b := dumpUsage(t, same), dumpUsage(t, cross)
	for k := range b {
		if k[0] == pfxCrossAcct {
			delete(b, k)
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("records other than cross-account differ:\nsame-account  %q\ncross-account %q", a, b)
	}
	if _, found, _ := cross.CrossAccount(context.Background(), deploy); !found {
		t.Fatal("CrossAccount(deploy) not found in the cross-account store")
	}
}

// A store written before cross-account recording (no x keys) opens,
// reports none, and starts recording on the next write.
func TestCrossAccountOnOlderStore(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(Options{Dir: dir, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	old := ev("1", deploy, t0, use("s3:GetObject", bucketA))
	old.SessionName = "s1"
	mustWrite(t, db, &Batch{Events: []Event{old}})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(Options{Dir: dir, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if _, found, err := db.CrossAccount(ctx, deploy); err != nil || found {
		t.Fatalf("CrossAccount on an older store = %v, %v; want none", found, err)
	}
	mustWrite(t, db, &Batch{Events: []Event{xev("2", deploy, acctOwn, acctProd, t0.Add(time.Minute))}})
	c, found, err := db.CrossAccount(ctx, deploy)
	if err != nil || !found || len(c.Recipients) != 1 || c.Recipients[0].AccountID != acctProd {
		t.Fatalf("CrossAccount after a cross-account write = %+v, %v, %v", c, found, err)
	}
	if s, found, err := db.Sessions(ctx, deploy); err != nil || !found || len(s.SessionNames) != 1 {
		t.Fatalf("Sessions = %+v, %v, %v; want the older record intact", s, found, err)
	}
}

// The stored encoding is pinned: a change to it must come with a way to
// read what is already stored.
func TestCrossAccountEncoding(t *testing.T) {
	c := CrossAccount{Principal: deploy, AccountID: acctOwn, Recipients: []AccountSeen{
		{AccountID: acctProd, FirstSeen: time.Unix(0, 1).UTC(), LastSeen: time.Unix(0, 2).UTC(), Calls: 3},
	}}
	// own account, 1 entry: account, first, last (zigzag varints), calls.
	const golden = "0c313131313232323233333333" + "01" + "0c343434343535353536363636" + "02" + "04" + "03"
	enc := encodeCrossAccount(nil, c)
	if got := hex.EncodeToString(enc); got != golden {
		t.Fatalf("encodeCrossAccount = %s, want %s", got, golden)
	}
	raw, _ := hex.DecodeString(golden)
	got, err := decodeCrossAccount(deploy, raw)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("decodeCrossAccount(golden) = %+v, %v; want %+v", got, err, c)
	}
	for name, b := range map[string][]byte{
		"truncated":      raw[:len(raw)-1],
		"trailing bytes": append(append([]byte{}, raw...), 0),
		"huge count":     {0, 0xff, 0x7f},
	} {
		if _, err := decodeCrossAccount(deploy, b); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeCrossAccount(%s) err = %v, want errCorrupt", name, err)
		}
	}
}
