package ingest

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/store"
)

// requestParams is the subset of requestParameters used to name resources
// of the common services, filled by the record parser (jsonParser.params).
type requestParams struct {
	BucketName   string   `json:"bucketName"`
	Key          string   `json:"key"`
	CopySource   string   `json:"x-amz-copy-source"`
	UserName     string   `json:"userName"`
	RoleName     string   `json:"roleName"`
	GroupName    string   `json:"groupName"`
	PolicyARN    string   `json:"policyArn"`
	FunctionName string   `json:"functionName"`
	TableName    string   `json:"tableName"`
	QueueURL     string   `json:"queueUrl"`
	TopicARN     string   `json:"topicArn"`
	KeyID        string   `json:"keyId"`
	SecretID     string   `json:"secretId"`
	Name         string   `json:"name"`
	Names        []string `json:"names"`
	InstanceID   string   `json:"instanceId"`
	LogGroupName string   `json:"logGroupName"`
	Path         string   `json:"path"`
	RoleARN      string   `json:"roleArn"`
	SnapshotID   string   `json:"snapshotId"` // ec2 snapshot calls
	TrailName    string   `json:"trailName"`  // cloudtrail's *Selectors calls; the others say name
	// kms:ReEncrypt's keys; the source is absent for symmetric keys,
	// whose ciphertext names it.
	SourceKeyID      string   `json:"sourceKeyId"`
	DestinationKeyID string   `json:"destinationKeyId"`
	instanceIDs      []string // instancesSet.items[].instanceId
	// Raw JSON of the item lists, parsed only for the calls that use
	// them (deletedKeys, transactTables, partiQLTables), so that other
	// records pay nothing for them.
	delete        []byte // s3 DeleteObjects: {"objects":[{"key":…}]}
	transactItems []byte // dynamodb Transact*Items: [{"put":{"tableName":…}}, …]
	statement     []byte // dynamodb ExecuteStatement: a PartiQL string
	statements    []byte // BatchExecuteStatement, ExecuteTransaction: [{"statement":…}]
	// Session attributes of sts:AssumeRole*, which need their own actions.
	sourceIdentity bool // sourceIdentity set: sts:SetSourceIdentity
	tags           bool // tags or principalTags set: sts:TagSession
}

// requestString returns one string field of requestParameters, "" when
// absent.
func requestString(params []byte, field string) string {
	if len(params) == 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(params, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[field], &s) != nil {
		return ""
	}
	return s
}

// uses pairs each action with the resources it acted on: the ARNs in
// resources[] and those built from requestParameters, keeping for each
// action only ARNs that fit one of its resource types in the catalog. An
// action with none gets "*".
func (c *Converter) uses(r *record, ev *store.Event, m resolved) []store.Use {
	actions := m.actions
	prefix := c.mapping.Prefix(r.EventSource)
	var cands []string
	var refs []string
	if len(r.Resources) > 0 && r.Resources[0] == '[' {
		refs, _ = parseResources(r.Resources)
	}
	for _, a := range refs {
		if strings.HasPrefix(a, "arn:") {
			cands = appendUnique(cands, clean(a))
		}
	}
	var built builtARNs
	b := arnBuilder{c: c, r: r, p: &r.params, refs: refs, prefix: prefix,
		principal: ev.Principal, principalType: ev.PrincipalType, acct: ev.RecipientAccountID}
	if b.acct == "" {
		b.acct = ev.AccountID
	}
	if b.run() {
		built = b.out
		for _, a := range built.arns {
			cands = appendUnique(cands, clean(a))
		}
	}
	copySource := built.copySource

	if built.setSourceIdentity || built.tagSession {
		actions = append([]string(nil), actions...)
		if built.setSourceIdentity {
			actions = append(actions, "sts:SetSourceIdentity")
		}
		if built.tagSession {
			actions = append(actions, "sts:TagSession")
		}
	}
	uses := make([]store.Use, 0, len(actions))
	for i, act := range actions {
		var (
			a      catalog.Action
			ok     bool
			rtypes []catalog.ResourceType
		)
		if i < len(m.defs) {
			if d := m.defs[i]; d != nil {
				a, ok, rtypes = *d, true, m.rtypes[i]
			}
		} else if a, ok = c.cat.Lookup(act); ok {
			rtypes = c.cat.ResourceTypesOf(a)
		}
		n := len(uses)
		if ok && !a.WildcardOnly() {
			list := cands
			// CopyObject/UploadPartCopy: GetObject is on the source.
			if copySource != "" && a.FullName() == "s3:GetObject" {
				list = []string{copySource}
			} else if copySource != "" && a.FullName() == "s3:PutObject" {
				list = withoutString(cands, copySource)
			} else if own, ok := built.of(a.FullName()); ok {
				list = own
			}
			for _, arn := range list {
				if _, fits := catalog.MatchResourceTypes(rtypes, arn); fits {
					uses = append(uses, store.Use{Action: act, Resource: arn})
				}
			}
			if len(uses) == n && built.fallback != "" {
				if _, fits := catalog.MatchResourceTypes(rtypes, built.fallback); fits {
					uses = append(uses, store.Use{Action: act, Resource: built.fallback})
				}
			}
		}
		if len(uses) == n {
			uses = append(uses, store.Use{Action: act, Resource: "*"})
		}
	}
	return uses
}

