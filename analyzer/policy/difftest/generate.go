package difftest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// The accounts of generated cases: the caller's own account and another one
// for cross-account requests.
const (
	homeAccount  = "111122223333"
	otherAccount = "444455556666"
	region       = "us-east-1"
)

// action is one entry of the generator's vocabulary: a real action, how to
// make a resource ARN for it in an account, whether it accepts a resource
// policy, and its service-specific condition keys.
type action struct {
	name string
	// arn makes a resource ARN in account; nil means the action has no
	// resource type (Resource "*").
	arn func(g *gen, account string) string
	// resourcePolicy is true for services whose resources carry a
	// resource-based policy (S3 buckets, SQS queues, DynamoDB tables).
	resourcePolicy bool
	// listKeys are service keys of type ArrayOfString for this action.
	listKeys []string
	// resourceAccount, when set, gives the account that owns a resource
	// made by arn (AWS-managed policies belong to "aws").
	resourceAccount func(g *gen, arn string) string
	// trust marks sts:AssumeRole: the resource policy is the role's trust
	// policy, which has no Resource element and always exists; a KMS key
	// (keyPolicy) always has its key policy too.
	trust, keyPolicy bool
}

func s3Object(g *gen, _ string) string {
	return "arn:aws:s3:::" + g.pick(buckets) + "/" + g.objectKey()
}
func s3Bucket(g *gen, _ string) string { return "arn:aws:s3:::" + g.pick(buckets) }
func ec2Instance(g *gen, account string) string {
	return "arn:aws:ec2:" + region + ":" + account + ":instance/" + g.pick([]string{"i-0abc123", "i-0def456"})
}
func dynamoTable(g *gen, account string) string {
	return "arn:aws:dynamodb:" + region + ":" + account + ":table/" + g.pick([]string{"Books", "Orders"})
}
func sqsQueue(g *gen, account string) string {
	return "arn:aws:sqs:" + region + ":" + account + ":" + g.pick([]string{"jobs", "jobs-dlq"})
}
func iamUser(g *gen, account string) string {
	return "arn:aws:iam::" + account + ":user/" + g.pick(userNames)
}

// iamPolicy is an AWS-managed policy (which no customer may change) or a
// customer-managed one.
func iamPolicy(g *gen, account string) string {
	if g.chance(0.6) {
		return "arn:aws:iam::aws:policy/" + g.pick([]string{"ReadOnlyAccess", "AdministratorAccess", "job-function/Billing"})
	}
	return "arn:aws:iam::" + account + ":policy/" + g.pick([]string{"team-read", "aws-like-name"})
}

// policyAccount gives an AWS-managed policy the account "aws" half of the
// time, as its ARN does, and the caller's account otherwise.
func policyAccount(g *gen, arn string) string {
	if strings.HasPrefix(arn, "arn:aws:iam::aws:") && g.chance(0.5) {
		return "aws"
	}
	return g.resAc
}

// iamRole is an IAM Identity Center role under /aws-reserved/ (only AWS may
// change it) or an ordinary role.
func iamRole(g *gen, account string) string {
	if g.chance(0.6) {
		return "arn:aws:iam::" + account + ":role/aws-reserved/sso.amazonaws.com/" + g.pick([]string{"AWSReservedSSO_Admin_0a1b2c3d", "eu-west-1/AWSReservedSSO_Read_4e5f"})
	}
	return "arn:aws:iam::" + account + ":role/" + g.pick([]string{"Dev", "app/worker", "team/aws-reserved/x"})
}

// trustedRole is a role to assume, in the account given.
func trustedRole(g *gen, account string) string {
	return "arn:aws:iam::" + account + ":role/" + g.pick([]string{"Dev", "Ops", "deploy/Target"})
}

// kmsKey is a customer managed KMS key.
func kmsKey(g *gen, account string) string {
	return "arn:aws:kms:" + region + ":" + account + ":key/" + g.pick([]string{"1234abcd-12ab-34cd-56ef-1234567890ab", "0987dcba-09fe-87dc-65ba-ab0987654321"})
}

