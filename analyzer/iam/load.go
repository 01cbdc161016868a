package iam

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/iamd/iamd/analyzer/policy"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrMalformed marks input that is not authorization-details JSON.
	ErrMalformed = errors.New("malformed authorization details")
	// ErrStrict marks a leniency that LoadOptions.Strict turns into an error.
	ErrStrict = errors.New("not accepted in strict mode")
)

// LoadOptions tune Load.
type LoadOptions struct {
	// Strict rejects what the lenient loader only warns about: a single
	// object where a list is expected, a policy document that does not
	// parse, and a truncated (one page) result. Default false.
	Strict bool
	// AccountID overrides the account id taken from ARNs.
	AccountID string
}

// LoadFile reads a snapshot file (see Load).
func LoadFile(path string, opts LoadOptions) (*Account, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load IAM snapshot: %w", err)
	}
	a, err := Parse(data, opts)
	if err != nil {
		return nil, fmt.Errorf("load IAM snapshot %s: %w", path, err)
	}
	return a, nil
}

// Load reads the JSON of get-account-authorization-details (see Details)
// and builds the account model.
func Load(r io.Reader, opts LoadOptions) (*Account, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read authorization details: %w", err)
	}
	return Parse(data, opts)
}

// Parse is Load on a byte slice. Errors name the list, the entry index and
// name, and the field; unresolvable policies become warnings.
func Parse(data []byte, opts LoadOptions) (*Account, error) {
	d, err := DecodeDetails(data)
	if err != nil {
		return nil, err
	}
	return FromDetails(d, opts)
}

// DecodeDetails decodes authorization-details JSON entry by entry, so an
// error names the entry and field that is wrong.
func DecodeDetails(data []byte) (*Details, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			// The whole document is a list, a string, a number: say so
			// in the user's terms, not as a Go type.
			return nil, fmt.Errorf("%w: the top level is a JSON %s; want an object with %s (%s)", ErrMalformed, te.Value, detailsLists, detailsSource)
		}
		return nil, fmt.Errorf("%w: %s", ErrMalformed, jsonErr(err))
	}
	if top == nil {
		return nil, fmt.Errorf("%w: top level is null", ErrMalformed)
	}
	if err := checkDetailsShape(top); err != nil {
		return nil, err
	}
	d := &Details{}
	var errs []error
	scalar := func(key string, v any) {
		if raw, ok := top[key]; ok {
			if err := json.Unmarshal(raw, v); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %s", ErrMalformed, key, jsonErr(err)))
			}
		}
	}
	scalar("AccountId", &d.AccountID)
	scalar("Taken", &d.Taken)
	scalar("IsTruncated", &d.IsTruncated)
	scalar("Marker", &d.Marker)
	scalar("CredentialReport", &d.CredentialReport)
	errs = append(errs, decodeList(top, "UserDetailList", "UserName", &d.UserDetailList))
	errs = append(errs, decodeList(top, "GroupDetailList", "GroupName", &d.GroupDetailList))
	errs = append(errs, decodeList(top, "RoleDetailList", "RoleName", &d.RoleDetailList))
	errs = append(errs, decodeList(top, "Policies", "Arn", &d.Policies))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// detailsLists names the lists an authorization-details document has,
// for errors.
const detailsLists = "UserDetailList, GroupDetailList, RoleDetailList, Policies"

// detailsSource says where such a document comes from.
const detailsSource = "the output of aws iam get-account-authorization-details or an iamd snapshot"

// checkDetailsShape refuses a JSON object that has none of the lists of
// authorization details: a policy, a CloudTrail file or {} would
// otherwise load as an account with no principals, and every check would
// pass on it.
func checkDetailsShape(top map[string]json.RawMessage) error {
	for _, k := range [...]string{"UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"} {
		if _, ok := top[k]; ok {
			return nil
		}
	}
	looks := ""
	switch {
	case top["Records"] != nil:
		looks = "; it looks like a CloudTrail log file (Records)"
	case top["Events"] != nil:
		looks = "; it looks like lookup-events output (Events)"
	case top["eventVersion"] != nil || top["eventName"] != nil:
		looks = "; it looks like a CloudTrail record"
	case top["Statement"] != nil:
		looks = "; it looks like an IAM policy document (Statement)"
	case top["PolicyDocument"] != nil || top["PolicyVersion"] != nil:
		looks = "; it looks like one policy, not the account's details"
	case len(top) == 0:
		looks = "; it is an empty object"
	}
	return fmt.Errorf("%w: not an authorization-details document: it has none of %s%s; want %s", ErrMalformed, detailsLists, looks, detailsSource)
}