func withoutString(s []string, v string) []string {
	out := make([]string, 0, len(s))
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// builtARNs is what buildARNs makes of a request's parameters.
type builtARNs struct {
	// arns are the candidates for every action of the call.
	arns []string
	// copySource is the source object of an S3 copy, which s3:GetObject
	// reads (and s3:PutObject does not write).
	copySource string
	// perAction gives the resources of the actions that act on other
	// resources than the rest of the call (kms:ReEncryptFrom on the
	// source key, ReEncryptTo on the destination; each item of a DynamoDB
	// transaction or PartiQL batch on its own table). Such an action
	// takes only these; none fitting gives "*".
	perAction []actionARNs
	// fallback is for an action that no candidate fits, instead of "*":
	// the bucket's objects for a DeleteObjects whose keys are unknown.
	fallback string
	// The session attributes of an sts:AssumeRole* request, each of which
	// needs an action of its own: a source identity needs
	// sts:SetSourceIdentity, session tags sts:TagSession.
	setSourceIdentity, tagSession bool
}

type actionARNs struct {
	action string // catalog casing
	arns   []string
}

// of returns the resources perAction gives action, and whether it
// decides them (an empty list then means "*").
func (b *builtARNs) of(action string) ([]string, bool) {
	for _, pa := range b.perAction {
		if pa.action == action {
			return pa.arns, true
		}
	}
	return nil, false
}

// add records arn as a resource of action in perAction; arn "" only
// marks the action as decided (so that it does not take the call's
// other candidates).
func (b *builtARNs) add(action, arn string) {
	arn = clean(arn)
	for i := range b.perAction {
		if b.perAction[i].action == action {
			if arn != "" {
				b.perAction[i].arns = appendUnique(b.perAction[i].arns, arn)
			}
			return
		}
	}
	pa := actionARNs{action: action}
	if arn != "" {
		pa.arns = []string{arn}
	}
	b.perAction = append(b.perAction, pa)
}

// maxDeletedKeys bounds the object ARNs taken from one DeleteObjects
// request, which may name 1000 keys: each becomes a usage fact of its
// own, and a principal that deletes in bulk is granted a prefix or the
// bucket's objects, not a list of keys, so more keys than this are
// charged as the bucket's objects (bucket/*).
const maxDeletedKeys = 100

// run reads the request's resources, one method per service, and
// reports whether the service is one whose requests are read (others'
// actions get resources[] or "*"). The methods are called directly, not
// through a table of funcs, so that b stays on the stack.
func (b *arnBuilder) run() bool {
	switch b.prefix {
	case "s3":
		b.s3()
	case "iam":
		b.iam()
	case "lambda":
		b.lambda()
	case "dynamodb":
		b.dynamodb()
	case "sqs":
		b.sqs()
	case "sns":
		b.sns()
	case "kms":
		b.kms()
	case "secretsmanager":
		b.secretsmanager()
	case "ssm":
		b.ssm()
	case "logs":
		b.logs()
	case "sts":
		b.sts()
	case "ec2":
		b.ec2()
	case "cloudtrail":
		b.cloudtrail()
	default:
		return false
	}
	return true
}

// arnBuilder builds the resource ARNs of one request from its
// requestParameters with the catalog's ARN formats, into out.
//
// It holds no pointer to the event being converted: the catalog's ARN
// builder leaks what it is given, and escape analysis, which does not
// tell fields apart, would move such an event to the heap with it.
type arnBuilder struct {
	c      *Converter
	r      *record
	p      *requestParams // the record's, read only
	refs   []string       // the ARNs of the record's resources[]
	prefix string         // the service

	principal, principalType string // the caller's

	// The values of the ARN formats' common placeholders: the account
	// that received the request; its partition and region, set by the
	// first arnOf.
	acct, part, region string

	out builtARNs
}

// arnOf builds an ARN of a resource type of the service, "" when the
// catalog cannot. kv are placeholder names and values, looked up before
// the common ones (SQS names the queue's own account).
func (b *arnBuilder) arnOf(typ string, kv ...string) string {
	if b.part == "" {
		b.part = partitionOf(b.principal, b.r.AWSRegion)
		b.region = b.r.AWSRegion
	}
	a, err := b.c.cat.BuildARNFunc(b.prefix, typ, func(name string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == name {
				return kv[i+1]
			}
		}
		switch name {
		case "Partition":
			return b.part
		case "Region":
			return b.region
		case "Account":
			return b.acct
		}
		return ""
	})
	if err != nil {
		return ""
	}
	return a
}