// kmsAlias is an alias of an AWS managed key (alias/aws/…, reserved) or a
// customer alias.
func kmsAlias(g *gen, account string) string {
	return "arn:aws:kms:" + region + ":" + account + ":alias/" + g.pick([]string{"aws/s3", "aws/ebs", "team/app", "aws-like"})
}

// vocabulary is the general vocabulary: actions that only the general
// evaluation logic decides. It has no kms: or sts: action: those, and the
// IAM actions on AWS-managed policies and /aws-reserved/ roles, are in
// ruleVocabulary, which a quarter of the cases draw from.
func vocabulary() []action {
	return []action{
		{name: "s3:GetObject", arn: s3Object, resourcePolicy: true},
		{name: "s3:PutObject", arn: s3Object, resourcePolicy: true},
		{name: "s3:DeleteObject", arn: s3Object, resourcePolicy: true},
		{name: "s3:ListBucket", arn: s3Bucket, resourcePolicy: true},
		{name: "s3:ListAllMyBuckets"},
		{name: "ec2:StartInstances", arn: ec2Instance},
		{name: "ec2:StopInstances", arn: ec2Instance},
		{name: "dynamodb:GetItem", arn: dynamoTable, resourcePolicy: true, listKeys: []string{"dynamodb:Attributes", "dynamodb:LeadingKeys"}},
		{name: "dynamodb:PutItem", arn: dynamoTable, resourcePolicy: true, listKeys: []string{"dynamodb:Attributes", "dynamodb:LeadingKeys"}},
		{name: "sqs:SendMessage", arn: sqsQueue, resourcePolicy: true},
		{name: "sqs:ReceiveMessage", arn: sqsQueue, resourcePolicy: true},
		{name: "iam:GetUser", arn: iamUser},
		{name: "iam:CreateUser", arn: iamUser},
		{name: "ec2:DescribeInstances"},
	}
}

// ruleVocabulary is the actions that AWS service rules decide besides the
// policies (policy.ServiceRule): the calls that need no permission, the
// IAM actions on AWS-managed policies and /aws-reserved/ roles, and the
// KMS alias actions on alias/aws/ aliases, each also on ordinary resources
// and beside the read actions the rules leave alone. None of these resources
// carries a resource-based policy.
func ruleVocabulary() []action {
	return []action{
		{name: "sts:GetCallerIdentity"},
		{name: "sts:GetSessionToken"},
		{name: "iam:DeletePolicy", arn: iamPolicy, resourceAccount: policyAccount},
		{name: "iam:CreatePolicyVersion", arn: iamPolicy, resourceAccount: policyAccount},
		{name: "iam:SetDefaultPolicyVersion", arn: iamPolicy, resourceAccount: policyAccount},
		{name: "iam:TagPolicy", arn: iamPolicy, resourceAccount: policyAccount},
		{name: "iam:GetPolicy", arn: iamPolicy, resourceAccount: policyAccount},
		{name: "iam:UpdateAssumeRolePolicy", arn: iamRole},
		{name: "iam:PutRolePolicy", arn: iamRole},
		{name: "iam:DeleteRole", arn: iamRole},
		{name: "iam:AttachRolePolicy", arn: iamRole},
		{name: "iam:GetRole", arn: iamRole},
		{name: "iam:PassRole", arn: iamRole},
		{name: "kms:CreateAlias", arn: kmsAlias},
		{name: "kms:DeleteAlias", arn: kmsAlias},
		{name: "kms:UpdateAlias", arn: kmsAlias},
		// Trust and key policies, which must allow even in the same
		// account (policy.RequiresResourcePolicy).
		{name: "sts:AssumeRole", arn: trustedRole, resourcePolicy: true, trust: true},
		{name: "kms:Decrypt", arn: kmsKey, resourcePolicy: true, keyPolicy: true},
		{name: "kms:Encrypt", arn: kmsKey, resourcePolicy: true, keyPolicy: true},
	}
}

