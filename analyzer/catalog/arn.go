package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// ParseARN splits an ARN (or an ARN format or pattern) into its fields by
// the rules of the AWS SDK's arn.Parse, which the rest of iamd uses where
// speed does not matter: it starts with "arn:" and has at least five
// colons; the resource (the sixth field) keeps any further colons; fields
// may be empty. Unlike arn.Parse it does not allocate (the fields are
// substrings of s), as ingest and the granted-set index split an ARN per
// candidate resource. A fuzz test holds the two to the same answers.
func ParseARN(s string) (arn.ARN, bool) {
	const prefix = "arn:"
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return arn.ARN{}, false
	}
	var f [4]string
	rest := s[len(prefix):]
	for i := range f {
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			return arn.ARN{}, false
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	return arn.ARN{Partition: f[0], Service: f[1], Region: f[2], AccountID: f[3], Resource: rest}, true
}

// matchARN reports whether s fits the ARN format and how many literal
// characters of the format it matched. Placeholders in the partition,
// service, region and account fields match within that field only; in the
// resource part they match any non-empty run, '/' and ':' included (S3
// object keys and IAM paths contain '/').
func matchARN(format, s string) (lits int, ok bool) {
	f, ok1 := ParseARN(format)
	a, ok2 := ParseARN(s)
	if !ok1 || !ok2 ||
		!matchTemplate(f.Partition, a.Partition) || !matchTemplate(f.Service, a.Service) ||
		!matchTemplate(f.Region, a.Region) || !matchTemplate(f.AccountID, a.AccountID) ||
		!matchTemplate(f.Resource, a.Resource) {
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
