package ingest

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/store"
)

// hiddenName is what CloudTrail writes instead of a user name it will not
// reveal (a failed console sign-in with a mistyped user name).
const hiddenName = "HIDDEN_DUE_TO_SECURITY_REASONS"

// builtinWebIdentity reports the built-in web identity providers that
// trust policies name as is ("Federated": "accounts.google.com").
func builtinWebIdentity(p string) bool {
	switch p {
	case "accounts.google.com", "graph.facebook.com", "www.amazon.com", "cognito-identity.amazonaws.com":
		return true
	}
	return false
}

// attribute fills the principal fields of ev from the record's
// userIdentity. It returns 0 when ev names a principal, otherwise the kind
// (service event, non-principal) the record is counted as.
func (c *Converter) attribute(r *record, ev *store.Event) Kind {
	u := r.UserIdentity
	if u == nil {
		return KindNonPrincipal
	}
	if u.Type == "AWSService" || r.EventType == "AwsServiceEvent" || (u.Type == "" && u.InvokedBy != "") {
		return KindServiceEvent
	}
	if u.UserName == hiddenName || strings.Contains(u.ARN, hiddenName) || u.PrincipalID == hiddenName {
		return KindNonPrincipal
	}
	ev.PrincipalType = clean(u.Type)
	ev.AccountID = clean(u.AccountID)
	ev.AccessKeyID = clean(u.AccessKeyID)
	if ev.RecipientAccountID == "" {
		ev.RecipientAccountID = ev.AccountID
	}
	if ev.AccountID == "" {
		ev.AccountID = ev.RecipientAccountID
	}
	part := partitionOf(u.ARN, r.AWSRegion)
	var sc *sessionContext
	if u.SessionContext != nil {
		sc = u.SessionContext
		ev.SourceIdentity = clean(sc.SourceIdentity)
	}
	if ev.SourceIdentity == "" {
		ev.SourceIdentity = clean(u.SourceIdentity)
	}

	var principal string
	switch u.Type {
	case "IAMUser":
		principal = u.ARN
		if principal == "" && u.UserName != "" && ev.AccountID != "" {
			principal = "arn:" + part + ":iam::" + ev.AccountID + ":user/" + u.UserName
		}
	case "AssumedRole":
		if sc != nil && sc.SessionIssuer.ARN != "" {
			principal = sc.SessionIssuer.ARN
		} else {
			principal = roleFromAssumedRole(u.ARN)
		}
		ev.SessionName = sessionName(u.ARN, u.PrincipalID)
	case "FederatedUser":
		// The issuer is the IAM user (or root) that called
		// GetFederationToken; its policies bound the session.
		if sc != nil && sc.SessionIssuer.ARN != "" {
			principal = sc.SessionIssuer.ARN
		} else {
			principal = u.ARN
		}
		ev.SessionName = sessionName(u.ARN, u.PrincipalID)
	case "Root":
		principal = u.ARN
		if principal == "" && ev.AccountID != "" {
			principal = "arn:" + part + ":iam::" + ev.AccountID + ":root"
		}
	case "AWSAccount":
		// A caller in another account whose identity CloudTrail does not
		// reveal: charge the account.
		if ev.AccountID != "" {
			principal = "arn:" + part + ":iam::" + ev.AccountID + ":root"
		}
	case "IdentityCenterUser":
		switch {
		case u.ARN != "":
			principal = u.ARN
		case u.OnBehalfOf != nil && u.OnBehalfOf.IdentityStoreARN != "" && u.OnBehalfOf.UserID != "":
			principal = u.OnBehalfOf.IdentityStoreARN + "/user/" + u.OnBehalfOf.UserID
		}
	case "SAMLUser":
		// AssumeRoleWithSAML: the caller is the identity provider's user;
		// the provider ARN is in the request.
		principal = requestString(r.RequestParameters, "principalArn")
		if principal == "" && u.IdentityProvider != "" && ev.RecipientAccountID != "" {
			principal = "arn:" + part + ":iam::" + ev.RecipientAccountID + ":saml-provider/" + u.IdentityProvider
		}
		ev.SessionName = clean(u.UserName)
	case "WebIdentityUser":
		switch p := u.IdentityProvider; {
		case builtinWebIdentity(p):
			principal = p
		case strings.HasPrefix(p, "arn:"):
			principal = p
		case p != "" && ev.RecipientAccountID != "":
			principal = "arn:" + part + ":iam::" + ev.RecipientAccountID + ":oidc-provider/" + p
		}
		ev.SessionName = clean(u.UserName)
	default:
		// "Unknown" (identity in another account or not recorded) and
		// shapes we do not know.
		if u.ARN != "" && strings.HasPrefix(u.ARN, "arn:") {
			principal = u.ARN
		}
	}
	principal = clean(principal)
	if principal == "" {
		return KindNonPrincipal
	}
	ev.Principal = principal
	return 0
}

// roleFromAssumedRole turns arn:aws:sts::123:assumed-role/Name/session into
// arn:aws:iam::123:role/Name. The role path is not in the session ARN, so
// this is only the fallback when sessionIssuer is missing.
func roleFromAssumedRole(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return ""
	}
	rest, ok := strings.CutPrefix(a.Resource, "assumed-role/")
	name, _, _ := strings.Cut(rest, "/")
	if !ok || name == "" {
		return ""
	}
	return arn.ARN{Partition: a.Partition, Service: "iam", AccountID: a.AccountID, Resource: "role/" + name}.String()
}

// sessionName is the last ARN segment (assumed-role/Role/SESSION,
// federated-user/NAME), else the part of principalId after the colon.
func sessionName(arn, principalID string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 && strings.Count(arn, "/") >= 1 {
		return clean(arn[i+1:])
	}
	if _, after, ok := strings.Cut(principalID, ":"); ok {
		return clean(after)
	}
	return ""
}

// partitionOf takes the partition from an ARN, else derives it from the
// region.
func partitionOf(arn, region string) string {
	if a, ok := catalog.ParseARN(arn); ok && a.Partition != "" {
		return a.Partition
	}
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}
