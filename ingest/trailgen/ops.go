package trailgen

// resKind is the kind of resource an operation acts on. The manifest
// charges the resource's ARN, or "*" for resWild.
type resKind uint8

const (
	resWild resKind = iota
	resBucket
	resObject
	resTable
	resFunction
	resQueue
	resTopic
	resKey
	resSecret
	resParameter
	resLogGroup
	resSelfUser // the calling IAM user
	resRole     // a role of the account
	numResKinds
)

// catalogType is the IAM catalog resource type name for each kind.
var catalogType = [numResKinds]string{
	resWild:      "",
	resBucket:    "bucket",
	resObject:    "object",
	resTable:     "table",
	resFunction:  "function",
	resQueue:     "queue",
	resTopic:     "topic",
	resKey:       "key",
	resSecret:    "Secret",
	resParameter: "parameter",
	resLogGroup:  "log-group",
	resSelfUser:  "user",
	resRole:      "role",
}

// op is one API call the generator can emit: its CloudTrail names, the IAM
// action it needs, the resource it is charged on, and how the record looks.
type op struct {
	source    string // eventSource
	name      string // eventName
	action    string // IAM action
	noPerm    bool   // the call needs no permission (always allowed; counted as permissionless)
	res       resKind
	from      string // where ingest finds the resource in the record
	readOnly  bool
	data      bool     // data event (eventCategory Data, managementEvent false)
	weight    int      // relative frequency in principals' workloads
	errors    []string // non-authorization error codes this call can fail with
	version   string   // eventVersion
	denyCode  string   // errorCode of a denied call
	humanOnly bool     // only users and human roles call it
}