// build adds the ARN arnOf builds, if any, to the call's candidates.
func (b *arnBuilder) build(typ string, kv ...string) {
	if a := b.arnOf(typ, kv...); a != "" {
		b.out.arns = append(b.out.arns, a)
	}
}

// addARN adds s to the call's candidates if it is meant as an ARN, and
// reports whether it is. A value that starts with "arn:" but is not a
// well-formed ARN fits no resource type later and gives "*", rather than
// being taken for a name.
func (b *arnBuilder) addARN(s string) bool {
	if !strings.HasPrefix(s, "arn:") {
		return false
	}
	b.out.arns = append(b.out.arns, s)
	return true
}

// nameOrARN adds the resource a parameter names: an ARN as is, a name
// (non-empty) as the ARN of type typ with the name as placeholder.
func (b *arnBuilder) nameOrARN(s, typ, placeholder string) {
	if s != "" && !b.addARN(s) {
		b.build(typ, placeholder, s)
	}
}

func (b *arnBuilder) s3() {
	p := b.p
	if p.BucketName != "" {
		b.build("bucket", "BucketName", p.BucketName)
		if p.Key != "" {
			b.build("object", "BucketName", p.BucketName, "ObjectName", p.Key)
		}
		if b.r.EventName == "DeleteObjects" {
			// CloudTrail mostly logs DeleteObjects without its keys
			// ("delete":""), and the bucket's objects are what the call
			// can have deleted.
			b.out.fallback = clean(b.arnOf("object", "BucketName", p.BucketName, "ObjectName", "*"))
			keys, all := deletedKeys(p.delete, maxDeletedKeys)
			if all {
				for _, k := range keys {
					b.build("object", "BucketName", p.BucketName, "ObjectName", k)
				}
			}
		}
	}
	if src := strings.TrimPrefix(p.CopySource, "/"); src != "" {
		src, _, _ = strings.Cut(src, "?versionId=")
		if bucket, k, ok := strings.Cut(src, "/"); ok && bucket != "" && k != "" {
			b.out.copySource = b.arnOf("object", "BucketName", bucket, "ObjectName", k)
		}
	}
}

