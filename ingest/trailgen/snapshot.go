package trailgen

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// The get-account-authorization-details shapes (as the AWS CLI prints
// them: policy documents decoded to JSON objects).
type (
	authDetails struct {
		UserDetailList  []userDetail   `json:"UserDetailList"`
		GroupDetailList []groupDetail  `json:"GroupDetailList"`
		RoleDetailList  []roleDetail   `json:"RoleDetailList"`
		Policies        []policyDetail `json:"Policies"`
		IsTruncated     bool           `json:"IsTruncated"`
	}
	userDetail struct {
		Path                    string           `json:"Path"`
		UserName                string           `json:"UserName"`
		UserID                  string           `json:"UserId"`
		Arn                     string           `json:"Arn"`
		CreateDate              string           `json:"CreateDate"`
		UserPolicyList          []inlinePolicy   `json:"UserPolicyList"`
		GroupList               []string         `json:"GroupList"`
		AttachedManagedPolicies []attachedPolicy `json:"AttachedManagedPolicies"`
		Tags                    []tag            `json:"Tags"`
	}
	groupDetail struct {
		Path                    string           `json:"Path"`
		GroupName               string           `json:"GroupName"`
		GroupID                 string           `json:"GroupId"`
		Arn                     string           `json:"Arn"`
		CreateDate              string           `json:"CreateDate"`
		GroupPolicyList         []inlinePolicy   `json:"GroupPolicyList"`
		AttachedManagedPolicies []attachedPolicy `json:"AttachedManagedPolicies"`
	}
	roleDetail struct {
		Path                     string            `json:"Path"`
		RoleName                 string            `json:"RoleName"`
		RoleID                   string            `json:"RoleId"`
		Arn                      string            `json:"Arn"`
		CreateDate               string            `json:"CreateDate"`
		AssumeRolePolicyDocument policyDocument    `json:"AssumeRolePolicyDocument"`
		InstanceProfileList      []instanceProfile `json:"InstanceProfileList"`
		RolePolicyList           []inlinePolicy    `json:"RolePolicyList"`
		AttachedManagedPolicies  []attachedPolicy  `json:"AttachedManagedPolicies"`
		Tags                     []tag             `json:"Tags"`
		RoleLastUsed             struct{}          `json:"RoleLastUsed"`
	}
	instanceProfile struct {
		Path                string `json:"Path"`
		InstanceProfileName string `json:"InstanceProfileName"`
		InstanceProfileID   string `json:"InstanceProfileId"`
		Arn                 string `json:"Arn"`
		CreateDate          string `json:"CreateDate"`
		Roles               []any  `json:"Roles"`
	}
	policyDetail struct {
		PolicyName                    string          `json:"PolicyName"`
		PolicyID                      string          `json:"PolicyId"`
		Arn                           string          `json:"Arn"`
		Path                          string          `json:"Path"`
		DefaultVersionID              string          `json:"DefaultVersionId"`
		AttachmentCount               int             `json:"AttachmentCount"`
		PermissionsBoundaryUsageCount int             `json:"PermissionsBoundaryUsageCount"`
		IsAttachable                  bool            `json:"IsAttachable"`
		CreateDate                    string          `json:"CreateDate"`
		UpdateDate                    string          `json:"UpdateDate"`
		PolicyVersionList             []policyVersion `json:"PolicyVersionList"`
	}
	policyVersion struct {
		Document         policyDocument `json:"Document"`
		VersionID        string         `json:"VersionId"`
		IsDefaultVersion bool           `json:"IsDefaultVersion"`
		CreateDate       string         `json:"CreateDate"`
	}
	inlinePolicy struct {
		PolicyName     string         `json:"PolicyName"`
		PolicyDocument policyDocument `json:"PolicyDocument"`
	}
	attachedPolicy struct {
		PolicyName string `json:"PolicyName"`
		PolicyArn  string `json:"PolicyArn"`
	}
	tag struct {
		Key   string `json:"Key"`
		Value string `json:"Value"`
	}
	policyDocument struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}
	statement struct {
		Sid       string         `json:"Sid,omitempty"`
		Effect    string         `json:"Effect"`
		Principal map[string]any `json:"Principal,omitempty"`
		Action    any            `json:"Action"`
		Resource  any            `json:"Resource,omitempty"`
	}
)