// The operation table. Weights follow the mix seen in busy accounts:
// S3 object reads, KMS decrypts and DynamoDB item calls dominate, EC2
// describes and STS identity checks are common, IAM reads are rare.
//
// Keep this table the single source of the event → action mapping: the
// manifest and Mappings() are derived from it, and the tests check every
// action and resource against the IAM catalog.
var opTable = []op{
	// S3 (object calls are data events; ListObjects needs s3:ListBucket).
	{source: "s3.amazonaws.com", name: "GetObject", action: "s3:GetObject", res: resObject, from: "resources[] AWS::S3::Object", readOnly: true, data: true, weight: 120, errors: []string{"NoSuchKey"}},
	{source: "s3.amazonaws.com", name: "PutObject", action: "s3:PutObject", res: resObject, from: "resources[] AWS::S3::Object", data: true, weight: 50, errors: []string{"SlowDown"}},
	{source: "s3.amazonaws.com", name: "HeadObject", action: "s3:GetObject", res: resObject, from: "resources[] AWS::S3::Object", readOnly: true, data: true, weight: 25, errors: []string{"NoSuchKey"}},
	{source: "s3.amazonaws.com", name: "DeleteObject", action: "s3:DeleteObject", res: resObject, from: "resources[] AWS::S3::Object", data: true, weight: 6},
	{source: "s3.amazonaws.com", name: "ListObjects", action: "s3:ListBucket", res: resBucket, from: "resources[] AWS::S3::Bucket", readOnly: true, data: true, weight: 40},
	{source: "s3.amazonaws.com", name: "ListBuckets", action: "s3:ListAllMyBuckets", res: resWild, readOnly: true, weight: 5, humanOnly: true},
	{source: "s3.amazonaws.com", name: "GetBucketLocation", action: "s3:GetBucketLocation", res: resBucket, from: "resources[] AWS::S3::Bucket", readOnly: true, weight: 10},
	{source: "s3.amazonaws.com", name: "GetBucketPolicy", action: "s3:GetBucketPolicy", res: resBucket, from: "resources[] AWS::S3::Bucket", readOnly: true, weight: 3, errors: []string{"NoSuchBucketPolicy"}, humanOnly: true},
	// STS. AssumeRole records come from role sessions, not from this weight.
	{source: "sts.amazonaws.com", name: "GetCallerIdentity", action: "sts:GetCallerIdentity", noPerm: true, res: resWild, readOnly: true, weight: 20},
	// Console sign-in of human users (starts a console session; needs no permission).
	{source: "signin.amazonaws.com", name: "ConsoleLogin", noPerm: true, res: resWild, weight: 0},
	{source: "sts.amazonaws.com", name: "AssumeRole", action: "sts:AssumeRole", res: resRole, from: "resources[] AWS::IAM::Role / requestParameters.roleArn", readOnly: true, weight: 0},
	// EC2 describes (denied as Client.UnauthorizedOperation).
	{source: "ec2.amazonaws.com", name: "DescribeInstances", action: "ec2:DescribeInstances", res: resWild, readOnly: true, weight: 35, errors: []string{"Client.RequestLimitExceeded"}, denyCode: "Client.UnauthorizedOperation"},
	{source: "ec2.amazonaws.com", name: "DescribeSecurityGroups", action: "ec2:DescribeSecurityGroups", res: resWild, readOnly: true, weight: 10, denyCode: "Client.UnauthorizedOperation"},
	{source: "ec2.amazonaws.com", name: "DescribeVpcs", action: "ec2:DescribeVpcs", res: resWild, readOnly: true, weight: 8, denyCode: "Client.UnauthorizedOperation"},
	{source: "ec2.amazonaws.com", name: "DescribeSubnets", action: "ec2:DescribeSubnets", res: resWild, readOnly: true, weight: 8, denyCode: "Client.UnauthorizedOperation"},
	{source: "ec2.amazonaws.com", name: "DescribeRegions", action: "ec2:DescribeRegions", res: resWild, readOnly: true, weight: 4, denyCode: "Client.UnauthorizedOperation"},
	// DynamoDB item calls are data events.
	{source: "dynamodb.amazonaws.com", name: "GetItem", action: "dynamodb:GetItem", res: resTable, from: "resources[] AWS::DynamoDB::Table", readOnly: true, data: true, weight: 60, errors: []string{"ProvisionedThroughputExceededException"}},
	{source: "dynamodb.amazonaws.com", name: "PutItem", action: "dynamodb:PutItem", res: resTable, from: "resources[] AWS::DynamoDB::Table", data: true, weight: 35, errors: []string{"ConditionalCheckFailedException"}},
	{source: "dynamodb.amazonaws.com", name: "Query", action: "dynamodb:Query", res: resTable, from: "resources[] AWS::DynamoDB::Table", readOnly: true, data: true, weight: 45, errors: []string{"ThrottlingException"}},
	{source: "dynamodb.amazonaws.com", name: "UpdateItem", action: "dynamodb:UpdateItem", res: resTable, from: "resources[] AWS::DynamoDB::Table", data: true, weight: 15, errors: []string{"ConditionalCheckFailedException"}},
	{source: "dynamodb.amazonaws.com", name: "DescribeTable", action: "dynamodb:DescribeTable", res: resTable, from: "resources[] AWS::DynamoDB::Table / requestParameters.tableName", readOnly: true, weight: 8, errors: []string{"ResourceNotFoundException"}},
	// Lambda: Invoke is a data event; management calls carry API-version suffixes.
	{source: "lambda.amazonaws.com", name: "Invoke", action: "lambda:InvokeFunction", res: resFunction, from: "resources[] AWS::Lambda::Function / requestParameters.functionName", data: true, weight: 40, errors: []string{"TooManyRequestsException"}},
	{source: "lambda.amazonaws.com", name: "GetFunction20150331v2", action: "lambda:GetFunction", res: resFunction, from: "requestParameters.functionName", readOnly: true, weight: 6, errors: []string{"ResourceNotFoundException"}},
	{source: "lambda.amazonaws.com", name: "ListFunctions20150331", action: "lambda:ListFunctions", res: resWild, readOnly: true, weight: 5},
	{source: "lambda.amazonaws.com", name: "UpdateFunctionCode20150331v2", action: "lambda:UpdateFunctionCode", res: resFunction, from: "requestParameters.functionName", weight: 2, humanOnly: true},
	// KMS.
	{source: "kms.amazonaws.com", name: "Decrypt", action: "kms:Decrypt", res: resKey, from: "resources[] AWS::KMS::Key", readOnly: true, weight: 60, errors: []string{"ThrottlingException"}},
	{source: "kms.amazonaws.com", name: "GenerateDataKey", action: "kms:GenerateDataKey", res: resKey, from: "resources[] AWS::KMS::Key", readOnly: true, weight: 30, errors: []string{"ThrottlingException"}},
	{source: "kms.amazonaws.com", name: "Encrypt", action: "kms:Encrypt", res: resKey, from: "resources[] AWS::KMS::Key", readOnly: true, weight: 8},
	{source: "kms.amazonaws.com", name: "DescribeKey", action: "kms:DescribeKey", res: resKey, from: "resources[] AWS::KMS::Key", readOnly: true, weight: 5},
	// SQS message calls are data events.
	{source: "sqs.amazonaws.com", name: "SendMessage", action: "sqs:SendMessage", res: resQueue, from: "resources[] AWS::SQS::Queue / requestParameters.queueUrl", data: true, weight: 30},
	{source: "sqs.amazonaws.com", name: "ReceiveMessage", action: "sqs:ReceiveMessage", res: resQueue, from: "resources[] AWS::SQS::Queue / requestParameters.queueUrl", data: true, weight: 30},
	{source: "sqs.amazonaws.com", name: "DeleteMessage", action: "sqs:DeleteMessage", res: resQueue, from: "resources[] AWS::SQS::Queue / requestParameters.queueUrl", data: true, weight: 20, errors: []string{"ReceiptHandleIsInvalid"}},
	{source: "sqs.amazonaws.com", name: "GetQueueAttributes", action: "sqs:GetQueueAttributes", res: resQueue, from: "requestParameters.queueUrl", readOnly: true, weight: 6},
	{source: "sqs.amazonaws.com", name: "ListQueues", action: "sqs:ListQueues", res: resWild, readOnly: true, weight: 3},
	// SNS.
	{source: "sns.amazonaws.com", name: "Publish", action: "sns:Publish", res: resTopic, from: "resources[] AWS::SNS::Topic / requestParameters.topicArn", data: true, weight: 20, errors: []string{"ThrottlingException"}},
	{source: "sns.amazonaws.com", name: "ListTopics", action: "sns:ListTopics", res: resWild, readOnly: true, weight: 3},
	{source: "sns.amazonaws.com", name: "GetTopicAttributes", action: "sns:GetTopicAttributes", res: resTopic, from: "requestParameters.topicArn", readOnly: true, weight: 3},
	// CloudWatch (eventSource monitoring, IAM prefix cloudwatch).
	{source: "monitoring.amazonaws.com", name: "GetMetricData", action: "cloudwatch:GetMetricData", res: resWild, readOnly: true, weight: 12, errors: []string{"Throttling"}},
	{source: "monitoring.amazonaws.com", name: "GetMetricStatistics", action: "cloudwatch:GetMetricStatistics", res: resWild, readOnly: true, weight: 6},
	{source: "monitoring.amazonaws.com", name: "ListMetrics", action: "cloudwatch:ListMetrics", res: resWild, readOnly: true, weight: 4},
	// CloudWatch Logs.
	{source: "logs.amazonaws.com", name: "DescribeLogStreams", action: "logs:DescribeLogStreams", res: resLogGroup, from: "requestParameters.logGroupName", readOnly: true, weight: 10, errors: []string{"ResourceNotFoundException"}},
	{source: "logs.amazonaws.com", name: "FilterLogEvents", action: "logs:FilterLogEvents", res: resLogGroup, from: "requestParameters.logGroupName", readOnly: true, weight: 5, humanOnly: true},
	{source: "logs.amazonaws.com", name: "DescribeLogGroups", action: "logs:DescribeLogGroups", res: resWild, readOnly: true, weight: 5},
	// IAM reads (always us-east-1).
	{source: "iam.amazonaws.com", name: "GetUser", action: "iam:GetUser", res: resSelfUser, from: "userIdentity.arn (no userName in the request: the caller)", readOnly: true, weight: 3, humanOnly: true},
	{source: "iam.amazonaws.com", name: "ListRoles", action: "iam:ListRoles", res: resWild, readOnly: true, weight: 3, humanOnly: true},
	{source: "iam.amazonaws.com", name: "GetRole", action: "iam:GetRole", res: resRole, from: "requestParameters.roleName", readOnly: true, weight: 3, errors: []string{"NoSuchEntity"}, humanOnly: true},
	{source: "iam.amazonaws.com", name: "ListAttachedRolePolicies", action: "iam:ListAttachedRolePolicies", res: resRole, from: "requestParameters.roleName", readOnly: true, weight: 2, humanOnly: true},
	{source: "iam.amazonaws.com", name: "ListUsers", action: "iam:ListUsers", res: resWild, readOnly: true, weight: 2, humanOnly: true},
	// Secrets Manager.
	{source: "secretsmanager.amazonaws.com", name: "GetSecretValue", action: "secretsmanager:GetSecretValue", res: resSecret, from: "requestParameters.secretId (full ARN)", readOnly: true, weight: 15, errors: []string{"ResourceNotFoundException"}},
	{source: "secretsmanager.amazonaws.com", name: "DescribeSecret", action: "secretsmanager:DescribeSecret", res: resSecret, from: "requestParameters.secretId (full ARN)", readOnly: true, weight: 4},
	{source: "secretsmanager.amazonaws.com", name: "ListSecrets", action: "secretsmanager:ListSecrets", res: resWild, readOnly: true, weight: 2, humanOnly: true},
	// SSM Parameter Store.
	{source: "ssm.amazonaws.com", name: "GetParameter", action: "ssm:GetParameter", res: resParameter, from: "requestParameters.name", readOnly: true, weight: 15, errors: []string{"ParameterNotFound", "ThrottlingException"}},
	{source: "ssm.amazonaws.com", name: "GetParametersByPath", action: "ssm:GetParametersByPath", res: resParameter, from: "requestParameters.path", readOnly: true, weight: 5},
	{source: "ssm.amazonaws.com", name: "DescribeParameters", action: "ssm:DescribeParameters", res: resWild, readOnly: true, weight: 3},
}