func decodeList[T any](top map[string]json.RawMessage, key, nameKey string, dst *List[T]) error {
	raw, ok := top[key]
	if !ok {
		return nil
	}
	raw = bytes.TrimSpace(raw)
	var elems []json.RawMessage
	switch {
	case string(raw) == "null":
		return nil
	case len(raw) > 0 && raw[0] == '[':
		if err := json.Unmarshal(raw, &elems); err != nil {
			return fmt.Errorf("%w: %s: %s", ErrMalformed, key, jsonErr(err))
		}
	case len(raw) > 0 && raw[0] == '{':
		elems, dst.Single = []json.RawMessage{raw}, true
	default:
		return fmt.Errorf("%w: %s: want a list, got %.20s", ErrMalformed, key, raw)
	}
	var errs []error
	for i, e := range elems {
		var v T
		if err := json.Unmarshal(e, &v); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s[%d]%s: %s", ErrMalformed, key, i, entryName(e, nameKey), jsonErr(err)))
			continue
		}
		dst.Items = append(dst.Items, v)
	}
	return errors.Join(errs...)
}

// entryName returns " (name)" for an entry whose nameKey is a string.
func entryName(e json.RawMessage, nameKey string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(e, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[nameKey], &s) != nil || s == "" {
		return ""
	}
	return " (" + s + ")"
}

// jsonErr formats a decoding error with its field path and offset.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d: %v", se.Offset, se)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %s: want %s, got JSON %s (offset %d)", te.Field, te.Type, te.Value, te.Offset)
		}
		return fmt.Sprintf("want %s, got JSON %s (offset %d)", te.Type, te.Value, te.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON (unexpected end of input)"
	}
	return err.Error()
}

// builder accumulates the model and its warnings.
type builder struct {
	a      *Account
	strict bool
	errs   []error
	seen   map[string]bool
}

func (b *builder) warn(entity, field, format string, args ...any) {
	w := Warning{Entity: entity, Field: field, Message: fmt.Sprintf(format, args...)}
	b.a.Warnings = append(b.a.Warnings, w)
}

// lenient records a leniency: a warning, or an error in strict mode.
func (b *builder) lenient(entity, field, format string, args ...any) {
	if b.strict {
		b.errs = append(b.errs, fmt.Errorf("%s %s: %s: %w", entity, field, fmt.Sprintf(format, args...), ErrStrict))
		return
	}
	b.warn(entity, field, format, args...)
}

func singleList[T any](b *builder, l List[T], entity, field string) {
	if l.Single {
		b.lenient(entity, field, "single object where a list is expected; read as a one-element list")
	}
}