var (
	buckets   = []string{"team-data", "logs-archive"}
	userNames = []string{"alice", "bob"}
	// actionPatterns are Action/NotAction values: exact names in other
	// cases, service wildcards, and * and ? globs.
	actionPatterns = []string{
		"*", "s3:*", "s3:Get*", "s3:*Object", "s3:?etObject", "S3:getobject", "s3:List*",
		"s3:ListBucket", "s3:PutObject", "s3:DeleteObject", "s3:ListAllMyBuckets",
		"ec2:*", "ec2:St*Instances", "ec2:StartInstances", "ec2:Stop?nstances",
		"dynamodb:*Item", "dynamodb:GetItem", "dynamodb:Put*",
		"sqs:*", "sqs:*Message", "sqs:SendMessage",
		"iam:*User", "iam:GetUser", "iam:Create*", "ec2:Describe*", "ec2:DescribeInstances",
		"iam:*", "iam:*Policy*", "iam:DeletePolicy", "iam:*Role*", "iam:Get*", "iam:Update*",
		"kms:*", "kms:*Alias", "kms:DeleteAlias", "sts:*", "sts:Get*", "sts:GetCallerIdentity",
	}
	objectKeys = []string{"home/alice/notes.txt", "home/bob/a.txt", "public/index.html", "private/x.bin", "home/Alice/n.txt"}
	teams      = []string{"dev", "ops", "Dev"}
	regions    = []string{"us-east-1", "eu-west-1", "us-west-2"}
	sourceIPs  = []string{"203.0.113.10", "198.51.100.7", "10.1.2.3", "2001:db8::1", "2001:db8:1::5", "2600:1f18::7"}
	ipBlocks   = []string{"203.0.113.0/24", "198.51.100.7/32", "10.0.0.0/8", "2001:db8::/32", "2001:db8:1::/48", "203.0.113.10"}
	times      = []string{"2026-11-23T12:00:00Z", "2025-01-01T00:00:00Z", "2027-06-30T23:59:59Z"}
	// timeBounds mixes ISO 8601 and epoch seconds (1767225600 is
	// 2026-01-01T00:00:00Z), both valid Date condition values.
	timeBounds = []string{"2026-01-01T00:00:00Z", "2026-11-23T12:00:00Z", "2027-01-01T00:00:00Z", "2026-11-23", "1767225600"}
	tagKeys    = []string{"env", "team", "owner", "cost"}
	attributes = []string{"Title", "Author", "Price", "Secret"}
)

// principal is a caller of generated requests.
type principal struct {
	arn      string
	account  string
	username string // aws:username, for IAM users only
	role     string // role name, for role sessions
	session  bool   // an assumed-role session (may carry a session policy)
}

// homePrincipals are the callers in the home account, for actions whose
// resources have no resource-based policy (no cross-account access).
func homePrincipals() []principal {
	var out []principal
	for _, p := range principals() {
		if p.account == homeAccount {
			out = append(out, p)
		}
	}
	return out
}

func principals() []principal {
	return []principal{
		{arn: "arn:aws:iam::" + homeAccount + ":user/alice", account: homeAccount, username: "alice"},
		{arn: "arn:aws:iam::" + homeAccount + ":user/bob", account: homeAccount, username: "bob"},
		{arn: "arn:aws:sts::" + homeAccount + ":assumed-role/Dev/alice-session", account: homeAccount, role: "Dev", session: true},
		// The role itself as the caller: it stands for a session of the
		// role, so a resource policy naming the role is limited by the
		// boundary exactly as for the session above.
		{arn: "arn:aws:iam::" + homeAccount + ":role/Dev", account: homeAccount, role: "Dev"},
		{arn: "arn:aws:iam::" + otherAccount + ":user/carol", account: otherAccount, username: "carol"},
		{arn: "arn:aws:sts::" + otherAccount + ":assumed-role/Ops/ops-session", account: otherAccount, role: "Ops", session: true},
	}
}

// gen holds the state of one case's generation.
type gen struct {
	r     *rand.Rand
	acts  []action
	rules []action
	pals  []principal
	home  []principal
	act   action
	pal   principal
	resAc string
}

