package trailgen

import (
	"encoding/json"
	"strings"
	"testing"
)

// granted reads the snapshot into principal ARN → granted actions.
func granted(t *testing.T, data []byte) map[string]map[string]bool {
	t.Helper()
	var d authDetails
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("snapshot does not decode as get-account-authorization-details: %v", err)
	}
	managed := map[string][]string{}
	for _, p := range d.Policies {
		for _, v := range p.PolicyVersionList {
			if v.IsDefaultVersion {
				for _, s := range v.Document.Statement {
					managed[p.Arn] = append(managed[p.Arn], actionsOf(s)...)
				}
			}
		}
	}
	groups := map[string][]string{}
	for _, g := range d.GroupDetailList {
		for _, ip := range g.GroupPolicyList {
			for _, s := range ip.PolicyDocument.Statement {
				groups[g.GroupName] = append(groups[g.GroupName], actionsOf(s)...)
			}
		}
		for _, ap := range g.AttachedManagedPolicies {
			groups[g.GroupName] = append(groups[g.GroupName], managed[ap.PolicyArn]...)
		}
	}
	out := map[string]map[string]bool{}
	add := func(arn string, acts []string) {
		if out[arn] == nil {
			out[arn] = map[string]bool{}
		}
		for _, a := range acts {
			out[arn][a] = true
		}
	}
	for _, u := range d.UserDetailList {
		add(u.Arn, nil)
		for _, ip := range u.UserPolicyList {
			for _, s := range ip.PolicyDocument.Statement {
				add(u.Arn, actionsOf(s))
			}
		}
		for _, g := range u.GroupList {
			add(u.Arn, groups[g])
		}
	}
	for _, r := range d.RoleDetailList {
		add(r.Arn, nil)
		if len(r.AssumeRolePolicyDocument.Statement) == 0 {
			t.Fatalf("role %s has no trust policy", r.Arn)
		}
		for _, ip := range r.RolePolicyList {
			for _, s := range ip.PolicyDocument.Statement {
				add(r.Arn, actionsOf(s))
			}
		}
		for _, ap := range r.AttachedManagedPolicies {
			if _, ok := managed[ap.PolicyArn]; !ok {
				t.Fatalf("role %s attaches %s, not in Policies", r.Arn, ap.PolicyArn)
			}
			add(r.Arn, managed[ap.PolicyArn])
		}
	}
	return out
}

func actionsOf(s statement) []string {
	switch a := s.Action.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

func TestIAMSnapshot(t *testing.T) {
	o := smallOptions(17)
	o.Accounts = []string{"111122223333", "444455556666"}
	g := mustNew(t, o)
	_, m := generateLines(t, o, false)
	for _, acct := range o.Accounts {
		t.Run(acct, func(t *testing.T) {
			data, err := g.IAMSnapshot(acct)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := g.IAMSnapshot(acct)
			if string(again) != string(data) {
				t.Fatal("snapshot not deterministic")
			}
			if got := findSecretLike(data); len(got) > 0 || strings.Contains(string(data), "AKIA") {
				t.Fatalf("snapshot carries key material: %v", got)
			}
			checkGrants(t, data, m, acct)
		})
	}
	t.Run("unknown account", func(t *testing.T) {
		if _, err := g.IAMSnapshot("999999999999"); err == nil {
			t.Fatal("IAMSnapshot of an unknown account succeeded")
		}
	})
}

// checkGrants checks the snapshot of acct against the manifest: every
// allowed action is granted, no denied action is, and some granted
// actions go unused.
func checkGrants(t *testing.T, data []byte, m *Manifest, acct string) {
	t.Helper()
	grants := granted(t, data)
	checked, unused := 0, 0
	for _, u := range m.Usage {
		if !strings.Contains(u.Principal, "::"+acct+":") || strings.HasSuffix(u.Principal, ":root") {
			continue
		}
		g, ok := grants[u.Principal]
		if !ok {
			t.Fatalf("principal %s used %s but is not in the snapshot", u.Principal, u.Action)
		}
		if u.Allowed > 0 && !g[u.Action] {
			t.Errorf("%s was allowed %s %d times but the snapshot does not grant it", u.Principal, u.Action, u.Allowed)
		}
		if u.Denied > 0 && g[u.Action] {
			t.Errorf("%s was denied %s but the snapshot grants it", u.Principal, u.Action)
		}
		checked++
	}
	used := map[string]bool{}
	for _, u := range m.Usage {
		used[u.Principal+" "+u.Action] = true
	}
	for p, acts := range grants {
		for a := range acts {
			if !used[p+" "+a] {
				unused++
			}
		}
	}
	if checked == 0 || unused == 0 {
		t.Fatalf("checked %d usage rows, %d granted-but-unused actions; want both > 0", checked, unused)
	}
}

func TestIAMSnapshotAcrossSeeds(t *testing.T) {
	for seed := int64(100); seed < 108; seed++ {
		o := DefaultOptions(seed)
		o.Events, o.DeniedRate = 1500, 0.08
		g := mustNew(t, o)
		_, m := generateLines(t, o, false)
		data, err := g.IAMSnapshot(g.Accounts()[0])
		if err != nil {
			t.Fatal(err)
		}
		checkGrants(t, data, m, g.Accounts()[0])
	}
}