// FromDetails builds the account model from decoded details.
func FromDetails(d *Details, opts LoadOptions) (*Account, error) {
	b := &builder{a: &Account{Policies: map[string]*ManagedPolicy{}}, strict: opts.Strict, seen: map[string]bool{}}
	a := b.a
	a.ID = firstNonEmpty(opts.AccountID, d.AccountID)
	a.Taken = d.Taken.get()
	if d.IsTruncated {
		a.Truncated = true
		b.lenient("account", "IsTruncated", "input is one page of a paginated result (Marker %q): principals and policies may be missing", d.Marker)
	}
	for i, st := range []bool{d.UserDetailList.Single, d.GroupDetailList.Single, d.RoleDetailList.Single, d.Policies.Single} {
		if st {
			b.lenient("account", []string{"UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"}[i], "single object where a list is expected")
		}
	}

	for i, pd := range d.Policies.Items {
		field := fmt.Sprintf("Policies[%d]", i)
		if pd.Arn == "" {
			b.errs = append(b.errs, fmt.Errorf("%w: %s (%s): missing Arn", ErrMalformed, field, pd.PolicyName))
			continue
		}
		singleList(b, pd.PolicyVersionList, pd.Arn, field+".PolicyVersionList")
		mp := &ManagedPolicy{ARN: pd.Arn, Name: pd.PolicyName, Path: pd.Path, DefaultVersionID: pd.DefaultVersionID}
		var def *VersionDetail
		for j := range pd.PolicyVersionList.Items {
			v := &pd.PolicyVersionList.Items[j]
			mp.Versions = append(mp.Versions, PolicyVersion{ID: v.VersionID, Default: v.IsDefaultVersion, Created: v.CreateDate.get(), Raw: v.Document.JSON})
			if v.IsDefaultVersion || (def == nil && v.VersionID != "" && v.VersionID == pd.DefaultVersionID) {
				def = v
			}
		}
		switch {
		case def == nil:
			mp.Err = errors.New("no default version in PolicyVersionList")
			b.warn(pd.Arn, field+".PolicyVersionList", "no default version: permissions unknown")
		default:
			if mp.DefaultVersionID == "" {
				mp.DefaultVersionID = def.VersionID
			}
			mp.Raw = def.Document.JSON
			mp.Policy, mp.Err = b.compile(pd.Arn, field+".PolicyVersionList("+def.VersionID+").Document", pd.Arn, def.Document.JSON)
		}
		if _, dup := a.Policies[pd.Arn]; dup {
			b.warn(pd.Arn, field, "policy listed twice; the later entry wins")
		}
		a.Policies[pd.Arn] = mp
	}

	for i, g := range d.GroupDetailList.Items {
		field := fmt.Sprintf("GroupDetailList[%d]", i)
		p := &Principal{Kind: KindGroup, ARN: g.Arn, Name: g.GroupName, ID: g.GroupID, Path: g.Path, Created: g.CreateDate.get()}
		if !b.named(p, field) {
			continue
		}
		singleList(b, g.GroupPolicyList, p.ARN, field+".GroupPolicyList")
		singleList(b, g.AttachedManagedPolicies, p.ARN, field+".AttachedManagedPolicies")
		p.Inline = b.inline(p.ARN, field+".GroupPolicyList", g.GroupPolicyList.Items)
		p.Attached = b.attached(p.ARN, field+".AttachedManagedPolicies", g.AttachedManagedPolicies.Items)
		a.Principals = append(a.Principals, p)
	}
	for i, u := range d.UserDetailList.Items {
		field := fmt.Sprintf("UserDetailList[%d]", i)
		p := &Principal{Kind: KindUser, ARN: u.Arn, Name: u.UserName, ID: u.UserID, Path: u.Path, Created: u.CreateDate.get()}
		if !b.named(p, field) {
			continue
		}
		for _, l := range []struct {
			single bool
			name   string
		}{{u.UserPolicyList.Single, "UserPolicyList"}, {u.GroupList.Single, "GroupList"}, {u.AttachedManagedPolicies.Single, "AttachedManagedPolicies"}, {u.Tags.Single, "Tags"}, {u.AccessKeys.Single, "AccessKeys"}} {
			if l.single {
				b.lenient(p.ARN, field+"."+l.name, "single object where a list is expected; read as a one-element list")
			}
		}
		p.Inline = b.inline(p.ARN, field+".UserPolicyList", u.UserPolicyList.Items)
		p.Attached = b.attached(p.ARN, field+".AttachedManagedPolicies", u.AttachedManagedPolicies.Items)
		p.Boundary = b.boundary(p.ARN, field, u.PermissionsBoundary)
		p.Groups = append([]string(nil), u.GroupList.Items...)
		p.Tags = tags(u.Tags.Items)
		if len(u.AccessKeys.Items) > 0 {
			p.Credentials = &Credentials{}
			for _, k := range u.AccessKeys.Items {
				p.Credentials.AccessKeys = append(p.Credentials.AccessKeys, AccessKey{
					ID: k.AccessKeyID, Status: k.Status, Created: k.CreateDate.get(),
					LastUsed: k.LastUsedDate.get(), LastUsedService: k.LastUsedService, LastUsedRegion: k.LastUsedRegion,
					LastUsedKnown: true,
				})
			}
		}
		a.Principals = append(a.Principals, p)
	}
	for i, r := range d.RoleDetailList.Items {
		field := fmt.Sprintf("RoleDetailList[%d]", i)
		p := &Principal{Kind: KindRole, ARN: r.Arn, Name: r.RoleName, ID: r.RoleID, Path: r.Path, Created: r.CreateDate.get()}
		if !b.named(p, field) {
			continue
		}
		singleList(b, r.RolePolicyList, p.ARN, field+".RolePolicyList")
		singleList(b, r.AttachedManagedPolicies, p.ARN, field+".AttachedManagedPolicies")
		p.Inline = b.inline(p.ARN, field+".RolePolicyList", r.RolePolicyList.Items)
		p.Attached = b.attached(p.ARN, field+".AttachedManagedPolicies", r.AttachedManagedPolicies.Items)
		p.Boundary = b.boundary(p.ARN, field, r.PermissionsBoundary)
		p.Tags = tags(r.Tags.Items)
		p.Trust = b.trust(p.ARN, field+".AssumeRolePolicyDocument", r.AssumeRolePolicyDocument.JSON)
		if r.RoleLastUsed != nil {
			p.RoleLastUsed, p.RoleLastUsedRegion = r.RoleLastUsed.LastUsedDate.get(), r.RoleLastUsed.Region
		}
		a.Principals = append(a.Principals, p)
	}
	if a.ID == "" {
		a.ID = accountFromPrincipals(a.Principals)
	}
	if a.ID != "" {
		a.Principals = append(a.Principals, &Principal{Kind: KindRoot, ARN: "arn:aws:iam::" + a.ID + ":root", Name: "<root_account>", ID: a.ID})
	}
	a.index()
	for _, p := range a.Principals {
		for _, gn := range p.Groups {
			if _, ok := a.groups[gn]; !ok {
				b.warn(p.ARN, "GroupList", "group %q is not in GroupDetailList: its policies are unknown", gn)
			}
		}
	}
	if d.CredentialReport != "" {
		rows, err := ParseCredentialReport(strings.NewReader(d.CredentialReport))
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("CredentialReport: %w", err))
		} else {
			b.a.ApplyCredentialReport(rows)
		}
	}
	if err := errors.Join(b.errs...); err != nil {
		return nil, err
	}
	return a, nil
}

