package catalog

import (
	"fmt"
	"sort"
	"strings"
)

// splitARN splits an ARN (or ARN format) into its first five colon-separated
// fields (arn, partition, service, region, account) and the resource part,
// which may itself contain colons.
func splitARN(s string) (fields [5]string, resource string, ok bool) {
	for i := 0; i < 5; i++ {
		j := strings.IndexByte(s, ':')
		if j < 0 {
			return fields, "", false
		}
		fields[i], s = s[:j], s[j+1:]
	}
	return fields, s, true
}

// matchARN reports whether arn fits the ARN format and how many literal
// characters of the format it matched. Placeholders in the partition,
// service, region and account fields match within that field only; in the
// resource part they match any non-empty run, '/' and ':' included (S3
// object keys and IAM paths contain '/').
func matchARN(format, arn string) (lits int, ok bool) {
	ff, fr, ok1 := splitARN(format)
	af, ar, ok2 := splitARN(arn)
	if !ok1 || !ok2 {
		return 0, false
	}
	for i := range ff {
		if !matchTemplate(ff[i], af[i]) {
			return 0, false
		}
	}
	if !matchTemplate(fr, ar) {
		return 0, false
	}
	return literalLen(format), true
}

// MatchResourceType returns which of action's resource types the concrete
// ARN fits. When several fit (a bucket format also fits an object ARN's
// text), the most specific one, with the most literal characters, wins.
// It returns false for an action with no resource types (WildcardOnly) and
// for an ARN that fits none.
func (c *Catalog) MatchResourceType(action Action, arn string) (ResourceType, bool) {
	return MatchResourceTypes(c.ResourceTypesOf(action), arn)
}

// ResourceTypesOf returns the resource types of action that the catalog
// defines, in the action's order: what MatchResourceType looks up for
// every call, for a caller that matches many ARNs against one action
// (ingest, per event) to keep and pass to MatchResourceTypes.
func (c *Catalog) ResourceTypesOf(action Action) []ResourceType {
	var out []ResourceType
	for _, r := range action.Resources {
		if rt, ok := c.ResourceType(action.Service, r.Type); ok {
			out = append(out, rt)
		}
	}
	return out
}

// MatchResourceTypes is MatchResourceType with the action's resource
// types already looked up (ResourceTypesOf).
func MatchResourceTypes(types []ResourceType, arn string) (ResourceType, bool) {
	var best ResourceType
	bestLits := -1
	for _, rt := range types {
		if lits, ok := matchARN(rt.ARN, arn); ok && lits > bestLits {
			best, bestLits = rt, lits
		}
	}
	return best, bestLits >= 0
}

// Placeholders returns the placeholder names of an ARN format in order,
// e.g. ["Partition", "BucketName", "ObjectName"].
func Placeholders(format string) []string {
	var out []string
	for i := 0; i < len(format); i++ {
		if p := placeholderLen(format[i:]); p > 0 && format[i] == '$' {
			out = append(out, format[i+2:i+p-1])
			i += p - 1
		}
	}
	return out
}

// BuildARN fills the ARN format of a service's resource type with values
// keyed by placeholder name (case-sensitive, as in the format: "Partition",
// "Region", "Account", "BucketName", …). Every placeholder needs a non-empty
// value; the error lists the missing ones.
func (c *Catalog) BuildARN(service, typeName string, values map[string]string) (string, error) {
	return c.BuildARNFunc(service, typeName, func(name string) string { return values[name] })
}

// BuildARNFunc is BuildARN with the values given by a function, for
// callers that build many ARNs and would otherwise fill a map for each.
func (c *Catalog) BuildARNFunc(service, typeName string, value func(name string) string) (string, error) {
	rt, ok := c.ResourceType(service, typeName)
	if !ok {
		return "", fmt.Errorf("build ARN: %w: %s %q", ErrUnknownResourceType, service, typeName)
	}
	var b strings.Builder
	b.Grow(len(rt.ARN) + 64)
	var missing []string
	f := rt.ARN
	for i := 0; i < len(f); i++ {
		if p := placeholderLen(f[i:]); p > 0 && f[i] == '$' {
			name := f[i+2 : i+p-1]
			v := value(name)
			if v == "" {
				missing = append(missing, name)
			}
			b.WriteString(v)
			i += p - 1
			continue
		}
		b.WriteByte(f[i])
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("build ARN for %s %s (%s): no value for %s", rt.Service, rt.Name, rt.ARN, strings.Join(missing, ", "))
	}
	return b.String(), nil
}