func (g *gen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }
func (g *gen) chance(p float64) bool   { return g.r.Float64() < p }

func (g *gen) objectKey() string { return g.pick(objectKeys) }

// Generate makes n cases from seed; the same seed and n give the same cases.
// Case i is named "gen/<seed>/<i>" and has no expected decision: the
// differential test fills it from the reference.
func Generate(seed uint64, n int) []Case {
	out := make([]Case, n)
	for i := range out {
		out[i] = GenerateOne(seed, i)
	}
	return out
}

// GenerateOne makes case index of seed on its own, so a failing case can be
// rebuilt without generating the ones before it.
func GenerateOne(seed uint64, index int) Case {
	g := &gen{r: rand.New(rand.NewPCG(seed, uint64(index))), acts: vocabulary(), rules: ruleVocabulary(), pals: principals(), home: homePrincipals()}
	return g.build(fmt.Sprintf("gen/%d/%d", seed, index))
}

func (g *gen) build(name string) Case {
	if g.chance(0.25) {
		g.act = g.rules[g.r.IntN(len(g.rules))]
	} else {
		g.act = g.acts[g.r.IntN(len(g.acts))]
	}
	g.pal = g.pals[g.r.IntN(len(g.pals))]
	// Mostly same-account; cross-account only where the resource side can
	// have a policy at all.
	g.resAc = homeAccount
	if g.pal.account == homeAccount && g.act.resourcePolicy && g.chance(0.1) {
		g.resAc = otherAccount
	}
	if g.pal.account != homeAccount && !g.act.resourcePolicy {
		g.pal = g.home[g.r.IntN(len(g.home))]
	}
	res := "*"
	if g.act.arn != nil {
		res = g.act.arn(g, g.resAc)
	}
	c := Case{Name: name}
	c.Request.Principal = g.pal.arn
	c.Request.Action = g.act.name
	c.Request.Resource.Resource = res
	c.Request.Resource.AccountID = g.resAc
	if g.act.resourceAccount != nil {
		c.Request.Resource.AccountID = g.act.resourceAccount(g, res)
	}
	c.Request.Context = g.context()

	for n := g.r.IntN(3) + boolInt(g.chance(0.6)); n > 0; n-- {
		c.IdentityPolicies = append(c.IdentityPolicies, g.policy(res, layerIdentity))
	}
	if g.chance(0.25) {
		c.PermissionBoundaries = append(c.PermissionBoundaries, g.policy(res, layerBoundary))
	}
	if g.pal.session && g.chance(0.3) {
		c.SessionPolicy = g.policy(res, layerSession)
	}
	if g.act.resourcePolicy && (g.resAc != g.pal.account || g.act.trust || g.act.keyPolicy || g.chance(0.45)) {
		c.ResourcePolicy = g.policy(res, layerResource)
	}
	if g.chance(0.3) {
		for i, n := 0, 1+g.r.IntN(2); i < n; i++ {
			c.ServiceControlPolicies = append(c.ServiceControlPolicies, OrgLevel{
				OrgIdentifier: orgID(i, n),
				Policies:      g.orgPolicies(res, layerSCP),
			})
		}
	}
	if g.chance(0.25) {
		for i, n := 0, 1+g.r.IntN(2); i < n; i++ {
			c.ResourceControlPolicies = append(c.ResourceControlPolicies, OrgLevel{
				OrgIdentifier: orgID(i, n),
				Policies:      g.orgPolicies(res, layerRCP),
			})
		}
	}
	return c
}

