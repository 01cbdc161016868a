package iam

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/policy"
)

// TestRefusalActionsInCatalog keeps the AWS rules' action lists in step
// with the catalog: a misspelt action would silently refuse nothing.
func TestRefusalActionsInCatalog(t *testing.T) {
	cat := testCatalog(t)
	for _, r := range policy.Refusals() {
		for _, a := range r.Actions {
			if _, ok := cat.Lookup(a); !ok {
				t.Errorf("%v: action %s is not in the catalog", r.Rule, a)
			}
		}
	}
	for _, a := range []string{"sts:GetCallerIdentity", "sts:GetSessionToken"} {
		if _, ok := cat.Lookup(a); !ok {
			t.Errorf("%s is not in the catalog", a)
		}
	}
}

// awsRule returns the AWS-rule narrowing of g, if any.
func awsRule(g Grant) (Narrowing, bool) {
	for _, n := range g.Narrowed {
		if n.Kind == NarrowAWSRule {
			return n, true
		}
	}
	return Narrowing{}, false
}

// TestGrantedFollowsServiceRules checks that granted sets follow the AWS
// rules the policy engine applies: no principal is granted changing what
// only AWS may change, and the calls that need no permission are no grant.
func TestGrantedFollowsServiceRules(t *testing.T) {
	admin := oneUser(stmts(`{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}`), "", "", "")
	t.Run("admin", func(t *testing.T) {
		s := grantedFor(t, mustParse(t, admin), nil, userARN)
		tests := []struct {
			action string
			rule   string
			not    string
		}{
			{"iam:DeletePolicy", "aws-managed-policy-read-only", "not arn:*:iam::aws:policy/*"},
			{"iam:SetDefaultPolicyVersion", "aws-managed-policy-read-only", "not arn:*:iam::aws:policy/*"},
			{"iam:UpdateAssumeRolePolicy", "aws-reserved-role-protected", "not arn:*:iam::*:role/aws-reserved/*"},
			{"iam:AttachRolePolicy", "aws-reserved-role-protected", "not arn:*:iam::*:role/aws-reserved/*"},
			{"kms:DeleteAlias", "aws-kms-alias-reserved", "not arn:*:kms:*:*:alias/aws/*"},
		}
		for _, tt := range tests {
			g, ok := s.Lookup(tt.action)
			if !ok {
				t.Errorf("%s not granted to an admin at all (customer resources remain)", tt.action)
				continue
			}
			n, ok := awsRule(g)
			if !ok || n.Rule != tt.rule || !slices.Equal(n.Resources, []string{tt.not}) || g.AllResources {
				t.Errorf("%s: AllResources %v, narrowed %+v, want the %s rule excluding %s", tt.action, g.AllResources, g.Narrowed, tt.rule, tt.not)
			}
			if !slices.Equal(g.Resources, []string{"*"}) || g.Conditional {
				t.Errorf("%s: resources %v conditional %v, want * unconditionally", tt.action, g.Resources, g.Conditional)
			}
			if got, want := n.Source(), "AWS rule "+tt.rule; got != want {
				t.Errorf("Source()=%q, want %q", got, want)
			}
		}
		for _, a := range []string{"iam:GetPolicy", "iam:PassRole", "iam:CreateUser", "kms:ListAliases"} {
			g, ok := s.Lookup(a)
			if !ok || !g.AllResources || len(g.Narrowed) != 0 {
				t.Errorf("%s: %+v (granted %v), want every resource without narrowing", a, g, ok)
			}
		}
		for _, a := range []string{"sts:GetCallerIdentity", "sts:GetSessionToken"} {
			if s.Has(a) {
				t.Errorf("%s is in the granted set; it needs no permission", a)
			}
		}
		if got, want := s.Len(), testCatalog(t).Len()-noPermissionCalls; got != want {
			t.Errorf("Len()=%d, want %d", got, want)
		}
	})
	tests := []struct {
		name    string
		doc     string
		action  string
		granted bool
		res     []string
	}{
		{"only AWS-managed policies", oneUser(stmts(`{"Effect":"Allow","Action":"iam:DeletePolicy","Resource":"arn:aws:iam::aws:policy/*"}`), "", "", ""),
			"iam:DeletePolicy", false, nil},
		{"AWS-managed and own policies", oneUser(stmts(`{"Effect":"Allow","Action":"iam:CreatePolicyVersion","Resource":["arn:aws:iam::aws:policy/*","arn:aws:iam::111122223333:policy/team-*"]}`), "", "", ""),
			"iam:CreatePolicyVersion", true, []string{"arn:aws:iam::111122223333:policy/team-*"}},
		{"any account's policies", oneUser(stmts(`{"Effect":"Allow","Action":"iam:TagPolicy","Resource":"arn:aws:iam::*:policy/*"}`), "", "", ""),
			"iam:TagPolicy", true, []string{"arn:aws:iam::*:policy/*"}},
		{"only reserved roles", oneUser(stmts(`{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::111122223333:role/aws-reserved/*"}`), "", "", ""),
			"iam:PutRolePolicy", false, nil},
		{"reserved roles, pass role", oneUser(stmts(`{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::111122223333:role/aws-reserved/*"}`), "", "", ""),
			"iam:PassRole", true, []string{"arn:aws:iam::111122223333:role/aws-reserved/*"}},
		{"boundary reaches only reserved roles", oneUser(stmts(`{"Effect":"Allow","Action":"*","Resource":"*"}`), "",
			stmts(`{"Effect":"Allow","Action":"iam:*Role*","Resource":"arn:aws:iam::*:role/aws-reserved/*"}`), ""),
			"iam:DeleteRole", false, nil},
		{"only reserved aliases", oneUser(stmts(`{"Effect":"Allow","Action":"kms:*Alias","Resource":"arn:aws:kms:*:111122223333:alias/aws/*"}`), "", "", ""),
			"kms:UpdateAlias", false, nil},
		{"caller identity allowed explicitly", oneUser(stmts(`{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}`), "", "", ""),
			"sts:GetCallerIdentity", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := grantedFor(t, mustParse(t, tt.doc), nil, userARN)
			g, ok := s.Lookup(tt.action)
			if ok != tt.granted {
				t.Fatalf("%s granted=%v (%+v), want %v", tt.action, ok, g, tt.granted)
			}
			if ok && !slices.Equal(g.Resources, tt.res) {
				t.Errorf("%s on %v, want %v", tt.action, g.Resources, tt.res)
			}
		})
	}
}

