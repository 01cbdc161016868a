package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/iamd/iamd/store"
)

// genClock is Options.Now while the fixture is written; the golden
// answers hold at genClock + 1h.
var genClock = time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)

// The fixture's accounts and principals.
const (
	account = "111122223333"
	other   = "444455556666"
	alice   = "arn:aws:iam::111122223333:user/alice"
	bob     = "arn:aws:iam::111122223333:user/bob"
	deploy  = "arn:aws:iam::111122223333:role/deploy"
	root    = "arn:aws:iam::111122223333:root"
)

// fixture is what genstore writes into every version's store: events in
// batches with quarantined records and checkpoints, snapshots, states.
// It touches every record kind and both forms of schema 1's dedup keys
// (UUIDs and other IDs), with exact redeliveries, two uses in one event,
// cross-account calls, session keys and console sign-ins (password ones
// with and without MFA, federated, failed), while staying under every
// cap of a Seen list (MaxKeySeen, MaxSessionSeen, MaxSignInSeen,
// MaxRecipientAccounts) so that the expected answers do not depend on
// how events fall into batches. An action with more resources than
// MaxTopResources needs no such care: its top lists are exact whatever
// the batches.
type fixture struct {
	batches   []store.Batch
	snapshots []store.Snapshot
	states    []store.State
}

func newFixture() fixture {
	rng := rand.New(rand.NewPCG(14, 2))
	t := time.Date(2026, 11, 7, 8, 0, 0, 0, time.UTC)
	var events []store.Event
	for i := range 120 {
		t = t.Add(time.Duration(1+rng.IntN(40)) * time.Minute)
		events = append(events, fixtureEvent(rng, i, t))
		if i%10 == 9 {
			t = t.Add(time.Minute)
			events = append(events, signInEvent(rng, i/10, t))
		}
	}
	var f fixture
	// Three batches; the later ones redeliver earlier events (the same
	// record again), within a batch and across batches.
	b1, b2, b3 := events[:40], events[40:80], events[80:]
	f.batches = []store.Batch{
		{
			Events:      b1,
			Quarantined: []store.Quarantined{{Where: "file:/trail/a.json.gz record 7 offset 5120", Reason: "bad-json", Detail: "unexpected end of JSON input", Raw: []byte(`{"eventVersion":`), Time: genClock.Add(-50 * time.Hour)}},
			Checkpoints: []store.Checkpoint{{Source: "file:/trail/a.json.gz", Position: "40", Updated: genClock.Add(-50 * time.Hour)}},
		},
		{
			Events:      append(append([]store.Event{}, b2...), b1[3], b1[17], b1[38]),
			Checkpoints: []store.Checkpoint{{Source: "file:/trail/a.json.gz", Position: "80", Updated: genClock.Add(-40 * time.Hour)}},
		},
		{
			Events: append(append([]store.Event{}, b3...), b3[0], b3[5], b2[39]),
			Quarantined: []store.Quarantined{
				{Where: "file:/trail/b.json.gz record 2 offset 900", Reason: "no-event-time", Detail: "eventTime missing", Time: genClock.Add(-30 * time.Hour)},
				{Where: "kafka:cloudtrail/0 offset 77", Reason: "bad-json", Detail: "invalid character 'x'", Raw: []byte("x"), Time: genClock.Add(-29 * time.Hour)},
				// The first record again, now with another reason: it keeps
				// its place and the counts move.
				{Where: "file:/trail/a.json.gz record 7 offset 5120", Reason: "truncated", Detail: "unexpected EOF", Raw: []byte(`{"eventVersion":`), Time: genClock.Add(-28 * time.Hour)},
			},
			Checkpoints: []store.Checkpoint{
				{Source: "file:/trail/a.json.gz", Position: "120", Updated: genClock.Add(-28 * time.Hour)},
				{Source: "kafka:cloudtrail/0", Position: "78", Updated: genClock.Add(-28 * time.Hour)},
			},
		},
	}
	f.snapshots = []store.Snapshot{
		{AccountID: account, Taken: genClock.Add(-48 * time.Hour), Data: []byte(`{"UserDetailList":[{"UserName":"alice"},{"UserName":"bob"}]}`)},
		{AccountID: account, Taken: genClock.Add(-24 * time.Hour), Data: []byte(`{"UserDetailList":[{"UserName":"alice"}],"RoleDetailList":[{"RoleName":"deploy"}]}`)},
		{AccountID: other, Taken: genClock.Add(-24 * time.Hour), Data: []byte(`{"RoleDetailList":[]}`)},
	}
	f.states = []store.State{
		{Kind: "rotation", ID: aliceKey, Data: []byte(`{"phase":"verify"}`), Updated: genClock.Add(-2 * time.Hour)},
		{Kind: "rotation", ID: bobKey, Data: []byte(`{"phase":"created"}`), Updated: genClock.Add(-1 * time.Hour)},
	}
	return f
}

const (
	aliceKey = "AKIAIOSFODNN7ALICE01"
	bobKey   = "AKIAIOSFODNN7BOB0002"
)