func orgID(i, n int) string {
	switch {
	case i == 0:
		return "r-root"
	case i == n-1:
		return homeAccount
	}
	return fmt.Sprintf("ou-%d", i)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

type layer int

const (
	layerIdentity layer = iota
	layerBoundary
	layerSession
	layerResource
	layerSCP
	layerRCP
)

// context makes the request context. Keys that an engine could derive are
// given consistently with the principal when present, and left out
// sometimes (the key-absent paths of Null, IfExists and ForAllValues).
func (g *gen) context() map[string]json.RawMessage {
	ctx := map[string]json.RawMessage{}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		ctx[k] = b
	}
	maybe := func(p float64, k string, v any) {
		if g.chance(p) {
			set(k, v)
		}
	}
	if g.pal.username != "" {
		maybe(0.85, "aws:username", g.pal.username)
	}
	maybe(0.6, "aws:PrincipalArn", principalARN(g.pal))
	maybe(0.5, "aws:PrincipalAccount", g.pal.account)
	maybe(0.6, "aws:PrincipalTag/team", g.pick(teams))
	maybe(0.6, "aws:RequestedRegion", g.pick(regions))
	maybe(0.7, "aws:SecureTransport", g.pick([]string{"true", "false"}))
	maybe(0.6, "aws:MultiFactorAuthPresent", g.pick([]string{"true", "false"}))
	maybe(0.5, "aws:MultiFactorAuthAge", g.pick([]string{"30", "300", "3600", "86400"}))
	maybe(0.7, "aws:SourceIp", g.pick(sourceIPs))
	maybe(0.6, "aws:CurrentTime", g.pick(times))
	maybe(0.3, "aws:PrincipalOrgID", g.pick([]string{"o-abc123", "o-zzz999"}))
	if g.chance(0.5) {
		set("aws:TagKeys", g.subset(tagKeys))
	}
	for _, k := range g.act.listKeys {
		if g.chance(0.6) {
			vals := attributes
			if k == "dynamodb:LeadingKeys" {
				vals = userNames
			}
			set(k, g.subset(vals))
		}
	}
	return ctx
}

// principalARN is the aws:PrincipalArn of p: the role ARN for a role
// session, as AWS sets it.
func principalARN(p principal) string {
	if p.role != "" {
		return "arn:aws:iam::" + p.account + ":role/" + p.role
	}
	return p.arn
}

// subset returns 0..len(xs) distinct values of xs in random order.
func (g *gen) subset(xs []string) []string {
	out := []string{}
	for _, i := range g.r.Perm(len(xs)) {
		if g.chance(0.45) {
			out = append(out, xs[i])
		}
	}
	return out
}

func (g *gen) policy(res string, l layer) json.RawMessage {
	n := 1 + g.r.IntN(3)
	stmts := make([]any, 0, n)
	for i := 0; i < n; i++ {
		stmts = append(stmts, g.statement(res, l, i))
	}
	doc := map[string]any{"Version": "2012-10-17", "Statement": stmts}
	if n == 1 && g.chance(0.5) {
		doc["Statement"] = stmts[0]
	}
	return mustJSON(doc)
}