func (b *builder) named(p *Principal, field string) bool {
	if p.ARN == "" {
		b.errs = append(b.errs, fmt.Errorf("%w: %s (%s): missing Arn", ErrMalformed, field, p.Name))
		return false
	}
	if b.seen[p.ARN] {
		b.warn(p.ARN, field, "principal listed twice")
	}
	b.seen[p.ARN] = true
	return true
}

// compile parses and compiles a document; a broken one is a warning (the
// policy is then unknown) or, in strict mode, an error.
func (b *builder) compile(entity, field, name string, raw json.RawMessage) (*policy.Policy, error) {
	if len(raw) == 0 {
		err := errors.New("document missing")
		b.lenient(entity, field, "%v: permissions unknown", err)
		return nil, err
	}
	p, err := policy.CompileJSON(name, raw)
	if err != nil {
		if b.strict {
			b.errs = append(b.errs, fmt.Errorf("%s %s: policy document does not parse: %w", entity, field, err))
			return nil, err
		}
		b.warn(entity, field, "policy document does not parse: %v: permissions unknown", err)
		return nil, err
	}
	return p, nil
}

func (b *builder) inline(owner, field string, list []InlineDetail) []*InlinePolicy {
	var out []*InlinePolicy
	for i, in := range list {
		ip := &InlinePolicy{Name: in.PolicyName, Raw: in.PolicyDocument.JSON}
		ip.Policy, ip.Err = b.compile(owner, fmt.Sprintf("%s[%d](%s).PolicyDocument", field, i, in.PolicyName), owner+"#inline/"+in.PolicyName, in.PolicyDocument.JSON)
		out = append(out, ip)
	}
	return out
}