// Op indexes the generator refers to directly.
const (
	opAssumeRole   = "AssumeRole"
	opConsoleLogin = "ConsoleLogin"
)

// Mapping is one row of the event → IAM action table the generator uses.
// Ingest's own mapping can be cross-checked against it.
type Mapping struct {
	EventSource string // "s3.amazonaws.com"
	EventName   string // "ListObjects"
	Action      string // "s3:ListBucket"; "" for ConsoleLogin, which is no IAM action
	// Permissionless calls (sts:GetCallerIdentity, signin ConsoleLogin) are
	// allowed whatever the policies say; the manifest counts them apart
	// from Usage.
	Permissionless bool
	ResourceType   string // IAM catalog resource type of the charged resource; "" when the manifest charges "*"
	ResourceFrom   string // where the resource is found in the record
	DataEvent      bool
	// When is "" for the action every such record needs; otherwise the
	// condition under which the record needs Action as well (AssumeRole
	// with a sourceIdentity also needs sts:SetSourceIdentity on the role).
	When string
}

// sourceIdentityMapping is the extra action of an AssumeRole that sets a
// source identity (IAM User Guide, "Permissions required to set source
// identity").
var sourceIdentityMapping = Mapping{
	EventSource: "sts.amazonaws.com", EventName: "AssumeRole", Action: "sts:SetSourceIdentity", ResourceType: "role",
	ResourceFrom: "resources[] AWS::IAM::Role / requestParameters.roleArn", When: "requestParameters.sourceIdentity is set",
}