// orgPolicies makes one level's policies. An SCP level mostly carries
// FullAWSAccess; an RCP level always carries RCPFullAWSAccess, because AWS
// attaches it to every node and it cannot be detached
// (orgs_manage_policies_rcps). Extra RCP statements are Deny only, the only
// custom statements RCPs allow.
func (g *gen) orgPolicies(res string, l layer) []json.RawMessage {
	var ps []json.RawMessage
	if l == layerRCP {
		ps = append(ps, mustJSON(map[string]any{"Version": "2012-10-17", "Statement": map[string]any{
			"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}))
		if g.chance(0.6) {
			st := map[string]any{
				"Effect":    "Deny",
				"Principal": "*",
				"Action":    g.pick([]string{"s3:*", "sqs:*", "s3:GetObject", "sqs:SendMessage", "s3:Put*"}),
				"Resource":  g.resourceValue(res),
			}
			if g.chance(0.7) {
				st["Condition"] = g.condition()
			}
			ps = append(ps, mustJSON(map[string]any{"Version": "2012-10-17", "Statement": st}))
		}
		return ps
	}
	if g.chance(0.8) {
		ps = append(ps, mustJSON(map[string]any{"Version": "2012-10-17", "Statement": map[string]any{
			"Effect": "Allow", "Action": "*", "Resource": "*"}}))
	}
	if len(ps) == 0 || g.chance(0.5) {
		ps = append(ps, g.policy(res, l))
	}
	return ps
}

func (g *gen) statement(res string, l layer, i int) map[string]any {
	st := map[string]any{}
	if g.chance(0.3) {
		st["Sid"] = fmt.Sprintf("S%d", i)
	}
	deny := g.chance(0.25)
	if l == layerSCP && g.chance(0.2) {
		deny = true
	}
	st["Effect"] = map[bool]string{true: "Deny", false: "Allow"}[deny]
	key := "Action"
	if g.chance(0.15) {
		key = "NotAction"
	}
	st[key] = g.actionValue()
	rkey := "Resource"
	if g.chance(0.12) {
		rkey = "NotResource"
	}
	if l != layerResource || !g.act.trust {
		st[rkey] = g.resourceValue(res)
	}
	if l == layerResource {
		// NotPrincipal belongs with Deny, as the IAM User Guide
		// (reference_policies_elements_notprincipal) requires; once in a
		// while with Allow, which AWS calls unsupported and iamd rejects.
		// A trust policy takes no NotPrincipal at all.
		if !g.act.trust && ((deny && g.chance(0.2)) || (!deny && g.chance(0.02))) {
			st["NotPrincipal"] = map[string]any{"AWS": g.principalList()}
		} else {
			st["Principal"] = g.principalValue()
		}
	}
	if g.chance(0.45) {
		st["Condition"] = g.condition()
	}
	return st
}

// actionValue biases toward patterns that match the request's action.
func (g *gen) actionValue() any {
	one := func() string {
		if g.chance(0.45) {
			return g.act.name
		}
		return g.pick(actionPatterns)
	}
	if g.chance(0.3) {
		return []string{one(), one()}
	}
	return one()
}

// resourceValue biases toward patterns that match the request's resource.
func (g *gen) resourceValue(res string) any {
	one := func() string {
		switch g.r.IntN(6) {
		case 0:
			return "*"
		case 1:
			return res
		case 2:
			return g.resourceGlob(res)
		case 3:
			return g.resourceVariable()
		}
		if g.act.arn != nil {
			return g.act.arn(g, g.pick([]string{homeAccount, otherAccount}))
		}
		return g.resourceGlob(res)
	}
	if g.chance(0.25) {
		return []string{one(), one()}
	}
	return one()
}

func (g *gen) resourceGlob(res string) string {
	switch {
	case strings.HasPrefix(res, "arn:aws:s3:::"):
		return g.pick([]string{"arn:aws:s3:::team-data/*", "arn:aws:s3:::team-data*", "arn:aws:s3:::*/public/*",
			"arn:aws:s3:::*", "arn:aws:s3:::logs-archive/home/*", "arn:aws:s3:::team-?ata", "arn:aws:s3:::team-data/home/*/notes.txt"})
	case strings.HasPrefix(res, "arn:aws:ec2:"):
		return g.pick([]string{"arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:us-east-1:" + homeAccount + ":instance/i-0abc*", "arn:aws:ec2:eu-*:*:instance/*"})
	case strings.HasPrefix(res, "arn:aws:dynamodb:"):
		return g.pick([]string{"arn:aws:dynamodb:*:*:table/Bo?ks", "arn:aws:dynamodb:us-east-1:" + homeAccount + ":table/*", "arn:aws:dynamodb:*:*:table/Orders"})
	case strings.HasPrefix(res, "arn:aws:sqs:"):
		return g.pick([]string{"arn:aws:sqs:*:" + homeAccount + ":*", "arn:aws:sqs:us-east-1:*:jobs*", "arn:aws:sqs:*:*:jobs-???"})
	case strings.HasPrefix(res, "arn:aws:iam:") && strings.Contains(res, ":policy/"):
		return g.pick([]string{"arn:aws:iam::aws:policy/*", "arn:aws:iam::*:policy/*", "arn:aws:iam::" + homeAccount + ":policy/*", "arn:*:iam::aws:policy/*Access"})
	case strings.HasPrefix(res, "arn:aws:iam:") && strings.Contains(res, ":role/"):
		return g.pick([]string{"arn:aws:iam::" + homeAccount + ":role/*", "arn:aws:iam::*:role/aws-reserved/*", "arn:aws:iam::" + homeAccount + ":role/aws-reserved/sso.amazonaws.com/*", "arn:aws:iam::*:role/D?v"})
	case strings.HasPrefix(res, "arn:aws:iam:"):
		return g.pick([]string{"arn:aws:iam::" + homeAccount + ":user/*", "arn:aws:iam::*:user/a*", "arn:aws:iam::" + otherAccount + ":user/*"})
	case strings.HasPrefix(res, "arn:aws:kms:"):
		return g.pick([]string{"arn:aws:kms:*:*:alias/*", "arn:aws:kms:" + region + ":" + homeAccount + ":alias/aws/*", "arn:aws:kms:*:" + homeAccount + ":alias/team/*"})
	}
	return g.pick([]string{"*", "arn:aws:s3:::*"})
}

// resourceVariable makes a resource pattern with a policy variable.
func (g *gen) resourceVariable() string {
	switch {
	case strings.HasPrefix(g.act.name, "s3:") && g.act.arn != nil:
		return g.pick([]string{"arn:aws:s3:::team-data/home/${aws:username}/*", "arn:aws:s3:::*/home/${aws:username}/*",
			"arn:aws:s3:::team-data/home/${aws:username, 'alice'}/*", "arn:aws:s3:::*/${aws:PrincipalTag/team}/*"})
	case strings.HasPrefix(g.act.name, "iam:"):
		return g.pick([]string{"arn:aws:iam::" + homeAccount + ":user/${aws:username}", "arn:aws:iam::*:user/${aws:username}"})
	case strings.HasPrefix(g.act.name, "dynamodb:"):
		return "arn:aws:dynamodb:*:${aws:PrincipalAccount}:table/*"
	}
	return "*"
}

// principalList names one or two principals (for NotPrincipal).
func (g *gen) principalList() []string {
	one, _ := g.principalValue().(map[string]any)
	for one == nil || one["AWS"] == "*" {
		one, _ = g.principalValue().(map[string]any)
	}
	switch v := one["AWS"].(type) {
	case []string:
		return v
	case string:
		return []string{v}
	}
	return nil
}

// principalValue makes a resource policy's Principal: same- and
// cross-account users, roles, role sessions, accounts, and "*".
func (g *gen) principalValue() any {
	one := func() string {
		return g.pick([]string{
			"arn:aws:iam::" + homeAccount + ":user/alice",
			"arn:aws:iam::" + homeAccount + ":user/bob",
			"arn:aws:iam::" + homeAccount + ":role/Dev",
			"arn:aws:sts::" + homeAccount + ":assumed-role/Dev/alice-session",
			"arn:aws:iam::" + homeAccount + ":root",
			homeAccount,
			"arn:aws:iam::" + otherAccount + ":root",
			otherAccount,
			"arn:aws:iam::" + otherAccount + ":user/carol",
			"arn:aws:iam::" + otherAccount + ":role/Ops",
			"arn:aws:sts::" + otherAccount + ":assumed-role/Ops/ops-session",
		})
	}
	switch g.r.IntN(8) {
	case 0:
		return "*"
	case 1:
		return map[string]any{"AWS": "*"}
	case 2, 3:
		return map[string]any{"AWS": []string{one(), one()}}
	}
	return map[string]any{"AWS": one()}
}

// condition makes a Condition block of one or two operators from the
// operator families, each on a key that the request sets sometimes.
func (g *gen) condition() map[string]any {
	cond := map[string]any{}
	for n := 1 + boolInt(g.chance(0.3)); n > 0; n-- {
		op, key, vals := g.conditionEntry()
		m, ok := cond[op].(map[string]any)
		if !ok {
			m = map[string]any{}
			cond[op] = m
		}
		if len(vals) == 1 && g.chance(0.6) {
			m[key] = vals[0]
		} else {
			m[key] = vals
		}
	}
	return cond
}

func (g *gen) ifExists(op string) string {
	if g.chance(0.2) {
		return op + "IfExists"
	}
	return op
}

func (g *gen) conditionEntry() (op, key string, vals []string) {
	switch g.r.IntN(13) {
	case 0:
		op = g.pick([]string{"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"})
		key = "aws:PrincipalTag/team"
		vals = g.some(teams)
	case 1:
		op = g.pick([]string{"StringLike", "StringNotLike", "StringEquals"})
		key = "aws:RequestedRegion"
		vals = g.some([]string{"us-*", "eu-west-1", "us-east-?", "*"})
	case 2:
		op = g.pick([]string{"StringEquals", "StringLike", "StringNotEquals"})
		key = "aws:username"
		vals = g.some([]string{"alice", "bob", "a*", "${aws:PrincipalTag/team}"})
	case 3:
		op = g.pick([]string{"NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals", "NumericEquals", "NumericNotEquals"})
		key = "aws:MultiFactorAuthAge"
		vals = g.some([]string{"300", "3600", "30"})
	case 4:
		op = g.pick([]string{"DateLessThan", "DateGreaterThan", "DateLessThanEquals", "DateGreaterThanEquals", "DateEquals", "DateNotEquals"})
		key = "aws:CurrentTime"
		vals = g.some(timeBounds)
	case 5:
		op = "Bool"
		key = g.pick([]string{"aws:SecureTransport", "aws:MultiFactorAuthPresent"})
		vals = []string{g.pick([]string{"true", "false"})}
	case 6:
		op = g.pick([]string{"IpAddress", "NotIpAddress"})
		key = "aws:SourceIp"
		vals = g.some(ipBlocks)
	case 7:
		op = g.pick([]string{"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"})
		key = "aws:PrincipalArn"
		vals = g.some([]string{
			"arn:aws:iam::" + homeAccount + ":user/alice", "arn:aws:iam::*:role/Dev",
			"arn:aws:iam::" + homeAccount + ":user/*", "arn:aws:iam::" + otherAccount + ":*",
		})
	case 8:
		op = "Null"
		key = g.pick([]string{"aws:MultiFactorAuthAge", "aws:SourceIp", "aws:PrincipalTag/team", "aws:TagKeys"})
		vals = []string{g.pick([]string{"true", "false"})}
		return op, key, vals
	case 9:
		op = g.pick([]string{"ForAllValues:StringEquals", "ForAnyValue:StringEquals", "ForAllValues:StringLike", "ForAnyValue:StringLike", "ForAnyValue:StringNotEquals"})
		key = "aws:TagKeys"
		vals = g.some([]string{"env", "team", "o*"})
		return op, key, vals
	case 10:
		if len(g.act.listKeys) > 0 {
			op = g.pick([]string{"ForAllValues:StringEquals", "ForAnyValue:StringEquals", "ForAllValues:StringLike"})
			key = g.act.listKeys[g.r.IntN(len(g.act.listKeys))]
			vals = g.some(attributes)
			if key == "dynamodb:LeadingKeys" {
				vals = g.some([]string{"${aws:username}", "alice", "b*"})
			}
			return op, key, vals
		}
		op = "StringEquals"
		key = "aws:PrincipalOrgID"
		vals = g.some([]string{"o-abc123", "o-other"})
	case 11:
		op = g.pick([]string{"StringEquals", "StringNotEquals"})
		key = "aws:PrincipalAccount"
		vals = g.some([]string{homeAccount, otherAccount, "${aws:PrincipalAccount}"})
	default:
		op = g.pick([]string{"StringEquals", "StringLike"})
		key = "aws:PrincipalOrgID"
		vals = g.some([]string{"o-abc123", "o-*"})
	}
	return g.ifExists(op), key, vals
}

// some returns one or two values of xs.
func (g *gen) some(xs []string) []string {
	if g.chance(0.3) {
		a, b := g.pick(xs), g.pick(xs)
		if a != b {
			return []string{a, b}
		}
		return []string{a}
	}
	return []string{g.pick(xs)}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps, slices and strings built above reach here.
		panic(fmt.Sprintf("difftest: marshal generated policy: %v", err))
	}
	return b
}
