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

// resourceServices are the prefixes whose requestParameters we read.
func resourceService(prefix string) bool {
	switch prefix {
	case "s3", "iam", "lambda", "dynamodb", "sqs", "sns", "kms", "secretsmanager", "ssm", "ec2", "logs", "sts":
		return true
	}
	return false
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
	var sessionAttrs int // 1: sourceIdentity, 2: session tags (sts:AssumeRole*)
	if resourceService(prefix) {
		p := r.params
		built = c.buildARNs(prefix, r, ev, &p, refs)
		if prefix == "sts" && strings.HasPrefix(r.EventName, "AssumeRole") {
			if p.sourceIdentity {
				sessionAttrs |= 1
			}
			if p.tags {
				sessionAttrs |= 2
			}
		}
		for _, a := range built.arns {
			cands = appendUnique(cands, clean(a))
		}
	}
	copySource := built.copySource

	if copySource == "" && prefix == "sts" && (sessionAttrs&1 != 0 || sessionAttrs&2 != 0) {
		actions = append([]string(nil), actions...)
		if sessionAttrs&1 != 0 {
			actions = append(actions, "sts:SetSourceIdentity")
		}
		if sessionAttrs&2 != 0 {
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

// buildARNs builds resource ARNs from requestParameters with the catalog's
// ARN formats. refs are the ARNs of the record's resources[].
func (c *Converter) buildARNs(prefix string, r *record, ev *store.Event, p *requestParams, refs []string) (out builtARNs) {
	acct := ev.RecipientAccountID
	if acct == "" {
		acct = ev.AccountID
	}
	part := partitionOf(ev.Principal, r.AWSRegion)
	region := r.AWSRegion
	// arnOf builds an ARN of a resource type of the service, "" when the
	// catalog cannot.
	arnOf := func(typ string, kv ...string) string {
		a, err := c.cat.BuildARNFunc(prefix, typ, func(name string) string {
			// The pairs first: SQS names the queue's own account.
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == name {
					return kv[i+1]
				}
			}
			switch name {
			case "Partition":
				return part
			case "Region":
				return region
			case "Account":
				return acct
			}
			return ""
		})
		if err != nil {
			return ""
		}
		return a
	}
	var arns []string
	build := func(typ string, kv ...string) {
		if a := arnOf(typ, kv...); a != "" {
			arns = append(arns, a)
		}
	}
	isARN := func(s string) bool { return strings.HasPrefix(s, "arn:") }
	switch prefix {
	case "s3":
		if p.BucketName != "" {
			build("bucket", "BucketName", p.BucketName)
			if p.Key != "" {
				build("object", "BucketName", p.BucketName, "ObjectName", p.Key)
			}
			if r.EventName == "DeleteObjects" {
				// CloudTrail mostly logs DeleteObjects without its keys
				// ("delete":""), and the bucket's objects are what the call
				// can have deleted.
				out.fallback = clean(arnOf("object", "BucketName", p.BucketName, "ObjectName", "*"))
				keys, all := deletedKeys(p.delete, maxDeletedKeys)
				if all {
					for _, k := range keys {
						build("object", "BucketName", p.BucketName, "ObjectName", k)
					}
				}
			}
		}
		if src := strings.TrimPrefix(p.CopySource, "/"); src != "" {
			src, _, _ = strings.Cut(src, "?versionId=")
			if b, k, ok := strings.Cut(src, "/"); ok && b != "" && k != "" {
				if a, err := c.cat.BuildARN("s3", "object", map[string]string{"Partition": part, "BucketName": b, "ObjectName": k}); err == nil {
					out.copySource = a
				}
			}
		}
	case "iam":
		// IAM is global: the account is the principal's, paths unknown.
		switch {
		case p.UserName != "":
			build("user", "UserNameWithPath", p.UserName)
		case ev.PrincipalType == "IAMUser" && p.RoleName == "" && p.GroupName == "":
			// User APIs called without UserName act on the calling user
			// (GetUser, ListAccessKeys, CreateAccessKey, …); actions without
			// a user resource type drop it in the catalog check.
			arns = append(arns, ev.Principal)
		}
		if p.RoleName != "" {
			build("role", "RoleNameWithPath", p.RoleName)
		}
		if p.GroupName != "" {
			build("group", "GroupNameWithPath", p.GroupName)
		}
		if isARN(p.PolicyARN) {
			arns = append(arns, p.PolicyARN)
		}
	case "lambda":
		switch fn := p.FunctionName; {
		case isARN(fn):
			arns = append(arns, fn)
		case fn != "":
			build("function", "FunctionName", fn)
		}
	case "dynamodb":
		tableARN := func(t, index string) string {
			switch {
			case isARN(t):
				return t
			case t == "":
				return ""
			case index != "":
				return arnOf("index", "TableName", t, "IndexName", index)
			}
			return arnOf("table", "TableName", t)
		}
		if a := tableARN(p.TableName, ""); a != "" {
			arns = append(arns, a)
		}
		// Each item of a transaction or PartiQL batch names its own table.
		// An action with an item whose table could not be read gets no
		// list of its own: the call's candidates (or "*") cover that
		// item too.
		var unread []string
		item := func(action, table, index string) {
			if a := tableARN(table, index); a != "" {
				out.add(action, a)
			} else {
				unread = appendUnique(unread, action)
			}
		}
		switch r.EventName {
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
			kept := out.perAction[:0]
			for _, pa := range out.perAction {
				if !slices.Contains(unread, pa.action) {
					kept = append(kept, pa)
				}
			}
			out.perAction = kept
		}
	case "sqs":
		// https://sqs.us-east-1.amazonaws.com/123456789012/name
		if u := p.QueueURL; u != "" {
			parts := strings.Split(strings.TrimRight(u, "/"), "/")
			if len(parts) >= 2 {
				qacct, name := parts[len(parts)-2], parts[len(parts)-1]
				if allDigits(qacct) && name != "" {
					build("queue", "Account", qacct, "QueueName", name)
				}
			}
		}
	case "sns":
		if isARN(p.TopicARN) {
			arns = append(arns, p.TopicARN)
		}
	case "kms":
		keyARN := func(k string) string {
			switch {
			case isARN(k):
				return k
			case strings.HasPrefix(k, "alias/"):
				return arnOf("alias", "Alias", strings.TrimPrefix(k, "alias/"))
			case k != "":
				return arnOf("key", "KeyId", k)
			}
			return ""
		}
		if a := keyARN(p.KeyID); a != "" {
			arns = append(arns, a)
		}
		if r.EventName == "ReEncrypt" {
			from, to, ok := reEncryptKeys(refs, keyARN(p.SourceKeyID), keyARN(p.DestinationKeyID))
			if ok {
				out.add("kms:ReEncryptFrom", from)
				out.add("kms:ReEncryptTo", to)
			}
		}
	case "secretsmanager":
		switch s := p.SecretID; {
		case isARN(s):
			arns = append(arns, s)
		case s != "":
			// A secret's ARN ends in a random 6-character suffix that the
			// request does not carry; AWS documents name-?????? as the way
			// to name a secret in a policy.
			build("Secret", "SecretId", s+"-??????")
		}
	case "ssm":
		if strings.Contains(ev.EventName, "Parameter") {
			names := append([]string(nil), p.Names...)
			if p.Name != "" {
				names = append(names, p.Name)
			}
			if p.Path != "" {
				names = append(names, p.Path)
			}
			for _, n := range names {
				if isARN(n) {
					arns = append(arns, n)
				} else if n != "" {
					build("parameter", "ParameterNameWithoutLeadingSlash", strings.TrimPrefix(n, "/"))
				}
			}
		}
	case "logs":
		if g := p.LogGroupName; g != "" {
			build("log-group", "LogGroupName", g)
		}
	case "sts":
		if isARN(p.RoleARN) {
			arns = append(arns, p.RoleARN)
		}
	case "ec2":
		ids := p.instanceIDs
		if p.InstanceID != "" {
			ids = append(ids, p.InstanceID)
		}
		for _, id := range ids {
			build("instance", "InstanceId", id)
		}
	}
	out.arns = arns
	return out
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
