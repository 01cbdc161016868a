package report

import (
	"strings"

	"github.com/iamd/iamd/analyzer/catalog"
)

// Why a granted action cannot be judged from CloudTrail.
const (
	// UnobservablePermissionOnly: the action is a permission checked
	// inside another call and has no CloudTrail event of its own, or its
	// calls are never logged.
	UnobservablePermissionOnly = "permission-only"
	// UnobservableNoDataEvents: a data-plane action of a service whose
	// data events the account's trail did not show at all in the window:
	// the trail does not log them, so silence proves nothing.
	UnobservableNoDataEvents = "no-data-events"
	// UnobservableNoPermissionNeeded: the call succeeds whatever the
	// policies say, so its permission is never what made it work.
	UnobservableNoPermissionNeeded = "no-permission-needed"
)

// unloggedActions have no CloudTrail event of their own, or their calls
// are not logged; a test checks each against the catalog.
var unloggedActions = map[string]string{
	// IAM User Guide, "Granting a user permissions to pass a role to an
	// AWS service" (id_roles_use_passrole): PassRole is a permission
	// only, checked when a service call passes the role; CloudTrail logs
	// that call, never a PassRole.
	"iam:PassRole": "a permission checked when another call passes the role; CloudTrail logs that call, not iam:PassRole",
	// API Gateway Developer Guide, "Logging Amazon API Gateway API calls
	// by using AWS CloudTrail": only calls to the API Gateway service
	// API are logged, not invocations of the APIs it serves.
	"execute-api:Invoke":          "invocations of an API Gateway API are not CloudTrail events",
	"execute-api:InvalidateCache": "invocations of an API Gateway API are not CloudTrail events",
	"execute-api:ManageConnections": "WebSocket connection management calls of an API Gateway API are not " +
		"CloudTrail events",
	// Amazon RDS User Guide, "IAM database authentication": rds-db:connect
	// authorizes a database connection, which is not an AWS API call.
	"rds-db:connect": "authorizes a database sign-in, not an AWS API call",
	// Amazon CloudWatch Logs User Guide, "Logging Amazon CloudWatch Logs
	// API calls in AWS CloudTrail": the high-volume data calls below are
	// not logged.
	"logs:PutLogEvents": "CloudWatch Logs does not log PutLogEvents to CloudTrail",
	"logs:GetLogEvents": "CloudWatch Logs does not log GetLogEvents to CloudTrail",
	// Amazon OpenSearch Service Developer Guide, "Monitoring Amazon
	// OpenSearch Service API calls with AWS CloudTrail": only the
	// configuration API is logged, not the OpenSearch HTTP APIs.
	"es:ESHttpGet":    "OpenSearch HTTP requests are not CloudTrail events",
	"es:ESHttpPut":    "OpenSearch HTTP requests are not CloudTrail events",
	"es:ESHttpPost":   "OpenSearch HTTP requests are not CloudTrail events",
	"es:ESHttpDelete": "OpenSearch HTTP requests are not CloudTrail events",
	"es:ESHttpHead":   "OpenSearch HTTP requests are not CloudTrail events",
	"es:ESHttpPatch":  "OpenSearch HTTP requests are not CloudTrail events",
}

// permissionlessActions succeed whatever the policies say.
var permissionlessActions = map[string]string{
	// AWS STS API Reference, GetCallerIdentity: "No permissions are
	// required to perform this operation. If an administrator attaches a
	// policy to your identity that explicitly denies access to the
	// sts:GetCallerIdentity action, you can still perform this operation."
	"sts:GetCallerIdentity": "needs no permission: it succeeds even under an explicit deny",
}

// Data-event groups: CloudTrail logs these calls only as data events,
// which a trail records only when configured to (AWS CloudTrail User
// Guide, "Logging data events": resource types AWS::S3::Object,
// AWS::Lambda::Function, AWS::DynamoDB::Table, AWS::SNS::Topic,
// AWS::SQS::Queue, AWS::EC2::Snapshot for the EBS direct APIs, …).
const (
	dataS3       = "s3-object"
	dataLambda   = "lambda-invoke"
	dataDynamoDB = "dynamodb-item"
	dataSNS      = "sns-publish"
	dataSQS      = "sqs-message"
	dataEBS      = "ebs-direct"
)

var dataActions = map[string]string{
	// S3 bucket-level operations that are data events; every other S3
	// data event acts on an object (see DataGroup).
	"s3:ListBucket":                 dataS3,
	"s3:ListBucketVersions":         dataS3,
	"s3:ListBucketMultipartUploads": dataS3,
	"lambda:InvokeFunction":         dataLambda,
	"lambda:InvokeAsync":            dataLambda,
	"dynamodb:GetItem":              dataDynamoDB,
	"dynamodb:PutItem":              dataDynamoDB,
	"dynamodb:UpdateItem":           dataDynamoDB,
	"dynamodb:DeleteItem":           dataDynamoDB,
	"dynamodb:Query":                dataDynamoDB,
	"dynamodb:Scan":                 dataDynamoDB,
	"dynamodb:BatchGetItem":         dataDynamoDB,
	"dynamodb:BatchWriteItem":       dataDynamoDB,
	"dynamodb:ConditionCheckItem":   dataDynamoDB,
	"dynamodb:PartiQLSelect":        dataDynamoDB,
	"dynamodb:PartiQLInsert":        dataDynamoDB,
	"dynamodb:PartiQLUpdate":        dataDynamoDB,
	"dynamodb:PartiQLDelete":        dataDynamoDB,
	"sns:Publish":                   dataSNS,
	"sqs:SendMessage":               dataSQS,
	"sqs:ReceiveMessage":            dataSQS,
	"sqs:DeleteMessage":             dataSQS,
	"sqs:ChangeMessageVisibility":   dataSQS,
	"ebs:GetSnapshotBlock":          dataEBS,
	"ebs:PutSnapshotBlock":          dataEBS,
	"ebs:ListChangedBlocks":         dataEBS,
	"ebs:ListSnapshotBlocks":        dataEBS,
}

// DataGroup returns the data-event group of an action ("s3-object",
// "dynamodb-item", …); false for an action CloudTrail logs as a
// management event. S3 actions that act on objects (resource type
// "object") are data events, as are the listed bucket-level ones.
func DataGroup(cat *catalog.Catalog, action string) (string, bool) {
	a, ok := cat.Lookup(action)
	if !ok {
		g, ok := dataActions[action]
		return g, ok
	}
	full := a.FullName()
	if g, ok := dataActions[full]; ok {
		return g, true
	}
	if a.Service == "s3" {
		for _, r := range a.Resources {
			if strings.EqualFold(r.Type, "object") {
				return dataS3, true
			}
		}
	}
	return "", false
}

// Unobservable says why a granted action cannot be judged from the trail
// of an account whose data events dataSeen reports, or "" when it can.
func Unobservable(cat *catalog.Catalog, action string, dataSeen func(group string) bool) (reason, detail string) {
	if d, ok := unloggedActions[action]; ok {
		return UnobservablePermissionOnly, d
	}
	if d, ok := permissionlessActions[action]; ok {
		return UnobservableNoPermissionNeeded, d
	}
	if g, ok := DataGroup(cat, action); ok && !dataSeen(g) {
		return UnobservableNoDataEvents, "a " + g + " data event; the account's trail showed none in the window, so it does not log them"
	}
	return "", ""
}
