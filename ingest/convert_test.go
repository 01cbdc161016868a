package ingest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/iamd/iamd/store"
)

// mk builds a record from its userIdentity JSON, source, name and extra
// top-level fields (a JSON fragment starting with a comma, or "").
func mk(identity, source, name, extra string) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":%s,"eventTime":"2024-05-06T07:08:09Z","eventSource":"%s.amazonaws.com","eventName":%q,"awsRegion":"eu-west-1","sourceIPAddress":"192.0.2.1","userAgent":"ua","eventID":"id-1","recipientAccountId":"111122223333"%s}`, identity, source, name, extra)
}

const (
	idUser = `{"type":"IAMUser","principalId":"AIDA1","arn":"arn:aws:iam::111122223333:user/dev/alice","accountId":"111122223333","accessKeyId":"AKIAALICE","userName":"alice"}`
	idRole = `{"type":"AssumedRole","principalId":"AROA1:sess-1","arn":"arn:aws:sts::111122223333:assumed-role/Deploy/sess-1","accountId":"111122223333","accessKeyId":"ASIAROLE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA1","arn":"arn:aws:iam::111122223333:role/ci/Deploy","accountId":"111122223333","userName":"Deploy"},"sourceIdentity":"jane","attributes":{"creationDate":"2024-05-06T07:00:00Z","mfaAuthenticated":"false"}}}`
)

func convertOne(t *testing.T, c *Converter, raw string) Result {
	t.Helper()
	rs, _ := decodeString(t, c, "t.json", raw)
	if len(rs) != 1 {
		t.Fatalf("got %d results, want 1: %s", len(rs), ids(rs))
	}
	return rs[0]
}