// TestAuditFollowsServiceRules: full admin stays full admin although AWS
// keeps some resources to itself, and a grant that reaches only AWS's own
// resources is no privilege escalation.
func TestAuditFollowsServiceRules(t *testing.T) {
	cat := testCatalog(t)
	now := func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		doc  string
		want []string // rules (and methods) found for the user
	}{
		{"admin", oneUser(stmts(`{"Effect":"Allow","Action":"*","Resource":"*"}`), "", "", ""), []string{"IAM001", "IAM008"}},
		{"versions of AWS-managed policies only", oneUser(stmts(`{"Effect":"Allow","Action":["iam:CreatePolicyVersion","iam:SetDefaultPolicyVersion"],"Resource":"arn:aws:iam::aws:policy/*"}`), "", "", ""),
			[]string{"IAM008"}},
		{"versions of own policies", oneUser(stmts(`{"Effect":"Allow","Action":"iam:CreatePolicyVersion","Resource":["arn:aws:iam::aws:policy/*","arn:aws:iam::111122223333:policy/*"]}`), "", "", ""),
			[]string{"IAM008", "IAM011 CreatePolicyVersion"}},
		{"inline policies of reserved roles only", oneUser(stmts(`{"Effect":"Allow","Action":["iam:PutRolePolicy","iam:AttachRolePolicy","iam:UpdateAssumeRolePolicy"],"Resource":"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/*"}`), "", "", ""),
			[]string{"IAM008"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := Audit(cat, mustParse(t, tt.doc), AuditOptions{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				if f.Principal == userARN {
					got = append(got, strings.TrimSpace(f.Rule+" "+f.Method))
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings %v, want %v", got, tt.want)
			}
		})
	}
}

// TestGrantedServiceLinkedRoleChangesReservedRoles: Identity Center's
// service-linked role is how AWS changes the /aws-reserved/ roles, so its
// grant on them stands, while the same policy on an ordinary role grants
// nothing there.
func TestGrantedServiceLinkedRoleChangesReservedRoles(t *testing.T) {
	doc := stmts(`{"Effect":"Allow","Action":["iam:PutRolePolicy","iam:DeleteRole"],"Resource":"arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*"}`)
	role := func(path, name string) string {
		return `{"RoleName":"` + name + `","Path":"` + path + `","Arn":"arn:aws:iam::111122223333:role` + path + name + `","AssumeRolePolicyDocument":` +
			stmts(`{"Effect":"Allow","Principal":{"Service":"sso.amazonaws.com"},"Action":"sts:AssumeRole"}`) +
			`,"RolePolicyList":[{"PolicyName":"p","PolicyDocument":` + doc + `}]}`
	}
	a := mustParse(t, `{"RoleDetailList":[`+role("/aws-service-role/sso.amazonaws.com/", "AWSServiceRoleForSSO")+`,`+role("/", "lookalike")+`]}`)
	slr := grantedFor(t, a, nil, "arn:aws:iam::111122223333:role/aws-service-role/sso.amazonaws.com/AWSServiceRoleForSSO")
	other := grantedFor(t, a, nil, "arn:aws:iam::111122223333:role/lookalike")
	if g, ok := slr.Lookup("iam:PutRolePolicy"); !ok || len(g.Narrowed) != 0 {
		t.Errorf("service-linked role: PutRolePolicy %+v (granted %v), want granted without narrowing", g, ok)
	}
	if other.Has("iam:PutRolePolicy") || other.Len() != 0 {
		t.Errorf("ordinary role granted %d actions on reserved roles, want none", other.Len())
	}
}
