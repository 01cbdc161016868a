package iam

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/policy"
)

// Severity ranks a finding.
type Severity string

// Severities, most severe first.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityInfo     Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case SeverityCritical:
		return 0
	case SeverityHigh:
		return 1
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 3
	}
	return 4
}

// AtLeast reports whether s is as severe as t or more.
func (s Severity) AtLeast(t Severity) bool { return s.rank() <= t.rank() }

// ParseSeverity reads a severity name, in any case.
func ParseSeverity(name string) (Severity, error) {
	switch s := Severity(strings.ToLower(name)); s {
	case SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo:
		return s, nil
	}
	return "", fmt.Errorf("severity %q: want critical, high, medium, low or info", name)
}

// Rule ids. They are stable: reports and suppressions refer to them.
const (
	RuleFullAdmin           = "IAM001" // full administrator access
	RuleConsoleNoMFA        = "IAM002" // console password without MFA
	RuleRootAccessKey       = "IAM003" // root user has access keys
	RuleRootNoMFA           = "IAM004" // root user without MFA
	RuleTwoActiveKeys       = "IAM005" // user with two active access keys
	RuleKeyTooOld           = "IAM006" // active access key older than the maximum age
	RuleKeyNeverUsed        = "IAM007" // active access key never used
	RuleDirectPolicies      = "IAM008" // user with inline or directly attached policies
	RuleTrustAnyPrincipal   = "IAM009" // role trust policy allows any principal
	RuleTrustCrossAccount   = "IAM010" // role trust policy allows another account without conditions
	RulePrivilegeEscalation = "IAM011" // principal can escalate its privileges
	RuleUnknownPolicies     = "IAM012" // permissions partly unknown
)

// Finding is one audit result.
type Finding struct {
	Rule      string
	Severity  Severity
	Principal string // ARN
	Title     string
	// Method names the privilege-escalation method (IAM011 only).
	Method   string   `json:",omitempty"`
	Evidence []string // statements, attachments, dates that show the problem
	Fix      string
}

// AdministratorAccess is the ARN of the AWS-managed full-admin policy.
const AdministratorAccess = "arn:aws:iam::aws:policy/AdministratorAccess"

// AuditOptions tune Audit.
type AuditOptions struct {
	// KeyMaxAge is the age beyond which an active access key is reported
	// (default 90 days, the IAM best-practice rotation period).
	KeyMaxAge time.Duration
	// Now is the clock; required.
	Now func() time.Time
	// Org is the organization layer (optional).
	Org *Org
	// Rotations notes the access keys of key rotations in progress (key
	// ID → what the rotation is doing), as the rotator's state says: a
	// user whose second active key belongs to one gets an informational
	// two-active-keys finding naming it instead of a violation, since
	// rotating needs both keys until the old one is idle.
	Rotations map[string]string
}

// EscalationMethod is a combination of actions that lets a principal
// raise its own privileges (after Rhino Security Labs, "AWS IAM Privilege
// Escalation – Methods and Mitigation", and the IAM Vulnerable project).
// A principal has the method when it is granted every action of All.
type EscalationMethod struct {
	Name string
	All  []string
	// OthersOnly: the actions matter only when they reach principals other
	// than the caller, so a grant limited to ${aws:username} does not count.
	OthersOnly bool
	Why        string
}