// iam: IAM is global; the account is the principal's, paths unknown.
func (b *arnBuilder) iam() {
	p := b.p
	switch {
	case p.UserName != "":
		b.build("user", "UserNameWithPath", p.UserName)
	case b.principalType == "IAMUser" && p.RoleName == "" && p.GroupName == "":
		// User APIs called without UserName act on the calling user
		// (GetUser, ListAccessKeys, CreateAccessKey, …); actions without
		// a user resource type drop it in the catalog check.
		b.out.arns = append(b.out.arns, b.principal)
	}
	if p.RoleName != "" {
		b.build("role", "RoleNameWithPath", p.RoleName)
	}
	if p.GroupName != "" {
		b.build("group", "GroupNameWithPath", p.GroupName)
	}
	b.addARN(p.PolicyARN)
}

func (b *arnBuilder) lambda() { b.nameOrARN(b.p.FunctionName, "function", "FunctionName") }

// tableARN is the ARN of a DynamoDB table (or of its index), "" for no
// table.
func (b *arnBuilder) tableARN(table, index string) string {
	switch {
	case strings.HasPrefix(table, "arn:"):
		return table
	case table == "":
		return ""
	case index != "":
		return b.arnOf("index", "TableName", table, "IndexName", index)
	}
	return b.arnOf("table", "TableName", table)
}

func (b *arnBuilder) dynamodb() {
	p := b.p
	if a := b.tableARN(p.TableName, ""); a != "" {
		b.out.arns = append(b.out.arns, a)
	}
	// Each item of a transaction or PartiQL batch names its own table.
	// An action with an item whose table could not be read gets no list
	// of its own: the call's candidates (or "*") cover that item too.
	var unread []string
	item := func(action, table, index string) {
		if a := b.tableARN(table, index); a != "" {
			b.out.add(action, a)
		} else {
			unread = appendUnique(unread, action)
		}
	}
	switch b.r.EventName {
	case "TransactWriteItems", "TransactGetItems":
		transactTables(p.transactItems, func(action, table string) { item(action, table, "") })
	case "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction":
		partiQLTables(p.statement, p.statements, func(action, table, index string) {
			if action != "dynamodb:PartiQLSelect" {
				index = "" // only a select reads an index
			}
			item(action, table, index)
		})
	}
	if len(unread) > 0 {
		kept := b.out.perAction[:0]
		for _, pa := range b.out.perAction {
			if !slices.Contains(unread, pa.action) {
				kept = append(kept, pa)
			}
		}
		b.out.perAction = kept
	}
}

// sqs reads the queue URL, https://sqs.us-east-1.amazonaws.com/123456789012/name,
// whose account is the queue's own.
func (b *arnBuilder) sqs() {
	u := b.p.QueueURL
	if u == "" {
		return
	}
	parts := strings.Split(strings.TrimRight(u, "/"), "/")
	if len(parts) >= 2 {
		qacct, name := parts[len(parts)-2], parts[len(parts)-1]
		if allDigits(qacct) && name != "" {
			b.build("queue", "Account", qacct, "QueueName", name)
		}
	}
}

func (b *arnBuilder) sns() { b.addARN(b.p.TopicARN) }

// keyARN is the ARN of a KMS key named by id, alias or ARN, "" for none.
func (b *arnBuilder) keyARN(k string) string {
	switch {
	case strings.HasPrefix(k, "arn:"):
		return k
	case strings.HasPrefix(k, "alias/"):
		return b.arnOf("alias", "Alias", strings.TrimPrefix(k, "alias/"))
	case k != "":
		return b.arnOf("key", "KeyId", k)
	}
	return ""
}

func (b *arnBuilder) kms() {
	p := b.p
	if a := b.keyARN(p.KeyID); a != "" {
		b.out.arns = append(b.out.arns, a)
	}
	if b.r.EventName == "ReEncrypt" {
		from, to, ok := reEncryptKeys(b.refs, b.keyARN(p.SourceKeyID), b.keyARN(p.DestinationKeyID))
		if ok {
			b.out.add("kms:ReEncryptFrom", from)
			b.out.add("kms:ReEncryptTo", to)
		}
	}
}

