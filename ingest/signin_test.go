package ingest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/store"
)

// Console sign-ins in the shapes CloudTrail writes them (AWS CloudTrail
// User Guide, "AWS Management Console sign-in events"; IAM User Guide,
// "Logging IAM and AWS STS API calls with AWS CloudTrail"): the outcome
// from responseElements.ConsoleLogin, MFA from
// additionalEventData.MFAUsed, charged to the user, the root user or,
// for a federated sign-in, the role.
func TestConsoleSignIn(t *testing.T) {
	c := testConverter(t)
	signin := func(identity, extra string) string {
		return mk(identity, "signin", "ConsoleLogin", `,"eventType":"AwsConsoleSignIn","requestParameters":null`+extra)
	}
	const (
		noMFA   = `,"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"No"}`
		withMFA = `,"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAIdentifier":"arn:aws:iam::111122223333:u2f/user/alice/default-AAAA","MFAUsed":"Yes"}`
		success = `,"responseElements":{"ConsoleLogin":"Success"}`
		failure = `,"errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"}`
		root    = `{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":""}`
		user    = `{"type":"IAMUser","principalId":"AIDA1","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"","userName":"alice"}`
		// A SAML sign-in through the federation endpoint: MFA, if any,
		// was the identity provider's.
		saml   = `{"type":"AssumedRole","principalId":"AROA1:jane@example.com","arn":"arn:aws:sts::111122223333:assumed-role/Admins/jane@example.com","accountId":"111122223333","accessKeyId":"ASIAFED","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA1","arn":"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admins_0123","accountId":"111122223333","userName":"AWSReservedSSO_Admins_0123"},"attributes":{"creationDate":"2024-05-06T07:08:09Z","mfaAuthenticated":"false"}}}`
		hidden = `{"type":"IAMUser","accountId":"111122223333","accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"}`
	)
	for _, tc := range []struct {
		name, raw string
		kind      Kind
		principal string
		out       store.SignIn
		mfa       bool
	}{
		{"user without MFA", signin(user, success+noMFA), KindPermissionless, "arn:aws:iam::111122223333:user/alice", store.SignInSuccess, false},
		{"user with MFA", signin(user, success+withMFA), KindPermissionless, "arn:aws:iam::111122223333:user/alice", store.SignInSuccess, true},
		{"user, wrong password", signin(user, failure+noMFA), KindPermissionless, "arn:aws:iam::111122223333:user/alice", store.SignInFailure, false},
		{"root without MFA", signin(root, success+noMFA), KindPermissionless, "arn:aws:iam::111122223333:root", store.SignInSuccess, false},
		{"root with MFA", signin(root, success+withMFA), KindPermissionless, "arn:aws:iam::111122223333:root", store.SignInSuccess, true},
		{"federated into a role", signin(saml, success+noMFA), KindPermissionless, "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admins_0123", store.SignInSuccess, false},
		{"keys in another case", signin(user, `,"ResponseElements":{"consolelogin":"Failure"},"AdditionalEventData":{"mfaUsed":"Yes"}`), KindPermissionless, "arn:aws:iam::111122223333:user/alice", store.SignInFailure, true},
		{"no outcome recorded", signin(user, ""), KindPermissionless, "arn:aws:iam::111122223333:user/alice", store.SignInSuccess, false},
		{"outcome of the wrong type", signin(user, `,"responseElements":{"ConsoleLogin":false},"additionalEventData":"Yes"`), KindPermissionless, "arn:aws:iam::111122223333:user/alice", store.SignInSuccess, false},
		{"unknown user name", signin(hidden, failure+noMFA), KindNonPrincipal, "", store.SignInNone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := convertOne(t, c, tc.raw)
			if r.Kind != tc.kind || r.Event.Principal != tc.principal || r.Event.SignIn != tc.out || r.Event.MFAUsed != tc.mfa {
				t.Errorf("got kind %v principal %q sign-in %v MFA %v; want %v %q %v %v",
					r.Kind, r.Event.Principal, r.Event.SignIn, r.Event.MFAUsed, tc.kind, tc.principal, tc.out, tc.mfa)
			}
		})
	}
	// Only ConsoleLogin is a sign-in, not other calls with such fields.
	r := convertOne(t, c, mk(user, "signin", "SwitchRole", success+noMFA))
	if r.Event.SignIn != store.SignInNone {
		t.Errorf("SwitchRole read as sign-in %v", r.Event.SignIn)
	}
	r = convertOne(t, c, mk(user, "iam", "GetUser", `,"responseElements":{"ConsoleLogin":"Success"}`))
	if r.Event.SignIn != store.SignInNone {
		t.Errorf("GetUser read as sign-in %v", r.Event.SignIn)
	}
}

// Every ConsoleLogin record of the shared samples (IAM users, root users,
// federated roles; successes and failures) reads as an independent
// encoding/json reading of the same record says.
func TestConsoleSignInSharedSamples(t *testing.T) {
	files := sharedFiles(t)
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConverter(ConverterOptions{Catalog: cat, KeepRaw: true, Now: func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	results, _ := convertFiles(t, c, files)
	var n, failures, mfa int
	types := map[string]int{}
	for _, r := range results {
		e := r.Event
		if e.EventName != "ConsoleLogin" || e.EventSource != "signin.amazonaws.com" {
			if e.SignIn != store.SignInNone {
				t.Errorf("%s/%s read as a sign-in", e.EventSource, e.EventName)
			}
			continue
		}
		var ref struct {
			ResponseElements    struct{ ConsoleLogin string }
			AdditionalEventData struct{ MFAUsed string }
		}
		// Fields of unexpected types are left empty, as the record reader
		// leaves them.
		_ = json.Unmarshal(e.Raw, &ref)
		want := store.SignInSuccess
		if ref.ResponseElements.ConsoleLogin == "Failure" {
			want = store.SignInFailure
		}
		if e.SignIn != want || e.MFAUsed != (ref.AdditionalEventData.MFAUsed == "Yes") {
			t.Errorf("event %s: sign-in %v MFA %v, the record says %q and MFAUsed %q",
				e.ID, e.SignIn, e.MFAUsed, ref.ResponseElements.ConsoleLogin, ref.AdditionalEventData.MFAUsed)
		}
		n++
		types[e.PrincipalType]++
		if e.SignIn == store.SignInFailure {
			failures++
		}
		if e.MFAUsed {
			mfa++
		}
	}
	t.Logf("%d sign-ins: %d failed, %d with MFA, by type %v", n, failures, mfa, types)
	if n < 10 || failures == 0 || mfa == 0 || types["Root"] == 0 || types["IAMUser"] == 0 || types["AssumedRole"] == 0 {
		t.Fatalf("the samples gave %d sign-ins (%d failed, %d with MFA, types %v): too few shapes to prove anything", n, failures, mfa, types)
	}
}