// Mappings returns the event → action table, in table order; conditional
// rows (When set) follow the table.
func Mappings() []Mapping {
	out := make([]Mapping, len(opTable), len(opTable)+1)
	for i, o := range opTable {
		out[i] = Mapping{
			EventSource:    o.source,
			EventName:      o.name,
			Action:         o.action,
			Permissionless: o.noPerm,
			ResourceType:   catalogType[o.res],
			ResourceFrom:   o.from,
			DataEvent:      o.data,
		}
	}
	return append(out, sourceIdentityMapping)
}

// serviceEvent is a call made by AWS itself, not by a principal.
type serviceEvent struct {
	source    string
	name      string
	invokedBy string
	typed     bool // userIdentity type AWSService (else no type, only accountId + invokedBy)
	eventType string
	res       resKind
	weight    int
}

var serviceTable = []serviceEvent{
	{source: "s3.amazonaws.com", name: "GetBucketAcl", invokedBy: "cloudtrail.amazonaws.com", typed: true, eventType: "AwsApiCall", res: resBucket, weight: 40},
	{source: "kms.amazonaws.com", name: "RotateKey", invokedBy: "kms.amazonaws.com", eventType: "AwsServiceEvent", res: resKey, weight: 5},
	{source: "secretsmanager.amazonaws.com", name: "RotationSucceeded", invokedBy: "secretsmanager.amazonaws.com", eventType: "AwsServiceEvent", res: resSecret, weight: 5},
	{source: "kms.amazonaws.com", name: "Decrypt", invokedBy: "secretsmanager.amazonaws.com", typed: true, eventType: "AwsApiCall", res: resKey, weight: 20},
	{source: "sts.amazonaws.com", name: "AssumeRole", invokedBy: "config.amazonaws.com", typed: true, eventType: "AwsApiCall", res: resWild, weight: 10},
}