func (b *builder) attached(owner, field string, list []AttachedDetail) []*Attachment {
	var out []*Attachment
	for i, at := range list {
		a := &Attachment{ARN: at.PolicyArn, Name: at.PolicyName, Policy: b.a.Policies[at.PolicyArn]}
		if a.Policy == nil {
			b.warn(owner, fmt.Sprintf("%s[%d]", field, i), "attached policy %s is not in Policies: its permissions are unknown", at.PolicyArn)
		}
		out = append(out, a)
	}
	return out
}

func (b *builder) boundary(owner, field string, bd *BoundaryDetail) *Attachment {
	if bd == nil || bd.PermissionsBoundaryArn == "" {
		return nil
	}
	a := &Attachment{ARN: bd.PermissionsBoundaryArn, Policy: b.a.Policies[bd.PermissionsBoundaryArn]}
	if a.Policy != nil {
		a.Name = a.Policy.Name
	} else {
		a.Name = bd.PermissionsBoundaryArn[strings.LastIndex(bd.PermissionsBoundaryArn, "/")+1:]
		b.warn(owner, field+".PermissionsBoundary", "boundary policy %s is not in Policies: its limits are unknown", bd.PermissionsBoundaryArn)
	}
	return a
}

func (b *builder) trust(owner, field string, raw json.RawMessage) *Trust {
	t := &Trust{Raw: raw}
	t.Policy, t.Err = b.compile(owner, field, owner+"#trust", raw)
	if t.Policy == nil {
		return t
	}
	for _, st := range t.Policy.Statements() {
		doc := st.Doc()
		e := TrustEntry{Sid: doc.Sid, Effect: doc.Effect, Actions: doc.Action, Conditions: doc.Conditions}
		pr, not := st.Principal()
		e.NotPrincipal = not
		if pr != nil {
			e.Any, e.Service, e.Federated = pr.Any, pr.Service, pr.Federated
			for _, x := range pr.AWS {
				if x == "*" {
					e.Any = true
					continue
				}
				e.AWS = append(e.AWS, x)
			}
		}
		for _, c := range doc.Conditions {
			switch {
			case strings.EqualFold(c.Key, "sts:ExternalId"):
				e.ExternalID = e.ExternalID || ExternalIDRequired(c)
			case strings.EqualFold(c.Key, "aws:MultiFactorAuthPresent"):
				e.MFA = true
			}
		}
		t.Entries = append(t.Entries, e)
	}
	return t
}

// ExternalIDRequired reports whether c, a condition on sts:ExternalId,
// admits only callers that pass one of its values: StringEquals, or
// StringLike with values free of wildcards. An ...IfExists operator or
// ForAllValues also admits a caller that passes no ExternalId at all, and
// StringLike "*" or a negated operator admits any value (IAM User Guide,
// id_roles_create_for-user_externalid; reference_policies_elements_condition_operators,
// "...IfExists condition operators").
func ExternalIDRequired(c policy.ConditionDoc) bool {
	if !strings.EqualFold(c.Key, "sts:ExternalId") || len(c.Values) == 0 {
		return false
	}
	op := strings.ToLower(c.Operator)
	if qual, rest, ok := strings.Cut(op, ":"); ok {
		if qual != "foranyvalue" {
			return false
		}
		op = rest
	}
	switch op {
	case "stringequals", "stringequalsignorecase":
		return true
	case "stringlike":
		for _, v := range c.Values {
			if strings.ContainsAny(v, "*?") {
				return false
			}
		}
		return true
	}
	return false
}

func tags(list []TagDetail) map[string]string {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]string, len(list))
	for _, t := range list {
		m[t.Key] = t.Value
	}
	return m
}

// AccountOf returns the account id of an IAM or STS ARN ("" if none).
func AccountOf(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return ""
	}
	return a.AccountID
}

func accountFromPrincipals(ps []*Principal) string {
	counts := map[string]int{}
	best := ""
	for _, p := range ps {
		id := AccountOf(p.ARN)
		if id == "" {
			continue
		}
		counts[id]++
		if counts[id] > counts[best] || (counts[id] == counts[best] && id < best) {
			best = id
		}
	}
	return best
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