// EscalationMethods returns the documented privilege-escalation methods.
func EscalationMethods() []EscalationMethod {
	return []EscalationMethod{
		{Name: "CreatePolicyVersion", All: []string{"iam:CreatePolicyVersion"}, Why: "writes a new default version of a policy attached to itself"},
		{Name: "SetDefaultPolicyVersion", All: []string{"iam:SetDefaultPolicyVersion"}, Why: "switches an attached policy to a more permissive old version"},
		{Name: "AttachUserPolicy", All: []string{"iam:AttachUserPolicy"}, Why: "attaches AdministratorAccess to a user"},
		{Name: "AttachGroupPolicy", All: []string{"iam:AttachGroupPolicy"}, Why: "attaches AdministratorAccess to a group"},
		{Name: "AttachRolePolicy", All: []string{"iam:AttachRolePolicy"}, Why: "attaches AdministratorAccess to a role"},
		{Name: "PutUserPolicy", All: []string{"iam:PutUserPolicy"}, Why: "writes an inline admin policy on a user"},
		{Name: "PutGroupPolicy", All: []string{"iam:PutGroupPolicy"}, Why: "writes an inline admin policy on a group"},
		{Name: "PutRolePolicy", All: []string{"iam:PutRolePolicy"}, Why: "writes an inline admin policy on a role"},
		{Name: "AddUserToGroup", All: []string{"iam:AddUserToGroup"}, Why: "joins a more privileged group"},
		{Name: "UpdateAssumeRolePolicy", All: []string{"iam:UpdateAssumeRolePolicy"}, Why: "lets itself assume a privileged role"},
		{Name: "CreateAccessKey", All: []string{"iam:CreateAccessKey"}, OthersOnly: true, Why: "creates access keys for another user"},
		{Name: "CreateLoginProfile", All: []string{"iam:CreateLoginProfile"}, OthersOnly: true, Why: "sets a console password for another user"},
		{Name: "UpdateLoginProfile", All: []string{"iam:UpdateLoginProfile"}, OthersOnly: true, Why: "changes another user's console password"},
		{Name: "PassRole+EC2", All: []string{"iam:PassRole", "ec2:RunInstances"}, Why: "runs an instance with a privileged instance profile"},
		{Name: "PassRole+Lambda", All: []string{"iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"}, Why: "creates and invokes a function with a privileged role"},
		{Name: "PassRole+LambdaEventSource", All: []string{"iam:PassRole", "lambda:CreateFunction", "lambda:CreateEventSourceMapping"}, Why: "creates a function with a privileged role triggered by an event source"},
		{Name: "UpdateFunctionCode", All: []string{"lambda:UpdateFunctionCode"}, Why: "replaces the code of a function that runs with a privileged role"},
		{Name: "PassRole+Glue", All: []string{"iam:PassRole", "glue:CreateDevEndpoint"}, Why: "creates a Glue dev endpoint with a privileged role"},
		{Name: "UpdateDevEndpoint", All: []string{"glue:UpdateDevEndpoint"}, Why: "adds its SSH key to an existing Glue dev endpoint"},
		{Name: "PassRole+CloudFormation", All: []string{"iam:PassRole", "cloudformation:CreateStack"}, Why: "creates a stack that runs with a privileged role"},
		{Name: "PassRole+DataPipeline", All: []string{"iam:PassRole", "datapipeline:CreatePipeline", "datapipeline:PutPipelineDefinition"}, Why: "runs a pipeline with a privileged role"},
		{Name: "PassRole+SageMakerNotebook", All: []string{"iam:PassRole", "sagemaker:CreateNotebookInstance", "sagemaker:CreatePresignedNotebookInstanceUrl"}, Why: "opens a notebook that runs with a privileged role"},
		{Name: "PassRole+SageMakerTraining", All: []string{"iam:PassRole", "sagemaker:CreateTrainingJob"}, Why: "runs a training job with a privileged role"},
		{Name: "PassRole+SageMakerProcessing", All: []string{"iam:PassRole", "sagemaker:CreateProcessingJob"}, Why: "runs a processing job with a privileged role"},
		{Name: "PassRole+CodeStar", All: []string{"iam:PassRole", "codestar:CreateProject"}, Why: "creates a project with a privileged service role"},
		{Name: "PassRole+ECS", All: []string{"iam:PassRole", "ecs:RegisterTaskDefinition", "ecs:RunTask"}, Why: "runs a task with a privileged task role"},
	}
}