func (b *arnBuilder) secretsmanager() {
	if s := b.p.SecretID; s != "" && !b.addARN(s) {
		// A secret's ARN ends in a random 6-character suffix that the
		// request does not carry; AWS documents name-?????? as the way
		// to name a secret in a policy.
		b.build("Secret", "SecretId", s+"-??????")
	}
}

func (b *arnBuilder) ssm() {
	if !strings.Contains(b.r.EventName, "Parameter") {
		return
	}
	p := b.p
	param := func(n string) {
		if n != "" && !b.addARN(n) {
			b.build("parameter", "ParameterNameWithoutLeadingSlash", strings.TrimPrefix(n, "/"))
		}
	}
	for _, n := range p.Names {
		param(n)
	}
	param(p.Name)
	param(p.Path)
}

func (b *arnBuilder) logs() {
	if g := b.p.LogGroupName; g != "" {
		b.build("log-group", "LogGroupName", g)
	}
}

func (b *arnBuilder) sts() {
	p := b.p
	b.addARN(p.RoleARN)
	if strings.HasPrefix(b.r.EventName, "AssumeRole") {
		b.out.setSourceIdentity = p.sourceIdentity
		b.out.tagSession = p.tags
	}
}

func (b *arnBuilder) ec2() {
	p := b.p
	for _, id := range p.instanceIDs {
		b.build("instance", "InstanceId", id)
	}
	if p.InstanceID != "" {
		b.build("instance", "InstanceId", p.InstanceID)
	}
	// ModifySnapshotAttribute, DescribeSnapshotAttribute,
	// ResetSnapshotAttribute, DeleteSnapshot. A snapshot's ARN has no
	// account; the catalog's format leaves it out.
	if p.SnapshotID != "" {
		b.build("snapshot", "SnapshotId", p.SnapshotID)
	}
}

// cloudtrail reads the trail of the trail calls: "name" (trailName for
// the selector calls), the trail's name or ARN (CloudTrail API reference,
// e.g. DeleteTrail, StopLogging, PutEventSelectors: "Specifies the name or
// the CloudTrail ARN of the trail"). A name means a trail of the account
// and Region called: those calls must be made in the trail's home Region
// (else InvalidHomeRegionException), and a trail seen from another Region
// (a shadow trail) is named by its ARN.
func (b *arnBuilder) cloudtrail() {
	switch b.r.EventName {
	case "CreateTrail", "DeleteTrail", "UpdateTrail", "GetTrail", "GetTrailStatus", "StartLogging", "StopLogging",
		"GetEventSelectors", "PutEventSelectors", "GetInsightSelectors", "PutInsightSelectors":
		b.nameOrARN(b.p.Name, "trail", "TrailName")
		b.nameOrARN(b.p.TrailName, "trail", "TrailName")
	}
}

// reEncryptKeys tells the source key of a kms:ReEncrypt from its
// destination: AWS checks kms:ReEncryptFrom on the source and
// kms:ReEncryptTo on the destination. resources[] lists "the source KMS
// key and the destination KMS key, in that order" (AWS KMS developer
// guide, "ReEncrypt" CloudTrail example); requestParameters always name
// the destination (destinationKeyId) and the source only for asymmetric
// keys (sourceKeyId), possibly by alias. src and dst are those as ARNs,
// "" when absent. ok is false when the keys cannot be told apart; the
// caller then charges both actions on every key, which is more than was
// used but never less, where a wrong guess would leave a needed
// permission out of the policy suggested from the usage.
func reEncryptKeys(refs []string, src, dst string) (from, to string, ok bool) {
	var keys []string
	for _, a := range refs {
		if isKeyARN(a) {
			keys = appendUnique(keys, a)
		}
	}
	switch len(keys) {
	case 0:
		// No resources[] (a trimmed record): the parameters alone. The
		// source of a symmetric ciphertext is unknown and gets "*".
		return src, dst, src != "" || dst != ""
	case 1:
		// One key: resources[] named it once because it is both (a
		// re-encryption under the same key), unless the parameters name
		// the other side as a different key.
		k := keys[0]
		switch {
		case isKeyARN(dst) && dst != k:
			return k, dst, true
		case isKeyARN(src) && src != k:
			return src, k, true
		}
		return k, k, true
	case 2:
		// The documented order, unless the parameters say the opposite.
		if dst == keys[0] || src == keys[1] {
			return keys[1], keys[0], true
		}
		return keys[0], keys[1], true
	}
	return "", "", false
}