// fixtureEvent is the i-th event, at t.
func fixtureEvent(rng *rand.Rand, i int, t time.Time) store.Event {
	e := store.Event{
		ID:                 fixtureID(rng, i),
		Time:               t,
		AccountID:          account,
		RecipientAccountID: account,
		Region:             "us-east-1",
	}
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	switch i % 4 {
	case 0:
		e.Principal, e.PrincipalType = alice, "IAMUser"
		e.AccessKeyID = aliceKey
		e.SourceIP = pick("198.51.100.7", "198.51.100.8")
		e.UserAgent = pick("aws-cli/2.15.0 Python/3.11", "Boto3/1.34.0")
		switch {
		case i%12 == 0:
			e.EventSource, e.EventName, e.ErrorCode = "iam.amazonaws.com", "CreateUser", "AccessDenied"
			e.Outcome = store.OutcomeDenied
			e.Uses = []store.Use{{Action: "iam:CreateUser", Resource: "arn:aws:iam::111122223333:user/mallory"}}
		case i%24 == 8:
			// Refused on a bucket the user otherwise writes to.
			e.EventSource, e.EventName, e.ErrorCode = "s3.amazonaws.com", "PutObject", "AccessDenied"
			e.Outcome = store.OutcomeDenied
			e.Uses = []store.Use{{Action: "s3:PutObject", Resource: fmt.Sprintf("arn:aws:s3:::reports/locked/q%d.csv", 1+rng.IntN(2))}}
		default:
			verb := pick("GetObject", "PutObject")
			e.EventSource, e.EventName = "s3.amazonaws.com", verb
			// More objects than an action's top lists keep.
			e.Uses = []store.Use{{Action: "s3:" + verb, Resource: fmt.Sprintf("arn:aws:s3:::reports/q%d.csv", 1+rng.IntN(2*store.MaxTopResources))}}
		}
	case 1:
		e.Principal, e.PrincipalType = bob, "IAMUser"
		e.AccessKeyID = bobKey
		e.SourceIP = pick("203.0.113.1", "203.0.113.2", "203.0.113.3")
		e.UserAgent = "aws-sdk-go-v2/1.30.0"
		if rng.IntN(2) == 0 {
			e.EventSource, e.EventName = "ec2.amazonaws.com", "DescribeInstances"
			e.Uses = []store.Use{{Action: "ec2:DescribeInstances", Resource: "*"}}
		} else {
			e.EventSource, e.EventName = "kms.amazonaws.com", "Decrypt"
			e.Uses = []store.Use{{Action: "kms:Decrypt", Resource: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}
		}
	case 2:
		e.Principal, e.PrincipalType = deploy, "AssumedRole"
		session := 1 + rng.IntN(3)
		e.SessionName = fmt.Sprintf("ci-%d", session)
		e.AccessKeyID = fmt.Sprintf("ASIAQNZGKIQY5DEPLOY%d", session)
		e.SourceIP = "10.0.0." + fmt.Sprint(session)
		e.UserAgent = "aws-cli/2.15.0 Python/3.11"
		if rng.IntN(3) == 0 {
			e.SourceIdentity = "carol"
		}
		switch rng.IntN(3) {
		case 0:
			e.EventSource, e.EventName = "cloudformation.amazonaws.com", "UpdateStack"
			e.Uses = []store.Use{{Action: "cloudformation:UpdateStack", Resource: "arn:aws:cloudformation:us-east-1:111122223333:stack/app/1"}}
		case 1:
			// A call into another account's bucket.
			e.EventSource, e.EventName = "s3.amazonaws.com", "GetObject"
			e.RecipientAccountID = other
			e.Uses = []store.Use{{Action: "s3:GetObject", Resource: "arn:aws:s3:::shared-artifacts/build.zip"}}
		default:
			// Two actions in one record, and one of them twice.
			key := "arn:aws:kms:us-east-1:111122223333:key/5678"
			e.EventSource, e.EventName = "kms.amazonaws.com", "ReEncrypt"
			e.Uses = []store.Use{{Action: "kms:ReEncryptFrom", Resource: key}, {Action: "kms:ReEncryptTo", Resource: key}, {Action: "kms:ReEncryptFrom", Resource: key}}
		}
	default:
		e.Principal, e.PrincipalType = root, "Root"
		e.SourceIP = "192.0.2.10"
		e.UserAgent = "console.amazonaws.com"
		e.EventSource, e.EventName = "iam.amazonaws.com", "ListUsers"
		e.Uses = []store.Use{{Action: "iam:ListUsers", Resource: "*"}}
	}
	if i%20 == 5 {
		e.Raw = []byte(fmt.Sprintf(`{"eventID":%q,"eventName":%q}`, e.ID, e.EventName))
	}
	return e
}

// signInEvent is the i-th console sign-in, at t.
func signInEvent(rng *rand.Rand, i int, t time.Time) store.Event {
	e := store.Event{
		ID: fixtureID(rng, 1000+i), Time: t, AccountID: account, RecipientAccountID: account, Region: "us-east-1",
		EventSource: "signin.amazonaws.com", EventName: "ConsoleLogin", SignIn: store.SignInSuccess,
		SourceIP:  []string{"198.51.100.20", "198.51.100.21", "203.0.113.50"}[rng.IntN(3)],
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	}
	switch i % 6 {
	case 0, 3:
		e.Principal, e.PrincipalType, e.MFAUsed = alice, "IAMUser", true
	case 1:
		e.Principal, e.PrincipalType = alice, "IAMUser"
	case 2:
		e.Principal, e.PrincipalType, e.SignIn = bob, "IAMUser", store.SignInFailure
	case 4:
		e.Principal, e.PrincipalType = root, "Root"
	default:
		// A SAML sign-in into the role: MFA is the identity provider's.
		e.Principal, e.PrincipalType, e.SessionName = deploy, "AssumedRole", "carol@example.com"
	}
	return e
}

// fixtureID gives most events a canonical lowercase UUID, as CloudTrail
// does, and some an uppercase one or no UUID at all: schema 1 kept those
// under another prefix.
func fixtureID(rng *rand.Rand, i int) string {
	a, b := rng.Uint64(), rng.Uint64()
	id := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, a>>16&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
	switch {
	case i%17 == 3:
		return fmt.Sprintf("evt-%d-%x", i, a&0xffffff)
	case i%10 == 7:
		return strings.ToUpper(id)
	}
	return id
}