func TestAttribution(t *testing.T) {
	c := testConverter(t)
	for _, tc := range []struct {
		name, identity, source, event, extra string
		kind                                 Kind
		principal, ptype, account, recipient string
		session, sourceIdentity, key         string
	}{
		{name: "iam user", identity: idUser, source: "iam", event: "GetUser", kind: KindUsage,
			principal: "arn:aws:iam::111122223333:user/dev/alice", ptype: "IAMUser", account: "111122223333", recipient: "111122223333", key: "AKIAALICE"},
		{name: "iam user without arn", identity: `{"type":"IAMUser","principalId":"AIDA1","accountId":"111122223333","accessKeyId":"","userName":"bob"}`, source: "iam", event: "GetUser", kind: KindUsage,
			principal: "arn:aws:iam::111122223333:user/bob", ptype: "IAMUser", account: "111122223333", recipient: "111122223333"},
		{name: "assumed role keeps path, session and source identity", identity: idRole, source: "s3", event: "ListBuckets", kind: KindUsage,
			principal: "arn:aws:iam::111122223333:role/ci/Deploy", ptype: "AssumedRole", account: "111122223333", recipient: "111122223333", session: "sess-1", sourceIdentity: "jane", key: "ASIAROLE"},
		{name: "assumed role without session issuer", identity: `{"type":"AssumedRole","principalId":"AROA1:s2","arn":"arn:aws:sts::111122223333:assumed-role/Deploy/s2","accountId":"111122223333"}`, source: "s3", event: "ListBuckets", kind: KindUsage,
			principal: "arn:aws:iam::111122223333:role/Deploy", ptype: "AssumedRole", account: "111122223333", recipient: "111122223333", session: "s2"},
		{name: "federated user charged to its issuer", identity: `{"type":"FederatedUser","principalId":"111122223333:fed","arn":"arn:aws:sts::111122223333:federated-user/fed","accountId":"111122223333","accessKeyId":"ASIAFED","sessionContext":{"sessionIssuer":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/broker","accountId":"111122223333","userName":"broker"}}}`, source: "s3", event: "ListBuckets", kind: KindUsage,
			principal: "arn:aws:iam::111122223333:user/broker", ptype: "FederatedUser", account: "111122223333", recipient: "111122223333", session: "fed", key: "ASIAFED"},
		{name: "root", identity: `{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"}`, source: "iam", event: "ListUsers", kind: KindUsage,
			principal: "arn:aws:iam::111122223333:root", ptype: "Root", account: "111122223333", recipient: "111122223333"},
		{name: "identity center user", identity: `{"type":"IdentityCenterUser","accountId":"111122223333","onBehalfOf":{"userId":"u-123","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-1"},"credentialId":"c"}`, source: "sso", event: "ListInstances", kind: KindUsage,
			principal: "arn:aws:identitystore::111122223333:identitystore/d-1/user/u-123", ptype: "IdentityCenterUser", account: "111122223333", recipient: "111122223333"},
		{name: "saml user on AssumeRoleWithSAML", identity: `{"type":"SAMLUser","principalId":"x:SamlExample","userName":"SamlExample","identityProvider":"idp"}`, source: "sts", event: "AssumeRoleWithSAML",
			extra: `,"requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/SAMLRole","principalArn":"arn:aws:iam::111122223333:saml-provider/Shib"}`, kind: KindUsage,
			principal: "arn:aws:iam::111122223333:saml-provider/Shib", ptype: "SAMLUser", account: "111122223333", recipient: "111122223333", session: "SamlExample"},
		{name: "web identity user", identity: `{"type":"WebIdentityUser","principalId":"accounts.google.com:app:user","userName":"user","identityProvider":"accounts.google.com"}`, source: "sts", event: "AssumeRoleWithWebIdentity", kind: KindUsage,
			principal: "accounts.google.com", ptype: "WebIdentityUser", account: "111122223333", recipient: "111122223333", session: "user"},
		{name: "web identity via own oidc provider", identity: `{"type":"WebIdentityUser","principalId":"p","userName":"u","identityProvider":"token.actions.githubusercontent.com"}`, source: "sts", event: "AssumeRoleWithWebIdentity", kind: KindUsage,
			principal: "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com", ptype: "WebIdentityUser", account: "111122223333", recipient: "111122223333", session: "u"},
		{name: "cross-account caller keeps both accounts", identity: strings.ReplaceAll(idRole, "111122223333", "999988887777"), source: "s3", event: "ListBuckets", kind: KindUsage,
			principal: "arn:aws:iam::999988887777:role/ci/Deploy", ptype: "AssumedRole", account: "999988887777", recipient: "111122223333", session: "sess-1", sourceIdentity: "jane", key: "ASIAROLE"},
		{name: "another account's hidden caller", identity: `{"type":"AWSAccount","principalId":"AIDAX","accountId":"999988887777"}`, source: "sts", event: "AssumeRole", kind: KindUsage,
			principal: "arn:aws:iam::999988887777:root", ptype: "AWSAccount", account: "999988887777", recipient: "111122223333"},
		{name: "aws service", identity: `{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}`, source: "sts", event: "AssumeRole", kind: KindServiceEvent},
		{name: "service event with only invokedBy", identity: `{"accountId":"111122223333","invokedBy":"secretsmanager.amazonaws.com"}`, source: "secretsmanager", event: "RotationSucceeded", kind: KindServiceEvent},
		{name: "AwsServiceEvent type", identity: `{"accountId":"111122223333"}`, source: "ec2", event: "SharedSnapshotVolumeCreated", extra: `,"eventType":"AwsServiceEvent"`, kind: KindServiceEvent},
		{name: "hidden user name", identity: `{"type":"IAMUser","accountId":"111122223333","userName":"HIDDEN_DUE_TO_SECURITY_REASONS","principalId":"111122223333"}`, source: "signin", event: "ConsoleLogin", kind: KindNonPrincipal},
		{name: "unknown type", identity: `{"type":"Unknown","principalId":"x"}`, source: "sts", event: "GetCallerIdentity", kind: KindNonPrincipal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := convertOne(t, c, mk(tc.identity, tc.source, tc.event, tc.extra))
			if r.Kind != tc.kind {
				t.Fatalf("Kind = %v, want %v (unmapped %q)", r.Kind, tc.kind, r.Unmapped)
			}
			if tc.kind != KindUsage {
				return
			}
			ev := r.Event
			for _, f := range []struct{ name, got, want string }{
				{"Principal", ev.Principal, tc.principal},
				{"PrincipalType", ev.PrincipalType, tc.ptype},
				{"AccountID", ev.AccountID, tc.account},
				{"RecipientAccountID", ev.RecipientAccountID, tc.recipient},
				{"SessionName", ev.SessionName, tc.session},
				{"SourceIdentity", ev.SourceIdentity, tc.sourceIdentity},
				{"AccessKeyID", ev.AccessKeyID, tc.key},
			} {
				if f.got != f.want {
					t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
				}
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	c := testConverter(t)
	for _, tc := range []struct {
		code    string
		outcome store.Outcome
	}{
		{"", store.OutcomeAllowed},
		{"AccessDenied", store.OutcomeDenied},
		{"AccessDeniedException", store.OutcomeDenied},
		{"Client.UnauthorizedOperation", store.OutcomeDenied},
		{"UnauthorizedOperation", store.OutcomeDenied},
		{"VpceAccessDenied", store.OutcomeDenied},
		{"ThrottlingException", store.OutcomeAllowed},
		{"NoSuchEntityException", store.OutcomeAllowed},
		{"ValidationException", store.OutcomeAllowed},
		{"Client.InvalidParameterValue", store.OutcomeAllowed},
	} {
		t.Run("code="+tc.code, func(t *testing.T) {
			extra := ""
			if tc.code != "" {
				extra = fmt.Sprintf(`,"errorCode":%q,"errorMessage":"m"`, tc.code)
			}
			r := convertOne(t, c, mk(idUser, "iam", "GetUser", extra))
			if r.Event.Outcome != tc.outcome || r.Event.ErrorCode != tc.code {
				t.Fatalf("Outcome=%v ErrorCode=%q, want %v %q", r.Event.Outcome, r.Event.ErrorCode, tc.outcome, tc.code)
			}
		})
	}
}

func usesString(us []store.Use) string {
	var s []string
	for _, u := range us {
		s = append(s, u.Action+" "+u.Resource)
	}
	return strings.Join(s, " | ")
}

func TestMappingAndResources(t *testing.T) {
	c := testConverter(t)
	const trailARN = "arn:aws:cloudtrail:eu-west-1:111122223333:trail/"
	for _, tc := range []struct {
		name, source, event, extra string
		kind                       Kind
		uses                       string
	}{
		{"s3 ListBuckets", "s3", "ListBuckets", "", KindUsage, "s3:ListAllMyBuckets *"},
		{"s3 ListObjects on a bucket", "s3", "ListObjects", `,"requestParameters":{"bucketName":"b1","prefix":""}`, KindUsage, "s3:ListBucket arn:aws:s3:::b1"},
		{"s3 HeadObject", "s3", "HeadObject", `,"requestParameters":{"bucketName":"b1","key":"a/b.txt"}`, KindUsage, "s3:GetObject arn:aws:s3:::b1/a/b.txt"},
		{"s3 CopyObject reads the source", "s3", "CopyObject", `,"requestParameters":{"bucketName":"dst","key":"k2","x-amz-copy-source":"src/k1"}`, KindUsage,
			"s3:PutObject arn:aws:s3:::dst/k2 | s3:GetObject arn:aws:s3:::src/k1"},
		{"s3 DeleteObjects", "s3", "DeleteObjects", `,"requestParameters":{"bucketName":"b1","delete":""}`, KindUsage, "s3:DeleteObject arn:aws:s3:::b1/*"},
		{"s3 GetBucketCors", "s3", "GetBucketCors", `,"requestParameters":{"bucketName":"b1"}`, KindUsage, "s3:GetBucketCORS arn:aws:s3:::b1"},
		{"s3 GetBucketLifecycle", "s3", "GetBucketLifecycle", `,"requestParameters":{"bucketName":"b1"}`, KindUsage, "s3:GetLifecycleConfiguration arn:aws:s3:::b1"},
		{"s3 PutBucketEncryption", "s3", "PutBucketEncryption", `,"requestParameters":{"bucketName":"b1"}`, KindUsage, "s3:PutEncryptionConfiguration arn:aws:s3:::b1"},
		{"s3 multipart upload", "s3", "UploadPart", `,"requestParameters":{"bucketName":"b1","key":"big"}`, KindUsage, "s3:PutObject arn:aws:s3:::b1/big"},
		{"resources array", "s3", "GetObject", `,"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::rb/rk"},{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::rb"}]`, KindUsage, "s3:GetObject arn:aws:s3:::rb/rk"},
		{"lambda versioned name", "lambda", "GetFunction20150331v2", `,"requestParameters":{"functionName":"fn"}`, KindUsage, "lambda:GetFunction arn:aws:lambda:eu-west-1:111122223333:function:fn"},
		{"lambda CreateFunction20150331", "lambda", "CreateFunction20150331", `,"requestParameters":{"functionName":"arn:aws:lambda:eu-west-1:111122223333:function:g"}`, KindUsage, "lambda:CreateFunction arn:aws:lambda:eu-west-1:111122223333:function:g"},
		{"cloudfront versioned name", "cloudfront", "GetDistribution2015_07_27", "", KindUsage, "cloudfront:GetDistribution *"},
		{"monitoring is cloudwatch", "monitoring", "DescribeAlarms", "", KindUsage, "cloudwatch:DescribeAlarms *"},
		{"kms ReEncrypt", "kms", "ReEncrypt", `,"requestParameters":{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}`, KindUsage,
			"kms:ReEncryptFrom arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab | kms:ReEncryptTo arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		// An alias is not a resource type of kms:Decrypt (the key behind it
		// is unknown), so the catalog check leaves "*".
		{"kms alias", "kms", "Decrypt", `,"requestParameters":{"keyId":"alias/app"}`, KindUsage, "kms:Decrypt *"},
		{"dynamodb PartiQL select", "dynamodb", "ExecuteStatement", `,"requestParameters":{"statement":"SELECT * FROM t"}`, KindUsage, "dynamodb:PartiQLSelect *"},
		{"dynamodb PartiQL update", "dynamodb", "ExecuteStatement", `,"requestParameters":{"statement":"update t set a=1"}`, KindUsage, "dynamodb:PartiQLUpdate *"},
		{"dynamodb TransactWriteItems", "dynamodb", "TransactWriteItems", `,"requestParameters":{"transactItems":[{"put":{"tableName":"t"}},{"delete":{"tableName":"t"}}]}`, KindUsage,
			"dynamodb:DeleteItem arn:aws:dynamodb:eu-west-1:111122223333:table/t | dynamodb:PutItem arn:aws:dynamodb:eu-west-1:111122223333:table/t"},
		{"dynamodb table", "dynamodb", "GetItem", `,"requestParameters":{"tableName":"orders"}`, KindUsage, "dynamodb:GetItem arn:aws:dynamodb:eu-west-1:111122223333:table/orders"},
		{"sqs queue url", "sqs", "SendMessage", `,"requestParameters":{"queueUrl":"https://sqs.eu-west-1.amazonaws.com/444455556666/jobs"}`, KindUsage, "sqs:SendMessage arn:aws:sqs:eu-west-1:444455556666:jobs"},
		{"sns topic", "sns", "Publish", `,"requestParameters":{"topicArn":"arn:aws:sns:eu-west-1:111122223333:t"}`, KindUsage, "sns:Publish arn:aws:sns:eu-west-1:111122223333:t"},
		{"secret by name", "secretsmanager", "GetSecretValue", `,"requestParameters":{"secretId":"db/pw"}`, KindUsage, "secretsmanager:GetSecretValue arn:aws:secretsmanager:eu-west-1:111122223333:secret:db/pw-??????"},
		{"ssm parameters", "ssm", "GetParameters", `,"requestParameters":{"names":["/app/a","b"]}`, KindUsage,
			"ssm:GetParameters arn:aws:ssm:eu-west-1:111122223333:parameter/app/a | ssm:GetParameters arn:aws:ssm:eu-west-1:111122223333:parameter/b"},
		{"ec2 instances set", "ec2", "StopInstances", `,"requestParameters":{"instancesSet":{"items":[{"instanceId":"i-1"},{"instanceId":"i-2"}]}}`, KindUsage,
			"ec2:StopInstances arn:aws:ec2:eu-west-1:111122223333:instance/i-1 | ec2:StopInstances arn:aws:ec2:eu-west-1:111122223333:instance/i-2"},
		{"iam user resource", "iam", "CreateAccessKey", `,"requestParameters":{"userName":"bob"}`, KindUsage, "iam:CreateAccessKey arn:aws:iam::111122223333:user/bob"},
		{"iam role resource", "iam", "GetRole", `,"requestParameters":{"roleName":"r"}`, KindUsage, "iam:GetRole arn:aws:iam::111122223333:role/r"},
		{"GetUser without userName acts on the caller", "iam", "GetUser", `,"requestParameters":null`, KindUsage, "iam:GetUser arn:aws:iam::111122223333:user/dev/alice"},
		{"ListUsers has no user resource", "iam", "ListUsers", "", KindUsage, "iam:ListUsers *"},
		{"logs log group", "logs", "FilterLogEvents", `,"requestParameters":{"logGroupName":"/aws/lambda/f"}`, KindUsage, "logs:FilterLogEvents arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/f"},
		{"ssm parameters by path", "ssm", "GetParametersByPath", `,"requestParameters":{"path":"/app/","recursive":true}`, KindUsage, "ssm:GetParametersByPath arn:aws:ssm:eu-west-1:111122223333:parameter/app/"},
		{"AssumeRole with source identity and tags", "sts", "AssumeRole", `,"requestParameters":{"roleArn":"arn:aws:iam::444455556666:role/R","roleSessionName":"s","sourceIdentity":"jane","tags":[{"key":"k","value":"v"}]}`, KindUsage,
			"sts:AssumeRole arn:aws:iam::444455556666:role/R | sts:SetSourceIdentity arn:aws:iam::444455556666:role/R | sts:TagSession arn:aws:iam::444455556666:role/R"},
		{"plain AssumeRole", "sts", "AssumeRole", `,"requestParameters":{"roleArn":"arn:aws:iam::444455556666:role/R","roleSessionName":"s"}`, KindUsage, "sts:AssumeRole arn:aws:iam::444455556666:role/R"},
		// The trail of CloudTrail's trail calls and the snapshot of EC2's
		// snapshot-attribute calls, from requestParameters as CloudTrail
		// logs them (the shapes of the shared invictus-ir and Panther
		// samples): "name" for most trail calls and "trailName" for the
		// selector calls, each a trail name or ARN; "snapshotId".
		{"DeleteTrail by name", "cloudtrail", "DeleteTrail", `,"requestParameters":{"name":"stratus-red-team-ctlr-trail-zqfsvooxqj"}`, KindUsage,
			"cloudtrail:DeleteTrail " + trailARN + "stratus-red-team-ctlr-trail-zqfsvooxqj"},
		{"StopLogging by name", "cloudtrail", "StopLogging", `,"requestParameters":{"name":"stratus-red-team-ct-stop-trail-qzbgnfqisx"}`, KindUsage,
			"cloudtrail:StopLogging " + trailARN + "stratus-red-team-ct-stop-trail-qzbgnfqisx"},
		// An ARN names its own Region and account.
		{"StopLogging by ARN", "cloudtrail", "StopLogging", `,"requestParameters":{"name":"arn:aws:cloudtrail:us-west-2:123456789012:trail/example-trail"}`, KindUsage,
			"cloudtrail:StopLogging arn:aws:cloudtrail:us-west-2:123456789012:trail/example-trail"},
		{"PutEventSelectors by trailName", "cloudtrail", "PutEventSelectors",
			`,"requestParameters":{"trailName":"stratus-red-team-ctes-trail-qyxyekjbtk","eventSelectors":[{"readWriteType":"ReadOnly","includeManagementEvents":false,"dataResources":[{"type":"AWS::S3::Object","values":[]},{"type":"AWS::Lambda::Function","values":[]}],"excludeManagementEventSources":[]}]}`, KindUsage,
			"cloudtrail:PutEventSelectors " + trailARN + "stratus-red-team-ctes-trail-qyxyekjbtk"},
		{"PutEventSelectors by name ARN", "cloudtrail", "PutEventSelectors",
			`,"requestParameters":{"name":"arn:aws:cloudtrail:eu-west-1:111122223333:trail/t1","eventSelectors":[]}`, KindUsage,
			"cloudtrail:PutEventSelectors " + trailARN + "t1"},
		{"GetEventSelectors by trailName", "cloudtrail", "GetEventSelectors", `,"requestParameters":{"trailName":"t2"}`, KindUsage,
			"cloudtrail:GetEventSelectors " + trailARN + "t2"},
		// Not a trail call: an event data store's name is no trail.
		{"CreateEventDataStore name", "cloudtrail", "CreateEventDataStore", `,"requestParameters":{"name":"eds"}`, KindUsage,
			"cloudtrail:CreateEventDataStore *"},
		{"DeleteTrail without parameters", "cloudtrail", "DeleteTrail", `,"requestParameters":null`, KindUsage, "cloudtrail:DeleteTrail *"},
		{"ModifySnapshotAttribute", "ec2", "ModifySnapshotAttribute",
			`,"requestParameters":{"snapshotId":"snap-083d3b857c13988bc","createVolumePermission":{"add":{"items":[{"userId":"012345678912"}]}},"attributeType":"CREATE_VOLUME_PERMISSION"}`, KindUsage,
			"ec2:ModifySnapshotAttribute arn:aws:ec2:eu-west-1::snapshot/snap-083d3b857c13988bc"},
		{"ResetSnapshotAttribute", "ec2", "ResetSnapshotAttribute", `,"requestParameters":{"snapshotId":"snap-1111","attributeType":"CREATE_VOLUME_PERMISSION"}`, KindUsage,
			"ec2:ResetSnapshotAttribute arn:aws:ec2:eu-west-1::snapshot/snap-1111"},
		{"apigateway verb", "apigateway", "GetResource", "", KindUsage, "apigateway:GET *"},
		{"catalog fallback", "guardduty", "ListDetectors", "", KindUsage, "guardduty:ListDetectors *"},
		{"permissionless GetCallerIdentity", "sts", "GetCallerIdentity", "", KindPermissionless, ""},
		{"permissionless ConsoleLogin", "signin", "ConsoleLogin", "", KindPermissionless, ""},
		{"permissionless CheckMfa", "signin", "CheckMfa", "", KindPermissionless, ""},
		{"unmapped invented name", "iam", "NotCreateUser", "", KindUnmapped, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := convertOne(t, c, mk(idUser, tc.source, tc.event, tc.extra))
			if r.Kind != tc.kind {
				t.Fatalf("Kind = %v, want %v", r.Kind, tc.kind)
			}
			if got := usesString(r.Event.Uses); got != tc.uses {
				t.Fatalf("Uses = %q, want %q", got, tc.uses)
			}
			if tc.kind == KindUnmapped {
				if want := tc.source + ".amazonaws.com/" + tc.event; r.Unmapped != want {
					t.Fatalf("Unmapped = %q, want %q", r.Unmapped, want)
				}
			}
		})
	}
}

func TestStripVersion(t *testing.T) {
	for in, want := range map[string]string{
		"CreateFunction20150331":       "CreateFunction",
		"GetFunction20150331v2":        "GetFunction",
		"AddPermission20150331v2":      "AddPermission",
		"CreateDistribution2015_07_27": "CreateDistribution",
		"GetObject":                    "GetObject",
		"ListObjectsV2":                "ListObjectsV2",
		"2015":                         "2015",
	} {
		if got := stripVersion(in); got != want {
			t.Errorf("stripVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
