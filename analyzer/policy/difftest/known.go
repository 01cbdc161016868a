package difftest

import (
	"encoding/json"
	"net/netip"
	"strings"
)

// Difference names a documented class of disagreement between iamd and the
// reference, with the predicate that recognises a case of it. See
// KNOWN_DIFFERENCES.md for the AWS rules.
type Difference struct {
	Name string
	// Owner is "reference" for a reference bug, "undecided" where the AWS
	// docs do not settle the outcome, "iamd" for a bug of ours that is
	// waiting for a fix.
	Owner string
	// Applies reports whether c contains the input that triggers it.
	Applies func(c *Case) bool
}

// Differences returns every documented difference.
func Differences() []Difference {
	return []Difference{
		{Name: "not-ip-bare-address-other-family", Owner: "reference", Applies: notIPBareOtherFamily},
		{Name: "unresolved-variable-in-negated-element", Owner: "undecided", Applies: unresolvedVariableNegated},
		{Name: "variable-before-resource-part", Owner: "iamd", Applies: variableBeforeResourcePart},
	}
}

// KnownDifference reports whether a disagreement on c is a documented
// difference, and which one.
func KnownDifference(c *Case) (Difference, bool) {
	for _, d := range Differences() {
		if d.Applies(c) {
			return d, true
		}
	}
	return Difference{}, false
}

// statements calls fn for every statement of every policy in c.
func statements(c *Case, fn func(st map[string]any)) {
	var docs []json.RawMessage
	docs = append(docs, c.IdentityPolicies...)
	docs = append(docs, c.PermissionBoundaries...)
	docs = append(docs, c.ResourcePolicy, c.SessionPolicy)
	for _, l := range c.ServiceControlPolicies {
		docs = append(docs, l.Policies...)
	}
	for _, l := range c.ResourceControlPolicies {
		docs = append(docs, l.Policies...)
	}
	for _, raw := range docs {
		if len(raw) == 0 {
			continue
		}
		var doc struct {
			Statement json.RawMessage
		}
		if json.Unmarshal(raw, &doc) != nil {
			continue
		}
		var list []map[string]any
		if json.Unmarshal(doc.Statement, &list) != nil {
			var one map[string]any
			if json.Unmarshal(doc.Statement, &one) != nil {
				continue
			}
			list = []map[string]any{one}
		}
		for _, st := range list {
			fn(st)
		}
	}
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// conditions calls fn for each operator/key/values of a statement.
func conditions(st map[string]any, fn func(op, key string, vals []string)) {
	cond, _ := st["Condition"].(map[string]any)
	for op, block := range cond {
		m, _ := block.(map[string]any)
		for k, v := range m {
			fn(op, k, strs(v))
		}
	}
}

// notIPBareOtherFamily: a NotIpAddress value written as a bare address
// (no /prefix) of the other IP family than the request's aws:SourceIp. The
// reference returns "not matched" for it (its checkIfIpAddress handles a
// family mismatch only for values in CIDR form), so NotIpAddress is false
// where AWS says it is true: an IPv6 source is not the IPv4 address given.
func notIPBareOtherFamily(c *Case) bool {
	src, ok := contextString(c, "aws:SourceIp")
	if !ok {
		return false
	}
	ip, err := netip.ParseAddr(src)
	if err != nil {
		return false
	}
	found := false
	statements(c, func(st map[string]any) {
		conditions(st, func(op, _ string, vals []string) {
			if !strings.HasPrefix(op, "NotIpAddress") {
				return
			}
			for _, v := range vals {
				if strings.Contains(v, "/") {
					continue
				}
				if a, err := netip.ParseAddr(v); err == nil && a.Is4() != ip.Is4() {
					found = true
				}
			}
		})
	})
	return found
}

// unresolvedVariableNegated: a policy variable without a default whose key
// the request lacks, used in NotResource or in the values of a negated
// string or ARN operator. iamd lets the variable match nothing, so
// NotResource excludes nothing and StringNotEquals holds; the reference
// treats the whole element as not matching.
func unresolvedVariableNegated(c *Case) bool {
	found := false
	check := func(vals []string) {
		for _, v := range vals {
			for _, key := range variables(v) {
				if _, ok := c.Request.Context[key]; !ok && !hasKeyFold(c, key) {
					found = true
				}
			}
		}
	}
	statements(c, func(st map[string]any) {
		check(strs(st["NotResource"]))
		conditions(st, func(op, _ string, vals []string) {
			base := strings.TrimPrefix(strings.TrimPrefix(op, "ForAllValues:"), "ForAnyValue:")
			if strings.HasPrefix(base, "StringNot") || strings.HasPrefix(base, "ArnNot") {
				check(vals)
			}
		})
	})
	return found
}

// variableBeforeResourcePart: a policy variable in the partition, service,
// region or account field of a Resource/NotResource ARN. The IAM User Guide
// (reference_policies_variables, "Where you can use policy variables",
// Resource element) allows variables only in the resource part of the ARN,
// after the fifth colon; iamd substitutes them anywhere, the reference keeps
// them literal.
func variableBeforeResourcePart(c *Case) bool {
	found := false
	statements(c, func(st map[string]any) {
		for _, r := range append(strs(st["Resource"]), strs(st["NotResource"])...) {
			parts := strings.SplitN(r, ":", 6)
			if len(parts) < 6 {
				continue
			}
			if strings.Contains(strings.Join(parts[:5], ":"), "${") {
				found = true
			}
		}
	})
	return found
}

// variables returns the keys of the ${key} variables in s that have no
// default value; ${$}, ${?} and ${*} are literals.
func variables(s string) []string {
	var keys []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return keys
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return keys
		}
		body := s[i+2 : i+j]
		s = s[i+j+1:]
		if body == "$" || body == "?" || body == "*" || strings.Contains(body, ",") {
			continue
		}
		keys = append(keys, strings.TrimSpace(body))
	}
}

func hasKeyFold(c *Case, key string) bool {
	for k := range c.Request.Context {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

func contextString(c *Case, key string) (string, bool) {
	for k, raw := range c.Request.Context {
		if strings.EqualFold(k, key) {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return s, true
			}
		}
	}
	return "", false
}
