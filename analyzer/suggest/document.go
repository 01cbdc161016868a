package suggest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/policy"
)

// IAM quotas on policy size, in characters without white space (IAM User
// Guide, reference_iam-quotas, "IAM and AWS STS character limits").
const (
	ManagedPolicyLimit = 6144
	InlineUserLimit    = 2048  // all inline policies of a user together
	InlineGroupLimit   = 5120  // of a group
	InlineRoleLimit    = 10240 // of a role
)

// Stmt is one statement of a generated policy, in IAM's JSON shape.
type Stmt struct {
	Sid         string                         `json:"Sid,omitempty"`
	Effect      string                         `json:"Effect"`
	Action      []string                       `json:"Action"`
	Resource    []string                       `json:"Resource,omitempty"`
	NotResource []string                       `json:"NotResource,omitempty"`
	Condition   map[string]map[string][]string `json:"Condition,omitempty"`
}

// Document is a policy document.
type Document struct {
	Version   string `json:"Version"`
	Statement []Stmt `json:"Statement"`
}

func newDocument(stmts []Stmt) Document {
	return Document{Version: policy.VersionCurrent, Statement: stmts}
}

// size is the document's length without white space, as IAM counts it.
func size(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

// conditionBlock turns parsed conditions back into a Condition element.
func conditionBlock(cs []policy.ConditionDoc) map[string]map[string][]string {
	if len(cs) == 0 {
		return nil
	}
	out := map[string]map[string][]string{}
	for _, c := range cs {
		if out[c.Operator] == nil {
			out[c.Operator] = map[string][]string{}
		}
		out[c.Operator][c.Key] = append(out[c.Operator][c.Key], c.Values...)
	}
	return out
}

// split packs statements into documents of at most limit characters, in
// order, splitting a statement's action list when it alone is too big.
func split(stmts []Stmt, limit int) ([]Document, error) {
	var docs []Document
	cur := newDocument(nil)
	for _, st := range stmts {
		parts, err := fit(st, limit)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			next := cur
			next.Statement = append(append([]Stmt(nil), cur.Statement...), p)
			if size(next) > limit && len(cur.Statement) > 0 {
				docs = append(docs, cur)
				next = newDocument([]Stmt{p})
			}
			cur = next
		}
	}
	if len(cur.Statement) > 0 {
		docs = append(docs, cur)
	}
	return docs, nil
}

// fit splits one statement into statements that each fit a document of
// limit characters: the action list first, then the resource list.
func fit(st Stmt, limit int) ([]Stmt, error) {
	if size(newDocument([]Stmt{st})) <= limit {
		return []Stmt{st}, nil
	}
	half := func(list []string) ([]string, []string) { return list[:len(list)/2], list[len(list)/2:] }
	a, b := st, st
	switch {
	case len(st.Action) > 1:
		a.Action, b.Action = half(st.Action)
	case len(st.Resource) > 1:
		a.Resource, b.Resource = half(st.Resource)
	default:
		return nil, fmt.Errorf("statement %s alone exceeds the %d-character policy limit", st.Sid, limit)
	}
	if a.Sid != "" {
		a.Sid, b.Sid = a.Sid+"A", b.Sid+"B"
	}
	x, err := fit(a, limit)
	if err != nil {
		return nil, err
	}
	y, err := fit(b, limit)
	if err != nil {
		return nil, err
	}
	return append(x, y...), nil
}

// shortActions writes a set of actions for a statement: listed by name
// while the list is short enough to read, shortened with the catalog's
// minimisation (never broader than the set, against this catalog) when
// it is long, with the catalog's casing either way.
func shortActions(cat *catalog.Catalog, actions []string) ([]string, error) {
	if len(actions) <= maxListedActions {
		return canonical(cat, actions), nil
	}
	pats, err := cat.Minimize(actions, minWildcardChars)
	if err != nil {
		return nil, err
	}
	return canonical(cat, pats), nil
}

// maxListedActions is the longest action list written out in full:
// wildcards grant actions AWS adds later, so they are used only where a
// list would be long.
const maxListedActions = 12

// minWildcardChars is the shortest name prefix a suggested wildcard
// keeps ("s3:Get*" at the least, never "s3:G*").
const minWildcardChars = 3

// canonical gives lower-cased actions and patterns the catalog's casing.
func canonical(cat *catalog.Catalog, pats []string) []string {
	out := make([]string, 0, len(pats))
	for _, p := range pats {
		if !strings.ContainsAny(p, "*?") {
			if a, ok := cat.Lookup(p); ok {
				p = a.FullName()
			}
			out = append(out, p)
			continue
		}
		svc, name, _ := strings.Cut(p, ":")
		// The longest prefix shared by what the pattern matches matches
		// the same actions and reads better ("dynamodb:Batch*", not
		// "dynamodb:Bat*"); a pattern matching one action is that name.
		var hits []string
		for id := range expand(cat, []string{p}) {
			hits = append(hits, cat.ActionAt(id).Name)
		}
		cased := p
		switch {
		case len(hits) == 1:
			cased = svc + ":" + hits[0]
			if a, ok := cat.Lookup(cased); ok {
				cased = a.FullName()
			}
		case len(hits) > 1 && strings.HasSuffix(name, "*") && !strings.ContainsAny(strings.TrimSuffix(name, "*"), "*?"):
			sort.Strings(hits)
			lcp := hits[0]
			for _, h := range hits[1:] {
				n := 0
				for n < len(lcp) && n < len(h) && lcp[n] == h[n] {
					n++
				}
				lcp = lcp[:n]
			}
			if len(lcp) >= len(name)-1 {
				if acts := cat.ServiceActions(svc); len(acts) > 0 {
					cased = acts[0].Service + ":" + lcp + "*"
				}
			}
		}
		out = append(out, cased)
	}
	sort.Strings(out)
	return out
}

// expand returns the catalog actions of a statement's action patterns.
func expand(cat *catalog.Catalog, pats []string) map[int]bool {
	out := map[int]bool{}
	var ids []int
	for _, p := range pats {
		var err error
		if ids, err = cat.ExpandIDs(p, ids[:0]); err != nil {
			continue // matches nothing in the catalog
		}
		for _, id := range ids {
			out[id] = true
		}
	}
	return out
}