// Audit runs every check on the account and returns the findings sorted by
// severity, rule and principal.
func Audit(cat *catalog.Catalog, acct *Account, opts AuditOptions) ([]Finding, error) {
	if opts.Now == nil {
		return nil, errors.New("audit: AuditOptions.Now is required")
	}
	if opts.KeyMaxAge <= 0 {
		opts.KeyMaxAge = 90 * 24 * time.Hour
	}
	gr, err := NewGranter(cat, acct, opts.Org)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	now := opts.Now()
	methods := EscalationMethods()
	var out []Finding
	for _, p := range acct.Principals {
		gs := gr.Granted(p)
		admin := false
		if p.Kind != KindRoot {
			var f *Finding
			admin, f = fullAdmin(acct, p, gs)
			if f != nil {
				out = append(out, *f)
			}
		}
		if len(gs.Unknown) > 0 {
			out = append(out, Finding{Rule: RuleUnknownPolicies, Severity: SeverityInfo, Principal: p.ARN,
				Title:    "permissions partly unknown: policies not in the snapshot or unparsable",
				Evidence: gs.Unknown,
				Fix:      "take the snapshot with every managed policy (get-account-authorization-details without a filter, all pages)"})
		}
		if !admin && p.Kind != KindRoot {
			out = append(out, escalations(p, gs, methods)...)
		}
		switch p.Kind {
		case KindUser:
			out = append(out, userChecks(p, now, opts.KeyMaxAge, opts.Rotations)...)
		case KindRoot:
			out = append(out, rootChecks(p)...)
		case KindRole:
			out = append(out, trustChecks(acct, p)...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity.rank() != b.Severity.rank() {
			return a.Severity.rank() < b.Severity.rank()
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		return a.Method < b.Method
	})
	return out, nil
}

// fullAdmin reports a granted set that holds every grantable catalog action
// on every resource without conditions (every resource a customer may touch:
// the AWS rules that refuse some resources to everyone do not count), and
// AdministratorAccess attached directly or through a group (even when its
// document is not in the snapshot).
func fullAdmin(acct *Account, p *Principal, gs *GrantedSet) (bool, *Finding) {
	var ev []string
	effective := gs.Len() == gs.grantable && gs.Len() > 0
	if effective {
		for _, c := range gs.classes {
			if !(c.g.AllResources || c.awsRuleOnly) || c.g.Conditional {
				effective = false
			}
		}
	}
	// An attached AdministratorAccess counts when the granted set confirms
	// it, or when its document is not in the snapshot and no boundary can
	// limit it; a known boundary, SCP or deny that cuts it down does not.
	counts := func(at *Attachment) bool { return effective || (!at.Known() && p.Boundary == nil) }
	for _, at := range p.Attached {
		if at.ARN == AdministratorAccess && counts(at) {
			ev = append(ev, "attached "+AdministratorAccess)
		}
	}
	for _, gn := range p.Groups {
		if g, ok := acct.Group(gn); ok {
			for _, at := range g.Attached {
				if at.ARN == AdministratorAccess && counts(at) {
					ev = append(ev, "attached "+AdministratorAccess+" through group "+gn)
				}
			}
		}
	}
	if effective {
		seen := map[string]bool{}
		for _, c := range gs.classes {
			for _, r := range c.g.Allows {
				if s := r.String(); !seen[s] {
					seen[s] = true
					ev = append(ev, "Allow * on * by "+s)
				}
			}
		}
	}
	if len(ev) == 0 {
		return false, nil
	}
	sev := SeverityHigh
	if p.Kind == KindUser {
		sev = SeverityCritical
	}
	return true, &Finding{Rule: RuleFullAdmin, Severity: sev, Principal: p.ARN, Title: "full administrator access",
		Evidence: ev, Fix: "replace full admin with task-specific policies; keep break-glass admin in a role that requires MFA"}
}

func escalations(p *Principal, gs *GrantedSet, methods []EscalationMethod) []Finding {
	var out []Finding
	for _, m := range methods {
		var ev []string
		ok := true
		for _, a := range m.All {
			g, has := gs.Lookup(a)
			if !has || (m.OthersOnly && selfOnly(g)) {
				ok = false
				break
			}
			ev = append(ev, grantEvidence(g))
		}
		if !ok {
			continue
		}
		out = append(out, Finding{Rule: RulePrivilegeEscalation, Severity: SeverityHigh, Principal: p.ARN, Method: m.Name,
			Title:    "can escalate privileges: " + m.Why,
			Evidence: ev,
			Fix:      "remove " + strings.Join(m.All, " + ") + " or limit it to specific resources (and iam:PassRole to specific roles with iam:PassedToService)"})
	}
	return out
}

// selfOnly reports whether a grant reaches only the caller's own user.
func selfOnly(g Grant) bool {
	if g.AllResources || len(g.Resources) == 0 {
		return false
	}
	for _, r := range g.Resources {
		if !strings.Contains(r, "${aws:username}") || strings.HasPrefix(r, "not ") {
			return false
		}
	}
	return true
}

func grantEvidence(g Grant) string {
	var refs []string
	for _, r := range g.Allows {
		refs = append(refs, r.String())
	}
	s := g.Action + " on " + strings.Join(g.Resources, ",") + " by " + strings.Join(refs, "; ")
	if g.Conditional {
		s += " (conditional)"
	}
	if len(g.Narrowed) > 0 {
		s += fmt.Sprintf(" (narrowed by %d statement(s))", len(g.Narrowed))
	}
	return s
}

func userChecks(p *Principal, now time.Time, maxAge time.Duration, rotations map[string]string) []Finding {
	var out []Finding
	if len(p.Inline) > 0 || len(p.Attached) > 0 {
		var ev []string
		for _, in := range p.Inline {
			ev = append(ev, "inline policy "+in.Name)
		}
		for _, at := range p.Attached {
			ev = append(ev, "attached "+at.ARN)
		}
		out = append(out, Finding{Rule: RuleDirectPolicies, Severity: SeverityLow, Principal: p.ARN,
			Title: "policies attached to the user instead of a group", Evidence: ev,
			Fix: "move the permissions to a group (or a role) and add the user to it"})
	}
	c := p.Credentials
	if c == nil {
		return out
	}
	if c.SignInKnown && c.PasswordEnabled && !c.MFAActive {
		ev := []string{"password enabled, no MFA device"}
		if !c.PasswordLastUsed.IsZero() {
			ev = append(ev, "password last used "+c.PasswordLastUsed.Format(time.RFC3339))
		}
		out = append(out, Finding{Rule: RuleConsoleNoMFA, Severity: SeverityHigh, Principal: p.ARN,
			Title: "console user without MFA", Evidence: ev,
			Fix: "enable an MFA device for the user, or remove the login profile"})
	}
	active := 0
	var ids []string
	for _, k := range c.AccessKeys {
		if !k.Active() {
			continue
		}
		active++
		ids = append(ids, keyName(k))
		if !k.Created.IsZero() && now.Sub(k.Created) > maxAge {
			out = append(out, Finding{Rule: RuleKeyTooOld, Severity: SeverityMedium, Principal: p.ARN,
				Title:    fmt.Sprintf("access key older than %d days", int(maxAge.Hours()/24)),
				Evidence: []string{fmt.Sprintf("%s created %s (%d days ago)", keyName(k), k.Created.Format(time.RFC3339), int(now.Sub(k.Created).Hours()/24))},
				Fix:      "rotate the key: create a new one, switch callers, deactivate, then delete the old one"})
		}
		if k.LastUsedKnown && k.LastUsed.IsZero() {
			out = append(out, Finding{Rule: RuleKeyNeverUsed, Severity: SeverityLow, Principal: p.ARN,
				Title:    "active access key never used",
				Evidence: []string{fmt.Sprintf("%s created %s, never used", keyName(k), k.Created.Format(time.RFC3339))},
				Fix:      "deactivate and delete the unused key"})
		}
	}
	if active >= 2 {
		f := Finding{Rule: RuleTwoActiveKeys, Severity: SeverityMedium, Principal: p.ARN,
			Title: "two active access keys", Evidence: ids,
			Fix: "keep one active key; two are only for the duration of a rotation"}
		for _, id := range ids {
			if note, ok := rotations[id]; ok {
				f.Severity, f.Title = SeverityInfo, "two active access keys: "+note
				f.Fix = "none while the rotation drains the old key; it is deactivated once CloudTrail shows it idle"
				break
			}
		}
		out = append(out, f)
	}
	return out
}

func keyName(k AccessKey) string {
	if k.ID != "" {
		return k.ID
	}
	return "key created " + k.Created.Format("2006-01-02")
}

func rootChecks(p *Principal) []Finding {
	c := p.Credentials
	if c == nil {
		return nil
	}
	var out []Finding
	var ev []string
	for _, k := range c.AccessKeys {
		if k.Active() {
			ev = append(ev, keyName(k)+" active")
		}
	}
	if len(ev) > 0 {
		out = append(out, Finding{Rule: RuleRootAccessKey, Severity: SeverityCritical, Principal: p.ARN,
			Title: "root user has active access keys", Evidence: ev,
			Fix: "delete the root user's access keys; use IAM roles for programmatic access"})
	}
	if c.SignInKnown && !c.MFAActive {
		out = append(out, Finding{Rule: RuleRootNoMFA, Severity: SeverityCritical, Principal: p.ARN,
			Title: "root user without MFA", Evidence: []string{"mfa_active false"},
			Fix: "enable MFA on the root user"})
	}
	return out
}

// trustChecks flags trust statements that let anyone, or another account
// without an ExternalId or other condition, assume the role.
func trustChecks(acct *Account, p *Principal) []Finding {
	if p.Trust == nil {
		return nil
	}
	var out []Finding
	for i, e := range p.Trust.Entries {
		if e.Effect != policy.EffectAllow {
			continue
		}
		where := fmt.Sprintf("trust policy statement %d", i)
		if e.Sid != "" {
			where += " (" + e.Sid + ")"
		}
		if e.NotPrincipal && e.Any {
			continue // everyone except everyone: the statement applies to no one
		}
		if e.Any || e.NotPrincipal {
			sev, title := SeverityCritical, "trust policy allows any principal to assume the role"
			if restricts(e) {
				sev, title = SeverityMedium, "trust policy allows any principal, limited only by conditions"
			}
			elem := "Principal *"
			if e.NotPrincipal {
				elem = "NotPrincipal " + strings.Join(slices.Concat(e.AWS, e.Service, e.Federated), ", ")
			}
			out = append(out, Finding{Rule: RuleTrustAnyPrincipal, Severity: sev, Principal: p.ARN, Title: title,
				Evidence: []string{where + ": " + elem + condSummary(e)},
				Fix:      "name the trusted accounts or roles; add aws:PrincipalOrgID or sts:ExternalId conditions"})
			continue
		}
		if restricts(e) {
			continue
		}
		var foreign []string
		for _, a := range e.AWS {
			if id := trustAccount(a); id != "" && id != acct.ID {
				foreign = append(foreign, a)
			}
		}
		if len(foreign) > 0 {
			out = append(out, Finding{Rule: RuleTrustCrossAccount, Severity: SeverityHigh, Principal: p.ARN,
				Title:    "trust policy allows another account without ExternalId or conditions",
				Evidence: []string{where + ": " + strings.Join(foreign, ", ") + weakSummary(e)},
				Fix:      "add an sts:ExternalId condition (third parties) or aws:PrincipalOrgID / aws:PrincipalArn conditions"})
		}
	}
	return out
}

// restricts reports whether the conditions of e limit who may assume the
// role. An sts:ExternalId condition that admits a missing or arbitrary
// ExternalId (StringLike "*", StringEqualsIfExists, ...) does not; any
// other condition is taken to restrict.
func restricts(e TrustEntry) bool {
	for _, c := range e.Conditions {
		if !strings.EqualFold(c.Key, "sts:ExternalId") || ExternalIDRequired(c) {
			return true
		}
	}
	return false
}

// weakSummary names the conditions of an entry that restricts nothing
// ("" when it has none).
func weakSummary(e TrustEntry) string {
	if len(e.Conditions) == 0 {
		return ""
	}
	return condSummary(e) + " (any or no ExternalId passes)"
}

func condSummary(e TrustEntry) string {
	if len(e.Conditions) == 0 {
		return ", no conditions"
	}
	var ks []string
	for _, c := range e.Conditions {
		ks = append(ks, c.Operator+" "+c.Key)
	}
	return ", conditions: " + strings.Join(ks, "; ")
}

// trustAccount returns the account of an AWS principal: a bare account id
// or the account field of an ARN.
func trustAccount(s string) string {
	if len(s) == 12 && strings.Trim(s, "0123456789") == "" {
		return s
	}
	return AccountOf(s)
}

// SkippedCheck is a check Audit could not run on some principals for want
// of data: without it, no finding would read as "nothing wrong".
type SkippedCheck struct {
	Rules      []string `json:"rules"`
	Check      string   `json:"check"`
	Principals []string `json:"principals"` // ARNs, in the account's order
	Reason     string   `json:"reason"`
	Fix        string   `json:"fix"`
}

// credentialFix says where the credential data comes from.
const credentialFix = "merge a credential report (--credential-report FILE from aws iam get-credential-report), or read the account with --live"

// SkippedChecks lists the checks Audit cannot run on acct: the password,
// MFA and access-key checks need credential data, which
// get-account-authorization-details does not carry (IAM User Guide,
// "Getting credential reports for your AWS account",
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html).
func SkippedChecks(acct *Account) []SkippedCheck {
	var noSignIn, noKeys, root []string
	hasRoot := false
	for _, p := range acct.Principals {
		switch p.Kind {
		case KindUser:
			if p.Credentials == nil || !p.Credentials.SignInKnown {
				noSignIn = append(noSignIn, p.ARN)
			}
			if p.Credentials == nil {
				noKeys = append(noKeys, p.ARN)
			}
		case KindRoot:
			hasRoot = true
			if p.Credentials == nil || !p.Credentials.SignInKnown {
				root = append(root, p.ARN)
			}
		}
	}
	var out []SkippedCheck
	if len(noSignIn) > 0 {
		out = append(out, SkippedCheck{Rules: []string{RuleConsoleNoMFA}, Check: "console users without MFA", Principals: noSignIn,
			Reason: "no password or MFA data for these users: the snapshot has no credential report", Fix: credentialFix})
	}
	if len(noKeys) > 0 {
		out = append(out, SkippedCheck{Rules: []string{RuleTwoActiveKeys, RuleKeyTooOld, RuleKeyNeverUsed}, Check: "access keys (two active, too old, never used)",
			Principals: noKeys, Reason: "no access key data for these users: neither the snapshot nor a credential report lists their keys", Fix: credentialFix})
	}
	switch {
	case !hasRoot:
		out = append(out, SkippedCheck{Rules: []string{RuleRootAccessKey, RuleRootNoMFA}, Check: "root user access keys and MFA", Principals: []string{},
			Reason: "the account id is unknown (no AccountId and no ARN names one), so there is no root user to check", Fix: "add AccountId to the snapshot, or read the account with --live"})
	case len(root) > 0:
		out = append(out, SkippedCheck{Rules: []string{RuleRootAccessKey, RuleRootNoMFA}, Check: "root user access keys and MFA", Principals: root,
			Reason: "no credential report row for the root user", Fix: credentialFix})
	}
	return out
}