// isKeyARN reports whether s is the ARN of a KMS key (not an alias).
func isKeyARN(s string) bool {
	a, ok := catalog.ParseARN(s)
	return ok && a.Service == "kms" && strings.HasPrefix(a.Resource, "key/")
}

// deletedKeys returns the keys of an s3 DeleteObjects request body
// (requestParameters.delete) when it lists at most max of them; all is
// false when it lists more or cannot be read. Both the API's shape,
// {"objects":[{"key":…}]}, and the XML body's, {"Object":[{"Key":…}]}
// with a lone object not in an array, are read.
func deletedKeys(raw []byte, max int) (keys []string, all bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, true // no keys logged ("delete":"")
	}
	p := &jsonParser{b: raw}
	var buf [64]byte
	n := 0
	key := func() error {
		return p.object(func(k []byte) error {
			if string(fold(k, &buf)) != "key" {
				return p.skip()
			}
			s, err := p.str()
			if s != "" {
				if n++; n <= max {
					keys = append(keys, s)
				}
			}
			return err
		})
	}
	err := p.object(func(k []byte) error {
		switch string(fold(k, &buf)) {
		case "objects", "object":
			if p.isObject() {
				return key()
			}
			return p.objects(key)
		}
		return p.skip()
	})
	if err != nil || n > max {
		return nil, false
	}
	return keys, true
}

// transactItemActions maps the item kinds of a DynamoDB transaction to
// the action each needs (as dynamoActions does for the call as a whole).
var transactItemActions = map[string]string{
	"put":            "dynamodb:PutItem",
	"update":         "dynamodb:UpdateItem",
	"delete":         "dynamodb:DeleteItem",
	"conditioncheck": "dynamodb:ConditionCheckItem",
	"get":            "dynamodb:GetItem",
}

// transactTables calls fn with the action and table name of each item of
// requestParameters.transactItems (TransactWriteItems, TransactGetItems),
// table "" when the item names none.
func transactTables(raw []byte, fn func(action, table string)) {
	if len(raw) == 0 {
		return
	}
	p := &jsonParser{b: raw}
	var buf [64]byte
	_ = p.objects(func() error {
		return p.object(func(k []byte) error {
			action, ok := transactItemActions[string(fold(k, &buf))]
			if !ok {
				return p.skip()
			}
			table := ""
			var err error
			if p.isObject() {
				err = p.object(func(k []byte) error {
					var buf [64]byte
					if string(fold(k, &buf)) != "tablename" {
						return p.skip()
					}
					var err error
					table, err = p.str()
					return err
				})
			} else {
				err = p.skip()
			}
			fn(action, table)
			return err
		})
	})
}

// partiQLTables calls fn with the action and the table (and index) of
// each PartiQL statement of a DynamoDB ExecuteStatement (statement, a
// JSON string) or BatchExecuteStatement / ExecuteTransaction
// (statements, [{"statement":…}]); table "" when it cannot be read.
func partiQLTables(statement, statements []byte, fn func(action, table, index string)) {
	one := func(stmt string) {
		action := partiQLAction(stmt)
		if action == "" {
			return
		}
		table, index, _ := partiQLTarget(stmt)
		fn(action, table, index)
	}
	if len(statement) > 0 {
		p := &jsonParser{b: statement}
		if s, err := p.str(); err == nil {
			one(s)
		}
	}
	if len(statements) > 0 {
		p := &jsonParser{b: statements}
		var buf [64]byte
		_ = p.objects(func() error {
			return p.object(func(k []byte) error {
				if string(fold(k, &buf)) != "statement" {
					return p.skip()
				}
				s, err := p.str()
				one(s)
				return err
			})
		})
	}
}
