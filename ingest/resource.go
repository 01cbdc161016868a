package ingest

import (
	"encoding/json"
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
	instanceIDs  []string // instancesSet.items[].instanceId
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
	var copySource string
	var sessionAttrs int // 1: sourceIdentity, 2: session tags (sts:AssumeRole*)
	if resourceService(prefix) {
		p := r.params
		var built []string
		built, copySource = c.buildARNs(prefix, r, ev, &p)
		if prefix == "sts" && strings.HasPrefix(r.EventName, "AssumeRole") {
			if p.sourceIdentity {
				sessionAttrs |= 1
			}
			if p.tags {
				sessionAttrs |= 2
			}
		}
		for _, a := range built {
			cands = appendUnique(cands, clean(a))
		}
	}

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
			}
			for _, arn := range list {
				if _, fits := catalog.MatchResourceTypes(rtypes, arn); fits {
					uses = append(uses, store.Use{Action: act, Resource: arn})
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

// buildARNs builds resource ARNs from requestParameters with the catalog's
// ARN formats. The copy source of an S3 copy is returned separately.
func (c *Converter) buildARNs(prefix string, r *record, ev *store.Event, p *requestParams) (arns []string, copySource string) {
	acct := ev.RecipientAccountID
	if acct == "" {
		acct = ev.AccountID
	}
	part := partitionOf(ev.Principal, r.AWSRegion)
	region := r.AWSRegion
	build := func(typ string, kv ...string) {
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
		if err == nil {
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
		}
		if src := strings.TrimPrefix(p.CopySource, "/"); src != "" {
			src, _, _ = strings.Cut(src, "?versionId=")
			if b, k, ok := strings.Cut(src, "/"); ok && b != "" && k != "" {
				if a, err := c.cat.BuildARN("s3", "object", map[string]string{"Partition": part, "BucketName": b, "ObjectName": k}); err == nil {
					copySource = a
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
		switch t := p.TableName; {
		case isARN(t):
			arns = append(arns, t)
		case t != "":
			build("table", "TableName", t)
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
		switch k := p.KeyID; {
		case isARN(k):
			arns = append(arns, k)
		case strings.HasPrefix(k, "alias/"):
			build("alias", "Alias", strings.TrimPrefix(k, "alias/"))
		case k != "":
			build("key", "KeyId", k)
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
	return arns, copySource
}
