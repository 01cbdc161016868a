package iam

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/policy"
)

func findingKeys(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		k := f.Rule + " " + f.Principal
		if f.Method != "" {
			k += " " + f.Method
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestAuditFixture(t *testing.T) {
	cat := testCatalog(t)
	a, err := LoadFile("testdata/fixtures/account.json", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }
	const acct = "arn:aws:iam::111122223333:"
	tests := []struct {
		name   string
		maxAge time.Duration
		want   []string
	}{
		{
			name: "default 90 days",
			want: []string{
				"IAM001 " + acct + "group/admins",
				"IAM001 " + acct + "user/admin-via-group",
				"IAM002 " + acct + "user/console-no-mfa",
				"IAM003 " + acct + "root",
				"IAM005 " + acct + "user/two-keys",
				"IAM006 " + acct + "user/two-keys",
				"IAM007 " + acct + "user/two-keys",
				"IAM008 " + acct + "user/direct",
				"IAM008 " + acct + "user/self-keys",
				"IAM009 " + acct + "role/open",
				"IAM010 " + acct + "role/vendor",
				"IAM011 " + acct + "role/lambda-svc CreatePolicyVersion",
				"IAM011 " + acct + "role/lambda-svc UpdateFunctionCode",
				"IAM011 " + acct + "user/direct PassRole+EC2",
			},
		},
		{
			name:   "key age 400 days",
			maxAge: 400 * 24 * time.Hour,
			want: []string{
				"IAM001 " + acct + "group/admins",
				"IAM001 " + acct + "user/admin-via-group",
				"IAM002 " + acct + "user/console-no-mfa",
				"IAM003 " + acct + "root",
				"IAM005 " + acct + "user/two-keys",
				"IAM007 " + acct + "user/two-keys",
				"IAM008 " + acct + "user/direct",
				"IAM008 " + acct + "user/self-keys",
				"IAM009 " + acct + "role/open",
				"IAM010 " + acct + "role/vendor",
				"IAM011 " + acct + "role/lambda-svc CreatePolicyVersion",
				"IAM011 " + acct + "role/lambda-svc UpdateFunctionCode",
				"IAM011 " + acct + "user/direct PassRole+EC2",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Audit(cat, a, AuditOptions{Now: now, KeyMaxAge: tc.maxAge})
			if err != nil {
				t.Fatal(err)
			}
			if got := findingKeys(fs); !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n got %q\nwant %q", got, tc.want)
			}
			for i := 1; i < len(fs); i++ {
				if fs[i-1].Severity.rank() > fs[i].Severity.rank() {
					t.Errorf("findings not sorted by severity at %d", i)
				}
			}
			for _, f := range fs {
				if f.Fix == "" || len(f.Evidence) == 0 || f.Title == "" {
					t.Errorf("finding %s %s lacks fix, evidence or title", f.Rule, f.Principal)
				}
			}
		})
	}
	t.Run("bounded admin is not full admin", func(t *testing.T) {
		// user/bounded is in the admins group but its boundary leaves two
		// s3 actions on logs/*: a known boundary that cuts the attachment
		// down means no full-admin finding (audit.go), and nothing else.
		fs, err := Audit(cat, a, AuditOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) == 0 {
			t.Fatal("no findings at all")
		}
		for _, f := range fs {
			if f.Principal == acct+"user/bounded" {
				t.Errorf("unexpected finding %s %s", f.Rule, f.Method)
			}
		}
	})
	t.Run("evidence", func(t *testing.T) {
		fs, err := Audit(cat, a, AuditOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		// Each case must be met at least once, or the checks below ran on
		// nothing.
		seen := map[string]bool{}
		for _, f := range fs {
			switch {
			case f.Rule == RuleFullAdmin && f.Principal == acct+"user/admin-via-group", f.Rule == RuleKeyTooOld, f.Rule == RuleTrustCrossAccount:
				seen[f.Rule] = true
			}
			switch {
			case f.Rule == RuleFullAdmin && f.Principal == acct+"user/admin-via-group":
				if !slices.Contains(f.Evidence, "attached "+AdministratorAccess+" through group admins") {
					t.Errorf("admin evidence = %v", f.Evidence)
				}
			case f.Rule == RuleKeyTooOld:
				if want := "AKIAOLD0000000000001 created 2026-01-01T00:00:00Z (326 days ago)"; f.Evidence[0] != want {
					t.Errorf("key age evidence = %q, want %q", f.Evidence[0], want)
				}
			case f.Rule == RuleTrustCrossAccount:
				if want := "trust policy statement 0: 444455556666"; f.Evidence[0] != want {
					t.Errorf("trust evidence = %q, want %q", f.Evidence[0], want)
				}
			}
		}
		for _, r := range []string{RuleFullAdmin, RuleKeyTooOld, RuleTrustCrossAccount} {
			if !seen[r] {
				t.Errorf("no %s finding to check the evidence of", r)
			}
		}
	})
	t.Run("clock required", func(t *testing.T) {
		if _, err := Audit(cat, a, AuditOptions{}); err == nil {
			t.Error("Audit without Now did not fail")
		}
	})
}

func TestEscalationMethodsUseCatalogActions(t *testing.T) {
	cat := testCatalog(t)
	for _, m := range EscalationMethods() {
		for _, a := range m.All {
			if _, ok := cat.Lookup(a); !ok {
				t.Errorf("method %s: action %s not in the catalog", m.Name, a)
			}
		}
	}
}

func TestExternalIDRequired(t *testing.T) {
	tests := []struct {
		name string
		c    policy.ConditionDoc
		want bool
	}{
		{"StringEquals", policy.ConditionDoc{Operator: "StringEquals", Key: "sts:ExternalId", Values: []string{"x-123"}}, true},
		{"key case", policy.ConditionDoc{Operator: "stringequals", Key: "STS:externalid", Values: []string{"x-123"}}, true},
		{"StringLike literal", policy.ConditionDoc{Operator: "StringLike", Key: "sts:ExternalId", Values: []string{"x-123"}}, true},
		{"StringLike star", policy.ConditionDoc{Operator: "StringLike", Key: "sts:ExternalId", Values: []string{"*"}}, false},
		{"StringLike prefix", policy.ConditionDoc{Operator: "StringLike", Key: "sts:ExternalId", Values: []string{"x-1", "x-?"}}, false},
		{"IfExists", policy.ConditionDoc{Operator: "StringEqualsIfExists", Key: "sts:ExternalId", Values: []string{"x-123"}}, false},
		{"ForAllValues", policy.ConditionDoc{Operator: "ForAllValues:StringEquals", Key: "sts:ExternalId", Values: []string{"x-123"}}, false},
		{"ForAnyValue", policy.ConditionDoc{Operator: "ForAnyValue:StringEquals", Key: "sts:ExternalId", Values: []string{"x-123"}}, true},
		{"negated", policy.ConditionDoc{Operator: "StringNotEquals", Key: "sts:ExternalId", Values: []string{"x-123"}}, false},
		{"Null", policy.ConditionDoc{Operator: "Null", Key: "sts:ExternalId", Values: []string{"false"}}, false},
		{"other key", policy.ConditionDoc{Operator: "StringEquals", Key: "aws:PrincipalOrgID", Values: []string{"o-1"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExternalIDRequired(tc.c); got != tc.want {
				t.Fatalf("ExternalIDRequired(%+v)=%v, want %v", tc.c, got, tc.want)
			}
		})
	}
}

func TestAuditTrustPolicies(t *testing.T) {
	cat := testCatalog(t)
	now := func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name         string
		stmt         string
		wantRule     string // "" for no trust finding
		wantSeverity Severity
		wantEvidence string
	}{
		{"bare account id", `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole"}`,
			RuleTrustCrossAccount, SeverityHigh, "trust policy statement 0: 444455556666"},
		{"own account id", `{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}`, "", "", ""},
		{"ExternalId StringEquals", `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x-123"}}}`, "", "", ""},
		{"ExternalId StringLike literal", `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole","Condition":{"StringLike":{"sts:ExternalId":"x-123"}}}`, "", "", ""},
		{"ExternalId StringLike star", `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole","Condition":{"StringLike":{"sts:ExternalId":"*"}}}`,
			RuleTrustCrossAccount, SeverityHigh, "trust policy statement 0: 444455556666, conditions: StringLike sts:ExternalId (any or no ExternalId passes)"},
		{"ExternalId IfExists", `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole","Condition":{"StringEqualsIfExists":{"sts:ExternalId":"x-123"}}}`,
			RuleTrustCrossAccount, SeverityHigh, "trust policy statement 0: 444455556666, conditions: StringEqualsIfExists sts:ExternalId (any or no ExternalId passes)"},
		{"weak ExternalId with org condition", `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole","Condition":{"StringLike":{"sts:ExternalId":"*"},"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}`, "", "", ""},
		{"any principal with weak ExternalId", `{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringLike":{"sts:ExternalId":"*"}}}`,
			RuleTrustAnyPrincipal, SeverityCritical, "trust policy statement 0: Principal *, conditions: StringLike sts:ExternalId"},
		{"any principal with ExternalId", `{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x-123"}}}`,
			RuleTrustAnyPrincipal, SeverityMedium, "trust policy statement 0: Principal *, conditions: StringEquals sts:ExternalId"},
		{"NotPrincipal", `{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/u"},"Action":"sts:AssumeRole"}`,
			RuleTrustAnyPrincipal, SeverityCritical, "trust policy statement 0: NotPrincipal arn:aws:iam::111122223333:user/u, no conditions"},
		{"NotPrincipal everyone", `{"Effect":"Allow","NotPrincipal":"*","Action":"sts:AssumeRole"}`, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const role = "arn:aws:iam::111122223333:role/r"
			a, err := Parse([]byte(`{"RoleDetailList":[{"RoleName":"r","Path":"/","Arn":"`+role+`","AssumeRolePolicyDocument":`+stmts(tc.stmt)+`}]}`), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fs, err := Audit(cat, a, AuditOptions{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			var got []Finding
			for _, f := range fs {
				if f.Principal == role && (f.Rule == RuleTrustAnyPrincipal || f.Rule == RuleTrustCrossAccount) {
					got = append(got, f)
				}
			}
			if tc.wantRule == "" {
				if len(got) != 0 {
					t.Fatalf("trust findings %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("trust findings %+v, want one %s", got, tc.wantRule)
			}
			f := got[0]
			if f.Rule != tc.wantRule || f.Severity != tc.wantSeverity || len(f.Evidence) != 1 || f.Evidence[0] != tc.wantEvidence {
				t.Errorf("finding = %s %s %q, want %s %s %q", f.Rule, f.Severity, f.Evidence, tc.wantRule, tc.wantSeverity, tc.wantEvidence)
			}
		})
	}
}

// SkippedChecks names the checks a snapshot without credential data
// cannot answer, and stops naming them once a credential report is merged.
func TestSkippedChecks(t *testing.T) {
	const doc = `{"UserDetailList":[
	  {"UserName":"alice","Arn":"arn:aws:iam::111122223333:user/alice"},
	  {"UserName":"bob","Arn":"arn:aws:iam::111122223333:user/bob","AccessKeys":[{"AccessKeyId":"AKIAB","Status":"Active","CreateDate":"2026-01-01T00:00:00Z"}]}]}`
	const report = "user,arn,password_enabled,mfa_active,access_key_1_active,access_key_1_last_rotated\n" +
		"<root_account>,arn:aws:iam::111122223333:root,not_supported,true,false,N/A\n" +
		"alice,arn:aws:iam::111122223333:user/alice,true,false,false,N/A\n" +
		"bob,arn:aws:iam::111122223333:user/bob,false,false,true,2026-01-01T00:00:00Z\n"
	summary := func(sk []SkippedCheck) []string {
		var out []string
		for _, s := range sk {
			out = append(out, fmt.Sprint(s.Rules, s.Principals))
		}
		return out
	}
	a, err := Parse([]byte(doc), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := summary(SkippedChecks(a))
	want := []string{
		"[IAM002] [arn:aws:iam::111122223333:user/alice arn:aws:iam::111122223333:user/bob]",
		"[IAM005 IAM006 IAM007] [arn:aws:iam::111122223333:user/alice]",
		"[IAM003 IAM004] [arn:aws:iam::111122223333:root]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("without a credential report: skipped %q, want %q", got, want)
	}
	rows, err := ParseCredentialReport(strings.NewReader(report))
	if err != nil {
		t.Fatal(err)
	}
	a.ApplyCredentialReport(rows)
	if got := SkippedChecks(a); len(got) != 0 {
		t.Errorf("with a credential report: skipped %+v, want none", got)
	}
	// No account id: no root user to check.
	b, err := Parse([]byte(`{"UserDetailList":[],"RoleDetailList":[]}`), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(SkippedChecks(b)); !slices.Equal(got, []string{"[IAM003 IAM004] []"}) {
		t.Errorf("no account id: skipped %q", got)
	}
}

func TestAuditNamesRotationInProgress(t *testing.T) {
	cat := testCatalog(t)
	a, err := LoadFile("testdata/fixtures/account.json", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }
	twoKeys := func(rot map[string]string) Finding {
		t.Helper()
		fs, err := Audit(cat, a, AuditOptions{Now: now, Rotations: rot})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Rule == RuleTwoActiveKeys && f.Principal == "arn:aws:iam::111122223333:user/two-keys" {
				return f
			}
		}
		t.Fatal("no two-active-keys finding")
		return Finding{}
	}
	if f := twoKeys(nil); f.Severity != SeverityMedium || f.Title != "two active access keys" {
		t.Errorf("without rotation: %+v", f)
	}
	note := "rotation in progress (draining since 2026-11-20T00:00:00Z): old key AKIAOLD0000000000001, new key AKIANEW0000000000002"
	f := twoKeys(map[string]string{"AKIANEW0000000000002": note, "AKIAOTHERUSER0000000": "other"})
	if f.Severity != SeverityInfo || f.Title != "two active access keys: "+note {
		t.Errorf("with rotation: %+v", f)
	}
	if f := twoKeys(map[string]string{"AKIAOTHERUSER0000000": "other"}); f.Severity != SeverityMedium {
		t.Errorf("another user's rotation changed the finding: %+v", f)
	}
}