// Customer managed policies of every synthetic account. Their actions are
// outside the operation table, so they are granted and never used (and
// never denied).
var managedPolicies = []struct {
	name     string
	versions [][]string // oldest first; the last is the default
	forUsers bool       // attached to the humans' group (else to service roles)
}{
	{name: "SelfServiceCredentials", forUsers: true, versions: [][]string{
		{"iam:ChangePassword", "iam:GetAccountPasswordPolicy"},
		{"iam:ChangePassword", "iam:GetAccountPasswordPolicy", "iam:ListMFADevices", "iam:CreateVirtualMFADevice"},
	}},
	{name: "app-logging", versions: [][]string{
		{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
	}},
}

// grantStatements turns operation indexes into one Allow statement per
// service, actions sorted, Resource "*".
func grantStatements(ops ...[]int) []statement {
	bySvc := map[string]map[string]bool{}
	for _, list := range ops {
		for _, i := range list {
			o := opTable[i]
			if o.noPerm {
				continue
			}
			svc, _, _ := strings.Cut(o.action, ":")
			if bySvc[svc] == nil {
				bySvc[svc] = map[string]bool{}
			}
			bySvc[svc][o.action] = true
		}
	}
	svcs := make([]string, 0, len(bySvc))
	for s := range bySvc {
		svcs = append(svcs, s)
	}
	sort.Strings(svcs)
	out := make([]statement, 0, len(svcs))
	for _, s := range svcs {
		acts := make([]string, 0, len(bySvc[s]))
		for a := range bySvc[s] {
			acts = append(acts, a)
		}
		sort.Strings(acts)
		out = append(out, statement{Sid: sidFor(s), Effect: "Allow", Action: acts, Resource: "*"})
	}
	return out
}

func sidFor(s string) string {
	var b strings.Builder
	up := true
	for _, c := range s {
		if c == '-' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteRune(c)
	}
	return b.String() + "Access"
}

func stringsOrOne(list []string) any {
	if len(list) == 1 {
		return list[0]
	}
	return list
}

// automationBaseline is the inline policy of the machine users' group.
var automationBaseline = []statement{{Sid: "Identity", Effect: "Allow", Action: "sts:GetCallerIdentity", Resource: "*"}}

// userStatements is a user's inline policy: what it and the federated
// users it issues use and a bit more, the human roles it may assume, the
// federation tokens it may issue and, for machine users, iam:PassRole on
// the account's roles (which no record ever shows: a permission only).
func (w *world) userStatements(ui int) []statement {
	p := w.principals[ui]
	ops := [][]int{p.ops, p.extra}
	for _, fi := range w.federated {
		if fp := w.principals[fi]; fp.issuer == ui {
			ops = append(ops, fp.ops, fp.extra)
		}
	}
	stmts := grantStatements(ops...)
	var assumable []string
	for _, ri := range w.roles {
		for _, a := range w.principals[ri].assumer {
			if a == ui {
				assumable = append(assumable, w.principals[ri].arn)
			}
		}
	}
	if len(assumable) > 0 {
		sort.Strings(assumable)
		stmts = append(stmts, statement{Sid: "AssumeTeamRoles", Effect: "Allow", Action: []string{"sts:AssumeRole", "sts:SetSourceIdentity"}, Resource: stringsOrOne(assumable)})
	}
	for _, fi := range w.federated {
		if w.principals[fi].issuer == ui {
			stmts = append(stmts, statement{Sid: "IssueFederationTokens", Effect: "Allow", Action: "sts:GetFederationToken", Resource: "arn:aws:sts::" + p.account + ":federated-user/contractor-*"})
			break
		}
	}
	if !p.human {
		stmts = append(stmts, statement{Sid: "PassServiceRoles", Effect: "Allow", Action: passRole, Resource: "arn:aws:iam::" + p.account + ":role/*"})
	}
	return stmts
}

// roleStatements is a role's inline policy.
func (w *world) roleStatements(ri int) []statement {
	p := w.principals[ri]
	return grantStatements(p.ops, p.extra)
}

const passRole = "iam:PassRole"

// grantedActions returns every action the IAM snapshot grants principal
// pi (a user or role): its inline policy, its group's policies and its
// managed policies (default versions), sorted.
func (w *world) grantedActions(pi int) []string {
	p := w.principals[pi]
	set := map[string]bool{}
	add := func(stmts []statement) {
		for _, st := range stmts {
			switch a := st.Action.(type) {
			case string:
				set[a] = true
			case []string:
				for _, x := range a {
					set[x] = true
				}
			}
		}
	}
	managed := func(name string) {
		for _, mp := range managedPolicies {
			if mp.name == name {
				for _, a := range mp.versions[len(mp.versions)-1] {
					set[a] = true
				}
			}
		}
	}
	switch p.kind {
	case kindUser:
		add(w.userStatements(pi))
		if p.human {
			managed("SelfServiceCredentials")
		} else {
			add(automationBaseline)
		}
	case kindRole:
		add(w.roleStatements(pi))
		if p.use != useHuman {
			managed("app-logging")
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// IAMSnapshot returns the IAM configuration of one synthetic account in
// `aws iam get-account-authorization-details` JSON shape: users with
// groups, inline and attached policies granting what they use and a bit
// more (never what they are denied), roles with trust policies, and the
// customer managed policies with their versions. Access keys are not part
// of that output, and neither is anything secret.
func (g *Generator) IAMSnapshot(account string) ([]byte, error) {
	w := g.world
	found := false
	for _, a := range w.accounts {
		found = found || a == account
	}
	if !found {
		return nil, fmt.Errorf("iam snapshot: account %s is not generated (have %v)", account, w.accounts)
	}
	created := g.opts.Start.AddDate(-2, 0, 0).Format(timeLayout)
	id := func(prefix, name string) string {
		// Stable unique ids derived from the name, in the account's id space.
		h := uint64(14695981039346656037)
		for _, c := range []byte(prefix + name) {
			h = (h ^ uint64(c)) * 1099511628211
		}
		var b strings.Builder
		b.WriteString(prefix + w.infix[account])
		for range 9 {
			b.WriteByte(b32[h%32])
			h /= 32
		}
		return b.String()
	}
	var d authDetails
	attach := map[string]int{}
	policyARN := func(name string) string { return "arn:aws:iam::" + account + ":policy/" + name }

	var humans, bots []string
	for _, ui := range w.users {
		p := w.principals[ui]
		if p.account != account {
			continue
		}
		stmts := w.userStatements(ui)
		u := userDetail{Path: "/", UserName: p.name, UserID: p.id, Arn: p.arn, CreateDate: p.created,
			GroupList: []string{}, AttachedManagedPolicies: []attachedPolicy{}, Tags: []tag{}}
		if len(stmts) > 0 {
			u.UserPolicyList = []inlinePolicy{{PolicyName: p.name + "-access", PolicyDocument: policyDocument{Version: "2012-10-17", Statement: stmts}}}
		} else {
			u.UserPolicyList = []inlinePolicy{}
		}
		if p.human {
			u.GroupList = append(u.GroupList, "developers")
			humans = append(humans, p.name)
		} else {
			u.GroupList = append(u.GroupList, "automation")
			u.Tags = append(u.Tags, tag{Key: "owner", Value: "platform-team"})
			bots = append(bots, p.name)
		}
		d.UserDetailList = append(d.UserDetailList, u)
	}
	if len(humans) > 0 {
		attach["SelfServiceCredentials"]++
		d.GroupDetailList = append(d.GroupDetailList, groupDetail{Path: "/", GroupName: "developers", GroupID: id("AGPA", "developers"),
			Arn: "arn:aws:iam::" + account + ":group/developers", CreateDate: created, GroupPolicyList: []inlinePolicy{},
			AttachedManagedPolicies: []attachedPolicy{{PolicyName: "SelfServiceCredentials", PolicyArn: policyARN("SelfServiceCredentials")}}})
	}
	if len(bots) > 0 {
		d.GroupDetailList = append(d.GroupDetailList, groupDetail{Path: "/", GroupName: "automation", GroupID: id("AGPA", "automation"),
			Arn: "arn:aws:iam::" + account + ":group/automation", CreateDate: created, AttachedManagedPolicies: []attachedPolicy{},
			GroupPolicyList: []inlinePolicy{{PolicyName: "automation-baseline", PolicyDocument: policyDocument{Version: "2012-10-17",
				Statement: automationBaseline}}}})
	}

	for _, ri := range w.roles {
		p := w.principals[ri]
		if p.account != account {
			continue
		}
		trust := statement{Effect: "Allow", Action: "sts:AssumeRole"}
		switch p.use {
		case useHuman:
			var arns []string
			for _, a := range p.assumer {
				arns = append(arns, w.principals[a].arn)
			}
			sort.Strings(arns)
			trust.Principal = map[string]any{"AWS": stringsOrOne(arns)}
			trust.Action = []string{"sts:AssumeRole", "sts:SetSourceIdentity"}
		default:
			trust.Principal = map[string]any{"Service": roleUseService[p.use]}
		}
		r := roleDetail{Path: "/", RoleName: p.name, RoleID: p.id, Arn: p.arn, CreateDate: p.created,
			AssumeRolePolicyDocument: policyDocument{Version: "2012-10-17", Statement: []statement{trust}},
			InstanceProfileList:      []instanceProfile{}, AttachedManagedPolicies: []attachedPolicy{}, Tags: []tag{}}
		if stmts := w.roleStatements(ri); len(stmts) > 0 {
			r.RolePolicyList = []inlinePolicy{{PolicyName: p.name + "-policy", PolicyDocument: policyDocument{Version: "2012-10-17", Statement: stmts}}}
		} else {
			r.RolePolicyList = []inlinePolicy{}
		}
		if p.use != useHuman {
			attach["app-logging"]++
			r.AttachedManagedPolicies = append(r.AttachedManagedPolicies, attachedPolicy{PolicyName: "app-logging", PolicyArn: policyARN("app-logging")})
		}
		if p.use == useEC2 {
			r.InstanceProfileList = append(r.InstanceProfileList, instanceProfile{Path: "/", InstanceProfileName: p.name,
				InstanceProfileID: id("AIPA", p.name), Arn: "arn:aws:iam::" + account + ":instance-profile/" + p.name, CreateDate: p.created, Roles: []any{}})
		}
		d.RoleDetailList = append(d.RoleDetailList, r)
	}
	for _, mp := range managedPolicies {
		pd := policyDetail{PolicyName: mp.name, PolicyID: id("ANPA", mp.name), Arn: policyARN(mp.name), Path: "/",
			DefaultVersionID: fmt.Sprintf("v%d", len(mp.versions)), AttachmentCount: attach[mp.name], IsAttachable: true,
			CreateDate: created, UpdateDate: created}
		for vi := len(mp.versions) - 1; vi >= 0; vi-- { // newest first, as IAM lists them
			pd.PolicyVersionList = append(pd.PolicyVersionList, policyVersion{
				Document:         policyDocument{Version: "2012-10-17", Statement: []statement{{Effect: "Allow", Action: mp.versions[vi], Resource: "*"}}},
				VersionID:        fmt.Sprintf("v%d", vi+1),
				IsDefaultVersion: vi == len(mp.versions)-1,
				CreateDate:       created,
			})
		}
		d.Policies = append(d.Policies, pd)
	}
	if d.UserDetailList == nil {
		d.UserDetailList = []userDetail{}
	}
	if d.GroupDetailList == nil {
		d.GroupDetailList = []groupDetail{}
	}
	if d.RoleDetailList == nil {
		d.RoleDetailList = []roleDetail{}
	}
	data, err := json.MarshalIndent(d, "", "    ")
	if err != nil {
		return nil, fmt.Errorf("iam snapshot of %s: %w", account, err)
	}
	return append(data, '\n'), nil
}

// WriteIAMSnapshot writes the IAM snapshot of the first account.
func (g *Generator) WriteIAMSnapshot(w io.Writer) error {
	data, err := g.IAMSnapshot(g.world.accounts[0])
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write iam snapshot: %w", err)
	}
	return nil
}
