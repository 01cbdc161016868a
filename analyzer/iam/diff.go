package iam

import (
	"bytes"
	"encoding/json"
	"sort"
)

// Kinds of Change.
const (
	ChangePrincipalAdded       = "principal-added"
	ChangePrincipalRemoved     = "principal-removed"
	ChangePolicyAttached       = "policy-attached"
	ChangePolicyDetached       = "policy-detached"
	ChangePolicyVersionChanged = "policy-version-changed"
	ChangeInlineAdded          = "inline-policy-added"
	ChangeInlineRemoved        = "inline-policy-removed"
	ChangeInlineChanged        = "inline-policy-changed"
	ChangeTrustChanged         = "trust-policy-changed"
	ChangeBoundaryChanged      = "boundary-changed"
	ChangeGroupJoined          = "group-membership-added"
	ChangeGroupLeft            = "group-membership-removed"
)

// Change is one difference between two snapshots of an account.
type Change struct {
	Kind      string
	Principal string `json:",omitempty"` // ARN; empty for a policy-level change
	Policy    string `json:",omitempty"` // managed policy ARN, inline policy name or group name
	From      string `json:",omitempty"` // e.g. the old default version id
	To        string `json:",omitempty"`
}

// Diff lists what changed from old to new: principals added or removed,
// managed policies attached or detached, managed policy default versions
// changed (or the default document edited in place), inline and trust
// policies added, removed or changed, boundaries and group memberships.
// Changes are sorted by principal, kind and policy.
func Diff(old, new *Account) []Change {
	var out []Change
	for _, np := range new.Principals {
		op, ok := old.byARN[np.ARN]
		if !ok {
			out = append(out, Change{Kind: ChangePrincipalAdded, Principal: np.ARN})
			continue
		}
		out = append(out, diffPrincipal(op, np)...)
	}
	for _, op := range old.Principals {
		if _, ok := new.byARN[op.ARN]; !ok {
			out = append(out, Change{Kind: ChangePrincipalRemoved, Principal: op.ARN})
		}
	}
	for arn, np := range new.Policies {
		op, ok := old.Policies[arn]
		if !ok {
			continue
		}
		if op.DefaultVersionID != np.DefaultVersionID || !sameJSON(op.Raw, np.Raw) {
			out = append(out, Change{Kind: ChangePolicyVersionChanged, Policy: arn, From: op.DefaultVersionID, To: np.DefaultVersionID})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Policy < b.Policy
	})
	return out
}

func diffPrincipal(op, np *Principal) []Change {
	var out []Change
	arn := np.ARN
	oldAt, newAt := map[string]bool{}, map[string]bool{}
	for _, a := range op.Attached {
		oldAt[a.ARN] = true
	}
	for _, a := range np.Attached {
		newAt[a.ARN] = true
		if !oldAt[a.ARN] {
			out = append(out, Change{Kind: ChangePolicyAttached, Principal: arn, Policy: a.ARN})
		}
	}
	for _, a := range op.Attached {
		if !newAt[a.ARN] {
			out = append(out, Change{Kind: ChangePolicyDetached, Principal: arn, Policy: a.ARN})
		}
	}
	oldIn := map[string]*InlinePolicy{}
	for _, in := range op.Inline {
		oldIn[in.Name] = in
	}
	newIn := map[string]bool{}
	for _, in := range np.Inline {
		newIn[in.Name] = true
		o, ok := oldIn[in.Name]
		switch {
		case !ok:
			out = append(out, Change{Kind: ChangeInlineAdded, Principal: arn, Policy: in.Name})
		case !sameJSON(o.Raw, in.Raw):
			out = append(out, Change{Kind: ChangeInlineChanged, Principal: arn, Policy: in.Name})
		}
	}
	for _, in := range op.Inline {
		if !newIn[in.Name] {
			out = append(out, Change{Kind: ChangeInlineRemoved, Principal: arn, Policy: in.Name})
		}
	}
	if op.Trust != nil && np.Trust != nil && !sameJSON(op.Trust.Raw, np.Trust.Raw) {
		out = append(out, Change{Kind: ChangeTrustChanged, Principal: arn})
	}
	if ob, nb := boundaryARN(op), boundaryARN(np); ob != nb {
		out = append(out, Change{Kind: ChangeBoundaryChanged, Principal: arn, From: ob, To: nb})
	}
	oldG := map[string]bool{}
	for _, g := range op.Groups {
		oldG[g] = true
	}
	newG := map[string]bool{}
	for _, g := range np.Groups {
		newG[g] = true
		if !oldG[g] {
			out = append(out, Change{Kind: ChangeGroupJoined, Principal: arn, Policy: g})
		}
	}
	for _, g := range op.Groups {
		if !newG[g] {
			out = append(out, Change{Kind: ChangeGroupLeft, Principal: arn, Policy: g})
		}
	}
	return out
}

func boundaryARN(p *Principal) string {
	if p.Boundary == nil {
		return ""
	}
	return p.Boundary.ARN
}

// sameJSON compares two documents ignoring formatting (whitespace, key
// order); unparsable documents compare as bytes.
func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ca, err1 := json.Marshal(x)
	cb, err2 := json.Marshal(y)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}
