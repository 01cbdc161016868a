package iam

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Details is the JSON of "aws iam get-account-authorization-details" (all
// pages merged), plus iamd's optional extensions: AccountId, Taken,
// CredentialReport (the CSV text of GetCredentialReport) and, per user,
// AccessKeys (ListAccessKeys with GetAccessKeyLastUsed). It is what a
// snapshot stores and what the live loader produces.
type Details struct {
	AccountID        string             `json:"AccountId,omitempty"`
	Taken            *Time              `json:"Taken,omitempty"`
	UserDetailList   List[UserDetail]   `json:"UserDetailList"`
	GroupDetailList  List[GroupDetail]  `json:"GroupDetailList"`
	RoleDetailList   List[RoleDetail]   `json:"RoleDetailList"`
	Policies         List[PolicyDetail] `json:"Policies"`
	IsTruncated      bool               `json:"IsTruncated,omitempty"`
	Marker           string             `json:"Marker,omitempty"`
	CredentialReport string             `json:"CredentialReport,omitempty"`
}

// UserDetail is one entry of UserDetailList.
type UserDetail struct {
	Path                    string                `json:"Path,omitempty"`
	UserName                string                `json:"UserName"`
	UserID                  string                `json:"UserId,omitempty"`
	Arn                     string                `json:"Arn"`
	CreateDate              *Time                 `json:"CreateDate,omitempty"`
	UserPolicyList          List[InlineDetail]    `json:"UserPolicyList,omitempty"`
	GroupList               List[string]          `json:"GroupList,omitempty"`
	AttachedManagedPolicies List[AttachedDetail]  `json:"AttachedManagedPolicies,omitempty"`
	PermissionsBoundary     *BoundaryDetail       `json:"PermissionsBoundary,omitempty"`
	Tags                    List[TagDetail]       `json:"Tags,omitempty"`
	AccessKeys              List[AccessKeyDetail] `json:"AccessKeys,omitempty"` // iamd extension
}

// GroupDetail is one entry of GroupDetailList.
type GroupDetail struct {
	Path                    string               `json:"Path,omitempty"`
	GroupName               string               `json:"GroupName"`
	GroupID                 string               `json:"GroupId,omitempty"`
	Arn                     string               `json:"Arn"`
	CreateDate              *Time                `json:"CreateDate,omitempty"`
	GroupPolicyList         List[InlineDetail]   `json:"GroupPolicyList,omitempty"`
	AttachedManagedPolicies List[AttachedDetail] `json:"AttachedManagedPolicies,omitempty"`
}

// RoleDetail is one entry of RoleDetailList.
type RoleDetail struct {
	Path                     string               `json:"Path,omitempty"`
	RoleName                 string               `json:"RoleName"`
	RoleID                   string               `json:"RoleId,omitempty"`
	Arn                      string               `json:"Arn"`
	CreateDate               *Time                `json:"CreateDate,omitempty"`
	AssumeRolePolicyDocument Doc                  `json:"AssumeRolePolicyDocument,omitempty"`
	RolePolicyList           List[InlineDetail]   `json:"RolePolicyList,omitempty"`
	AttachedManagedPolicies  List[AttachedDetail] `json:"AttachedManagedPolicies,omitempty"`
	PermissionsBoundary      *BoundaryDetail      `json:"PermissionsBoundary,omitempty"`
	Tags                     List[TagDetail]      `json:"Tags,omitempty"`
	RoleLastUsed             *RoleLastUsedDetail  `json:"RoleLastUsed,omitempty"`
}

// PolicyDetail is one entry of Policies.
type PolicyDetail struct {
	PolicyName        string              `json:"PolicyName"`
	PolicyID          string              `json:"PolicyId,omitempty"`
	Arn               string              `json:"Arn"`
	Path              string              `json:"Path,omitempty"`
	DefaultVersionID  string              `json:"DefaultVersionId,omitempty"`
	PolicyVersionList List[VersionDetail] `json:"PolicyVersionList"`
}

// VersionDetail is one entry of PolicyVersionList.
type VersionDetail struct {
	Document         Doc    `json:"Document"`
	VersionID        string `json:"VersionId"`
	IsDefaultVersion bool   `json:"IsDefaultVersion"`
	CreateDate       *Time  `json:"CreateDate,omitempty"`
}

// InlineDetail is an inline policy.
type InlineDetail struct {
	PolicyName     string `json:"PolicyName"`
	PolicyDocument Doc    `json:"PolicyDocument"`
}

// AttachedDetail is an attached managed policy.
type AttachedDetail struct {
	PolicyName string `json:"PolicyName,omitempty"`
	PolicyArn  string `json:"PolicyArn"`
}

// BoundaryDetail is a permissions boundary.
type BoundaryDetail struct {
	PermissionsBoundaryType string `json:"PermissionsBoundaryType,omitempty"`
	PermissionsBoundaryArn  string `json:"PermissionsBoundaryArn"`
}

// TagDetail is a tag.
type TagDetail struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// RoleLastUsedDetail says when a role was last used.
type RoleLastUsedDetail struct {
	LastUsedDate *Time  `json:"LastUsedDate,omitempty"`
	Region       string `json:"Region,omitempty"`
}

// AccessKeyDetail is an access key (ListAccessKeys merged with
// GetAccessKeyLastUsed); LastUsedDate is absent when never used.
type AccessKeyDetail struct {
	AccessKeyID     string `json:"AccessKeyId"`
	Status          string `json:"Status"`
	CreateDate      *Time  `json:"CreateDate,omitempty"`
	LastUsedDate    *Time  `json:"LastUsedDate,omitempty"`
	LastUsedService string `json:"LastUsedService,omitempty"`
	LastUsedRegion  string `json:"LastUsedRegion,omitempty"`
}

// List is a JSON list that also accepts a single object where a list is
// expected (a quirk of some published samples). Single records that.
type List[T any] struct {
	Items  []T
	Single bool
}

// UnmarshalJSON accepts a list, a single value or null.
func (l *List[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		l.Single = false
		return json.Unmarshal(b, &l.Items)
	}
	if string(b) == "null" {
		l.Items = nil
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	l.Items, l.Single = []T{v}, true
	return nil
}

// MarshalJSON writes a list.
func (l List[T]) MarshalJSON() ([]byte, error) {
	if l.Items == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(l.Items)
}

// Doc is a policy document: a JSON object, or (as the IAM Query API returns
// it) a URL-encoded JSON string. JSON holds the decoded document.
type Doc struct {
	JSON json.RawMessage
	// Encoded records that the document came as a (URL-encoded) string.
	Encoded bool
}

// UnmarshalJSON accepts an object or a string holding a (possibly
// URL-encoded) JSON document.
func (d *Doc) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		dec, err := DecodeDocument(s)
		if err != nil {
			return err
		}
		d.JSON, d.Encoded = json.RawMessage(dec), true
		return nil
	}
	if string(b) == "null" {
		d.JSON = nil
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("policy document: want a JSON object or a string, got %.20s", b)
	}
	d.JSON = append(json.RawMessage(nil), b...)
	return nil
}

