package iam

import (
	"slices"
	"sort"
	"testing"
	"time"
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
		// s3 actions on logs/*: AdministratorAccess through the group is
		// still reported by attachment, and nothing else.
		fs, _ := Audit(cat, a, AuditOptions{Now: now})
		for _, f := range fs {
			if f.Principal == acct+"user/bounded" && f.Rule != RuleFullAdmin {
				t.Errorf("unexpected finding %s %s", f.Rule, f.Method)
			}
		}
	})
	t.Run("evidence", func(t *testing.T) {
		fs, _ := Audit(cat, a, AuditOptions{Now: now})
		for _, f := range fs {
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