// MarshalJSON writes the decoded document as an object.
func (d Doc) MarshalJSON() ([]byte, error) {
	if len(d.JSON) == 0 {
		return []byte("null"), nil
	}
	return d.JSON, nil
}

// DecodeDocument returns the JSON text of a policy document as the IAM API
// returns it: URL-encoded ("%7B%22Version%22…") or already plain JSON.
func DecodeDocument(s string) (string, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") {
		return t, nil
	}
	// Policy documents are RFC 3986 percent-encoded; QueryUnescape would
	// also turn '+' into a space, which is wrong inside a document.
	dec, err := url.PathUnescape(t)
	if err != nil {
		return "", fmt.Errorf("URL-decode policy document: %w", err)
	}
	return dec, nil
}

// Time is a timestamp as found in snapshots: RFC 3339 (the API and CLI) or
// Python's "2006-01-02 15:04:05+00:00" (tools that dump boto3 output).
type Time struct{ time.Time }

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// ParseTime parses a timestamp in any of the layouts snapshots use.
func ParseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}

// UnmarshalJSON parses a JSON string timestamp.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time: want a string: %w", err)
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// MarshalJSON writes RFC 3339.
func (t Time) MarshalJSON() ([]byte, error) { return json.Marshal(t.Time.UTC().Format(time.RFC3339)) }

func (t *Time) get() time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// NewTime returns a *Time for t, or nil for the zero time.
func NewTime(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t.UTC()}
}

// Encode returns d as snapshot JSON together with the account id and time
// that go with it (the fields of store.Snapshot). The account id is
// d.AccountID, or else the account most of the principals' ARNs name.
func (d *Details) Encode() (accountID string, taken time.Time, data []byte, err error) {
	accountID = d.AccountID
	if accountID == "" {
		var ps []*Principal
		for _, u := range d.UserDetailList.Items {
			ps = append(ps, &Principal{ARN: u.Arn})
		}
		for _, r := range d.RoleDetailList.Items {
			ps = append(ps, &Principal{ARN: r.Arn})
		}
		for _, g := range d.GroupDetailList.Items {
			ps = append(ps, &Principal{ARN: g.Arn})
		}
		accountID = accountFromPrincipals(ps)
	}
	data, err = json.Marshal(d)
	if err != nil {
		return "", time.Time{}, nil, fmt.Errorf("encode IAM snapshot: %w", err)
	}
	return accountID, d.Taken.get(), data, nil
}
